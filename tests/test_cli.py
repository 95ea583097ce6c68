"""The command line as a user runs it: real processes, a simulator on loopback, a SQLite file.

The child processes read the real clock, so these tests give them rules whose decisions
cannot depend on when the suite runs (`rules_closed_around`): business hours closed from
yesterday to tomorrow, so no window edge falls within a day of the test.
`make test-any-hour` runs this file under faketime at awkward instants to keep it so.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from lifecycle.clock import SystemClock
from lifecycle.daemon import RulesInForce
from lifecycle.metrics import Metrics
from lifecycle.model import Status
from lifecycle.simulator import Simulator, SimulatorConfig
from lifecycle.store import Store
from tests.fixtures.sim import served_in_thread

ROOT = Path(__file__).parents[1]
KEY, TOKEN = "key-5f1e0c9a7b", "token-c3d8e2f4a1"
SECRETS = (KEY, TOKEN)
MUMBAI = ZoneInfo("Asia/Kolkata")


@dataclass
class LiveSim:
    sim: Simulator
    url: str
    ids: dict[str, str]
    rules: Path  # rules_closed_around(the instant the campaigns were seeded)

    def puts(self) -> list[tuple[str, object]]:
        return [(r.path.rsplit("/", 1)[-1], r.body) for r in self.sim.requests if r.method == "PUT"]


def seed(sim: Simulator, now: datetime) -> dict[str, str]:
    return {
        "running": sim.add_campaign(
            name="running", status=Status.IN_PROGRESS, send_at=now - timedelta(hours=1),
            end_at=now + timedelta(days=30), numbers=500_000, throttle_cpm=1,
        ),
        "ended": sim.add_campaign(
            name="ended", status=Status.IN_PROGRESS, send_at=now - timedelta(hours=3),
            end_at=now - timedelta(hours=1), numbers=500_000, throttle_cpm=1,
        ),
        "old": sim.add_campaign(
            name="old", status=Status.COMPLETED, numbers=10, done=10,
            date_created=now - timedelta(days=20), date_updated=now - timedelta(days=8),
        ),
    }  # fmt: skip


def rules_closed_around(now: datetime) -> str:
    """The shipped rules' shape, minus archiving, with business hours closed (our own
    holidays) from the day before `now` to the day after, in Mumbai. Whatever the hour,
    weekday or date the suite runs at: "running" is outside business hours, nothing opens
    or closes within a day, and "old" has no rule (whether a campaign first seen completed
    may be archived at once is not this file's question)."""
    today = now.astimezone(MUMBAI).date()
    closed = f"{today - timedelta(days=1)}..{today + timedelta(days=1)}"
    return f"""\
timezone: Asia/Kolkata
calendars:
  business-hours:
    weekly:
      mon-fri: ["09:30-13:00", "14:00-19:00"]
      sat: ["10:00-14:00"]
    holidays:
      dates: ["{closed}"]
rules:
  - name: complete-after-end
    match: {{status: [in-progress, paused], end_at: passed}}
    action: complete
  - name: pause-outside-business-hours
    when: {{outside: business-hours}}
    match: {{status: [in-progress]}}
    action: pause
  - name: resume-in-business-hours
    when: {{inside: business-hours}}
    match: {{status: [paused], paused_by: pause-outside-business-hours}}
    action: resume
"""


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveSim]:
    """A simulator on the real clock, served from a thread so that child processes reach
    it, and rules for the instant its campaigns were seeded."""
    config = SimulatorConfig(
        api_key=KEY, api_token=TOKEN, rate_per_minute=None, end_at_lag=timedelta(hours=2)
    )
    sim = Simulator(config, clock=SystemClock())
    now = sim.clock.now()
    ids = seed(sim, now)
    rules = tmp_path / "rules.yaml"
    rules.write_text(rules_closed_around(now), encoding="utf-8")
    with served_in_thread(sim) as url:
        yield LiveSim(sim, url, ids, rules)


@pytest.fixture
def env(live: LiveSim, tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "EXOTEL_ACCOUNT_SID": live.sim.config.account_sid,
        "EXOTEL_API_KEY": KEY,
        "EXOTEL_API_TOKEN": TOKEN,
        "EXOTEL_BASE_URL": live.url,
        "LIFECYCLE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}",
        "LIFECYCLE_RULES": str(live.rules),
        "LIFECYCLE_API_RATE_PER_MINUTE": "6000",
        "LIFECYCLE_LOG_LEVEL": "DEBUG",
    }


def lifecycle(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "lifecycle", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    for secret in SECRETS:
        assert secret not in done.stdout and secret not in done.stderr
    return done


def test_check_accepts_the_shipped_rules() -> None:
    done = lifecycle("check", "rules.yaml")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("rules.yaml: ok (5 rules, 1 calendars, 0 warnings, sha256:")


# What `--version` and `check` must not load: each costs tenths of a second at start-up.
HEAVY = {"sqlalchemy", "alembic", "aiohttp", "apscheduler", "prometheus_client", "asyncpg"}
LOADED = """
import runpy, sys
sys.argv = ["lifecycle", *sys.argv[1:]]
try:
    runpy.run_module("lifecycle", run_name="__main__")
except SystemExit as stop:
    assert not stop.code, stop.code
print(*sorted({name.partition(".")[0] for name in sys.modules}))
"""


@pytest.mark.parametrize("args", [["--version"], ["check", "rules.yaml"]])
def test_version_and_check_load_no_heavy_library(args: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-c", LOADED, *args], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    loaded = set(done.stdout.splitlines()[-1].split())
    assert "lifecycle" in loaded and HEAVY & loaded == set()


def test_check_reports_every_error_with_a_location(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        "timezone: IST\n"
        "calendars:\n"
        "  hours:\n"
        "    weekly:\n"
        "      mon-fri: [9:30-13:00]\n"
        "rules:\n"
        "  - name: stop-at-night\n"
        "    when: {outside: hours}\n"
        "    acton: pause\n"
    )
    done = lifecycle("check", str(broken))
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) >= 3
    assert all(line.startswith(f"{broken}:") for line in lines), lines
    assert lines[0].startswith(f"{broken}:1:11: ")
    assert "Asia/Kolkata" in lines[0]


def test_plan_json_is_read_only_and_follows_the_contract(
    live: LiveSim, env: dict[str, str], tmp_path: Path
) -> None:
    at = _in_two_hours()
    found = lifecycle("plan", "--json", "--at", at, env=env)
    assert found.returncode == 0, found.stderr
    plan = json.loads(found.stdout)
    assert set(plan) == {"at", "ruleset", "actions", "skipped", "set_aside", "next_wakeup"}
    assert plan["at"] == at
    assert plan["ruleset"] == _sha256(live.rules)
    assert plan["next_wakeup"] is not None and plan["next_wakeup"] > at
    actions = {a["campaign_id"]: a for a in plan["actions"]}
    assert actions.keys() == {live.ids["running"], live.ids["ended"]}
    running = actions[live.ids["running"]]
    assert set(running) == {
        "campaign_id", "campaign_name", "status", "rule", "action", "steps", "mode", "reason",
    }  # fmt: skip
    assert (running["status"], running["rule"], running["steps"], running["mode"]) == (
        "in-progress",
        "pause-outside-business-hours",
        ["pause"],
        "enforce",
    )
    ended = actions[live.ids["ended"]]
    assert (ended["rule"], ended["steps"]) == ("complete-after-end", ["pause", "complete"])

    text = lifecycle("plan", "--at", at, env=env)
    assert text.returncode == 0 and "pause-outside-business-hours" in text.stdout

    assert live.puts() == []
    assert not (tmp_path / "cli.db").exists()


def test_run_once_twice_and_the_audit_trail(live: LiveSim, env: dict[str, str]) -> None:
    assert lifecycle("db", "upgrade", env=env).returncode == 0

    first = lifecycle("run", "--once", env=env)
    assert first.returncode == 0, first.stderr
    sent = live.puts()
    wrapped = [{"campaigns": [{"action": a}]} for a in ("pause", "complete")]
    assert sorted(sent, key=str) == sorted(
        [(live.ids["running"], wrapped[0]), (live.ids["ended"], wrapped[0]),
         (live.ids["ended"], wrapped[1])],
        key=str,
    )  # fmt: skip
    assert all("@" not in r.url for r in live.sim.requests)
    assert all(r.authorization_header_present for r in live.sim.requests)

    second = lifecycle("run", "--once", env=env)
    assert second.returncode == 0 and live.puts() == sent

    audit = lifecycle("audit", "--json", "--limit", "100", env=env)
    rows = [json.loads(line) for line in audit.stdout.splitlines()]
    for campaign_id, body in sent:
        step = body["campaigns"][0]["action"]  # type: ignore[index]
        outcomes = [
            r["outcome"] for r in rows if (r["campaign_id"], r["step"]) == (campaign_id, step)
        ]
        assert sorted(outcomes) == ["intent", "succeeded"]
    required = {"at", "campaign_id", "rule", "action", "step", "outcome", "http_status",
                "request_id", "error", "ruleset"}  # fmt: skip
    assert all(required <= set(r) for r in rows)
    assert {r["http_status"] for r in rows if r["outcome"] == "succeeded"} == {200}
    assert {r["ruleset"] for r in rows} == {_sha256(live.rules)}

    why = lifecycle("why", live.ids["ended"], env=env)
    assert why.returncode == 0, why.stderr
    assert "'ended': completed" in why.stdout
    assert "audit trail (newest first):" in why.stdout
    assert "complete-after-end" in why.stdout


def test_run_refuses_an_old_schema(env: dict[str, str]) -> None:
    done = lifecycle("run", "--once", env=env)
    assert done.returncode == 2
    assert "run `lifecycle db upgrade`" in done.stderr


def test_sigterm_stops_the_daemon_cleanly(
    live: LiveSim, env: dict[str, str], tmp_path: Path
) -> None:
    assert lifecycle("db", "upgrade", env=env).returncode == 0
    port = _free_port()
    env = {**env, "LIFECYCLE_HTTP": f"127.0.0.1:{port}", "LIFECYCLE_POLL_SECONDS": "3600"}
    log = tmp_path / "daemon.log"  # a file, not a pipe: DEBUG output would fill a pipe and block
    with log.open("w") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "lifecycle", "run"], env=env, cwd=ROOT,
            stdout=sink, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            ready = _wait_ready(port)
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=20)
        finally:
            proc.kill()
    out = err = log.read_text()
    assert ready, err
    assert proc.returncode == 0, err
    assert "stopped cleanly" in err
    for secret in SECRETS:
        assert secret not in out + err


def upgraded(env: dict[str, str]) -> None:
    """The test's database at the head revision, without starting a process for it."""

    async def upgrade() -> None:
        store = await Store.connect(env["LIFECYCLE_DATABASE_URL"])
        try:
            await store.upgrade()
        finally:
            await store.close()

    asyncio.run(upgrade())


def _in_two_hours() -> str:
    """An instant inside the day-long closure of `rules_closed_around`, as `--at` takes it."""
    at = SystemClock().now().astimezone(MUMBAI) + timedelta(hours=2)
    return at.replace(microsecond=0).isoformat()


def _sha256(path: Path) -> str:
    """What `sha256sum FILE` prints, as the rules' identity is written."""
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_ready(port: int) -> bool:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as r:
                if r.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.05)
    return False


def test_holds_keep_the_rules_off_a_campaign(live: LiveSim, env: dict[str, str]) -> None:
    upgraded(env)  # `db upgrade` as a process: see test_run_once_twice_and_the_audit_trail
    ended = live.ids["ended"]
    held = lifecycle("hold", ended, "--until", "+2d", "--reason", "customer asked", env=env)
    assert held.returncode == 0, held.stderr
    listed = lifecycle("holds", env=env).stdout
    assert ended in listed and "customer asked" in listed

    assert lifecycle("run", "--once", env=env).returncode == 0
    assert ended not in {campaign for campaign, _ in live.puts()}
    skipped = lifecycle("audit", "--json", "--campaign", ended, env=env)
    (row,) = [json.loads(line) for line in skipped.stdout.splitlines()]
    assert row["outcome"] == "skipped" and "customer asked" in row["reason"]

    assert lifecycle("release", ended, env=env).stdout.strip() == f"released {ended}"
    assert lifecycle("holds", env=env).stdout == ""
    assert lifecycle("run", "--once", env=env).returncode == 0
    assert [body for campaign, body in live.puts() if campaign == ended] == [
        {"campaigns": [{"action": "pause"}]},
        {"campaigns": [{"action": "complete"}]},
    ]


def test_json_logs_say_what_was_done_and_why(live: LiveSim, env: dict[str, str]) -> None:
    upgraded(env)  # `db upgrade` as a process: see test_run_once_twice_and_the_audit_trail
    env = {**env, "LIFECYCLE_LOG_FORMAT": "json", "LIFECYCLE_LOG_LEVEL": "INFO"}
    done = lifecycle("run", "--once", env=env)
    assert done.returncode == 0
    entries = [json.loads(line) for line in done.stderr.splitlines()]
    assert all({"at", "level", "logger", "message"} <= set(e) for e in entries)
    messages = [e["message"] for e in entries if e["logger"] == "lifecycle.cycle"]
    ended = live.ids["ended"]
    assert f"complete {ended} 'ended' by rule complete-after-end: succeeded" in "\n".join(messages)


def test_one_rules_file_has_one_identity_everywhere(
    live: LiveSim, env: dict[str, str], tmp_path: Path
) -> None:
    """Saved on Windows: CRLF line endings. `check`, `plan`, `test`, the daemon and the
    audit trail all name it by the sha256 of its bytes, as `sha256sum` does."""
    crlf = tmp_path / "crlf.yaml"
    crlf.write_bytes(live.rules.read_bytes().replace(b"\n", b"\r\n"))
    identity = _sha256(crlf)
    assert identity != _sha256(live.rules)
    env = {**env, "LIFECYCLE_RULES": str(crlf)}

    checked = lifecycle("check", str(crlf))
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.strip().endswith(f" 0 warnings, {identity})")

    planned = lifecycle("plan", "--json", env=env)
    assert planned.returncode == 0, planned.stderr
    assert json.loads(planned.stdout)["ruleset"] == identity

    cases = tmp_path / "crlf.test.yaml"
    cases.write_bytes(
        b"rules: crlf.yaml\r\ncases:\r\n"
        b"  - name: Friday evening\r\n"
        b'    at: "2026-11-27T19:00:00+05:30"\r\n'
        b"    campaign: {status: in-progress}\r\n"
        b"    expect: {action: pause, rule: pause-outside-business-hours}\r\n"
    )
    tested = lifecycle("test", str(cases))
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert tested.stdout.splitlines()[-1] == f"1 cases: 1 passed, 0 failed ({crlf}, {identity})"

    assert RulesInForce(crlf, Metrics()).current.hash == identity

    upgraded(env)  # `db upgrade` as a process: see test_run_once_twice_and_the_audit_trail
    assert lifecycle("run", "--once", env=env).returncode == 0
    audit = lifecycle("audit", "--json", env=env)
    rows = [json.loads(line) for line in audit.stdout.splitlines()]
    assert rows and {r["ruleset"] for r in rows} == {identity}


def test_check_names_the_file_and_the_place_of_bytes_that_are_not_utf8(tmp_path: Path) -> None:
    latin1 = tmp_path / "latin1.yaml"
    latin1.write_bytes(b"timezone: Asia/Kolkata\nrules:\n  - name: caf\xe9\n    action: pause\n")
    done = lifecycle("check", str(latin1))
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        f"{latin1}:3:14: not UTF-8 text: byte 0xe9 (invalid continuation byte); "
        "save the file as UTF-8"
    ]


def test_every_screen_a_person_reads_is_in_the_rules_zone(
    live: LiveSim, env: dict[str, str]
) -> None:
    """`hold`, `holds`, `audit`, `why` and the daemon's log lines all write instants in the
    rules' zone (Asia/Kolkata) with the offset; none in UTC."""
    assert lifecycle("db", "upgrade", env=env).returncode == 0
    ended = live.ids["ended"]
    until = SystemClock().now().replace(microsecond=0) + timedelta(days=2)
    typed = until.astimezone(ZoneInfo("UTC")).isoformat().replace("+00:00", "Z")
    held = lifecycle("hold", ended, "--until", typed, "--reason", "asked", env=env)
    shown = until.astimezone(MUMBAI).isoformat()
    assert held.stdout == f"held {ended} until {shown}: asked\n", held.stderr
    assert lifecycle("holds", env=env).stdout == f"{ended}  until {shown}  asked\n"

    ran = lifecycle("run", "--once", env=env)  # text logs, DEBUG
    assert ran.returncode == 0, ran.stderr
    stamps = [line.split(" ", 1)[0] for line in ran.stderr.splitlines() if line[:2] == "20"]
    assert stamps and all(stamp.endswith("+05:30") for stamp in stamps), ran.stderr
    assert "next wake-up 20" in ran.stderr and "+00:00" not in ran.stderr

    audit = lifecycle("audit", env=env).stdout.splitlines()
    assert audit and all(line[:25].endswith("+05:30") for line in audit), audit
    assert f"held until {shown}: asked" in "\n".join(audit)
    rows = [json.loads(line) for line in lifecycle("audit", "--json", env=env).stdout.splitlines()]
    assert rows and all(row["at"].endswith("+05:30") for row in rows)
    since = lifecycle("audit", "--since", "-1h", "--json", env=env).stdout.splitlines()
    assert len(since) == len(rows)

    why = lifecycle("why", ended, env=env)
    assert why.returncode == 0, why.stderr
    assert f"held until {shown}: asked" in why.stdout
    assert "+05:30" in why.stdout and "+00:00" not in why.stdout and "Z " not in why.stdout


def test_when_is_read_in_the_rules_zone_in_every_form(live: LiveSim, env: dict[str, str]) -> None:
    """`19:00` is the next 19:00 in the rules' zone; `+1d12h` takes the rules' duration grammar."""
    nineteen = json.loads(lifecycle("plan", "--json", "--at", "19:00", env=env).stdout)["at"]
    assert nineteen.endswith("T19:00:00+05:30")
    later = lifecycle("plan", "--json", "--at", "+1d12h", env=env)
    assert later.returncode == 0, later.stderr
    assert json.loads(later.stdout)["at"].endswith("+05:30")
    monday = json.loads(lifecycle("plan", "--json", "--at", "mon 09:30", env=env).stdout)["at"]
    assert datetime.fromisoformat(monday).weekday() == 0 and monday.endswith("T09:30:00+05:30")
    bad = lifecycle("plan", "--at", "next friday", env=env)
    assert bad.returncode == 2 and "cannot read 'next friday' as a time" in bad.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["audit"],
        ["audit", "--json"],
        ["holds"],
        ["hold", "c1", "--until", "19:00", "--reason", "x"],
    ],
)
def test_unreadable_rules_are_an_error_not_a_silent_utc(args: list[str], tmp_path: Path) -> None:
    missing = tmp_path / "rules.yaml"
    env = {
        **os.environ,
        "LIFECYCLE_RULES": str(missing),
        "LIFECYCLE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}",
    }
    done = lifecycle(*args, env=env)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"lifecycle: times are read and shown in the zone of the rules, and {missing} cannot "
        "be read (fix it, or name a good file with --rules):",
        f"{missing}:1:1: cannot read rules file: No such file or directory",
    ]
    assert done.stdout == ""


def test_run_once_under_another_owners_lease_exits_3_naming_holder_and_expiry(
    live: LiveSim, env: dict[str, str]
) -> None:
    assert lifecycle("db", "upgrade", env=env).returncode == 0

    async def taken_elsewhere() -> datetime:
        store = await Store.connect(env["LIFECYCLE_DATABASE_URL"])
        try:
            lease = await store.acquire_lease(
                name=f"tick:{live.sim.config.account_sid}",
                owner="other-host:blue",
                incarnation="pid=1",
                ttl=timedelta(minutes=10),
            )
        finally:
            await store.close()
        return lease.expires_at

    until = asyncio.run(taken_elsewhere())

    done = lifecycle("run", "--once", env=env)

    assert done.returncode == 3, done.stderr
    shown = until.astimezone(MUMBAI).isoformat(timespec="seconds")  # the rules' zone
    said = f"nothing done: other-host:blue holds lease tick:{live.sim.config.account_sid} until"
    assert said in done.stderr and shown in done.stderr
    assert live.puts() == []
