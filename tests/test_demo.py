"""`lifecycle demo` as `make demo` runs it: each rule kind acts within a minute, Ctrl-C stops it."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).parents[1]
EXPECTED = (
    "archive  oct-collections   rule archive-completed: succeeded",
    "pause    nov-renewals      rule complete-after-end: succeeded",
    "complete nov-renewals      rule complete-after-end: succeeded",
    "pause    loan-offers       rule pause-on-failures: dry-run (not sent)",
    "pause    diwali-greetings  rule pause-outside-business-hours: succeeded",
    "the night passes",
    "resume   diwali-greetings  rule resume-in-business-hours: succeeded",
    "resume   loan-offers       rule resume-in-business-hours: succeeded",
)
FRIDAY_CLOSE = datetime(2026, 11, 27, 13, 30, tzinfo=UTC)  # Fri 19:00 in Mumbai
SATURDAY_OPEN = datetime(2026, 11, 28, 4, 30, tzinfo=UTC)  # Sat 10:00 in Mumbai


def test_demo_shows_each_rule_kind_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    out = tmp_path / "demo.out"
    with out.open("w") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "lifecycle", "demo"], cwd=tmp_path, stdout=sink,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not all(e in out.read_text() for e in EXPECTED):
                time.sleep(0.1)
            shown = all(e in out.read_text() for e in EXPECTED)
            # Read before Ctrl-C: the demo then removes its file.
            trail = _trail(out.read_text()) if shown else None
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=20)
        finally:
            proc.kill()
    text = out.read_text()
    missing = [e for e in EXPECTED if e not in text]
    assert not missing, text
    assert proc.returncode == 0, text
    assert "demo stopped" in text
    assert trail is not None
    (paused,) = [line for line in text.splitlines() if "pause    diwali-greetings" in line]
    assert paused.startswith("Fri 19:"), paused
    (resumed,) = [line for line in text.splitlines() if "resume   diwali-greetings" in line]
    assert resumed.startswith("Sat 10:"), resumed
    # Each window edge is acted on by the first tick that sees it: judged on the simulated
    # clock, which a busy machine moves on by 30 s for every real second it is late, so the
    # printed times cannot say it. (That the first tick is the exact wake-up, not the next
    # poll, test_daemon pins with a clock that moves only when told.)
    paused_at = trail.decided("diwali-greetings", "pause")
    assert FRIDAY_CLOSE <= paused_at == trail.first_tick_from(FRIDAY_CLOSE), trail
    resumed_at = trail.decided("diwali-greetings", "resume")
    assert SATURDAY_OPEN <= resumed_at == trail.first_tick_from(SATURDAY_OPEN), trail
    steps = text.split("Ctrl-C stops.")[1].split("statuses now:")[0]
    assert "kyc-followup" not in steps  # paused by hand: never resumed by a rule
    assert "kyc-followup paused" in text.split("statuses now:")[1]
    summary = text.split("demo stopped. Audit trail: ")[1]  # the account's rows, counted
    assert not summary.startswith("0 rows") and " succeeded" in summary.split(")")[0], summary
    assert list(tmp_path.iterdir()) == [out]  # no database left behind in the working directory


def test_demo_rules_are_the_shipped_rules_plus_trusting_date_updated() -> None:
    """The demo opts in to date_updated (its old completed campaign is archived at once);
    apart from that commented block it runs exactly the shipped rules."""
    shipped = (ROOT / "rules.yaml").read_text()
    demo = (ROOT / "lifecycle" / "demo_rules.yaml").read_text()
    head, opt_in, tail = demo.partition("trust_date_updated: true\n")
    assert opt_in, "the demo opts in to date_updated"
    comment = head.rsplit("\n\n", 1)[1]
    assert comment.startswith("# DEMO ONLY:"), comment
    assert head.removesuffix(comment) + tail.removeprefix("\n") == shipped


@dataclass(frozen=True)
class Trail:
    """The demo's ticks and decided actions, from its SQLite file: simulated instants."""

    ticks: list[datetime]
    actions: list[tuple[str, str, datetime]]  # campaign name, action, decided at

    def decided(self, campaign: str, action: str) -> datetime:
        return min(at for name, act, at in self.actions if (name, act) == (campaign, action))

    def first_tick_from(self, edge: datetime) -> datetime:
        return min(at for at in self.ticks if at >= edge)


def _trail(text: str) -> Trail:
    (intro,) = [line for line in text.splitlines() if line.startswith("lifecycle demo:")]
    path = intro.split(", audit trail in ")[1]
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)) as db:
        ticks = [_utc(at) for (at,) in db.execute("SELECT started_at FROM ticks")]
        actions = [
            (name, action, _utc(at))
            for name, action, at in db.execute(
                "SELECT campaign_name, action, at FROM decisions WHERE kind = 'action'"
            )
        ]
    return Trail(ticks, actions)


def _utc(stored: str) -> datetime:
    return datetime.fromisoformat(stored).replace(tzinfo=UTC)  # SQLite keeps plain UTC fields
