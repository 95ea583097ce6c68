"""`lifecycle demo` as `make demo` runs it: each rule kind acts within a minute, Ctrl-C stops it."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
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
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=20)
        finally:
            proc.kill()
    text = out.read_text()
    missing = [e for e in EXPECTED if e not in text]
    assert not missing, text
    assert proc.returncode == 0, text
    assert "demo stopped" in text
    # The window edge is acted on at 19:00, not a poll later.
    (paused,) = [line for line in text.splitlines() if "pause    diwali-greetings" in line]
    assert paused.startswith("Fri 19:00:0"), paused
    (resumed,) = [line for line in text.splitlines() if "resume   diwali-greetings" in line]
    assert resumed.startswith("Sat 10:00:0"), resumed
    steps = text.split("Ctrl-C stops.")[1].split("statuses now:")[0]
    assert "kyc-followup" not in steps  # paused by hand: never resumed by a rule
    assert "kyc-followup paused" in text.split("statuses now:")[1]
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
