"""`lifecycle status [--json]`: the page's header from the database, the rules file and the
daemon's /readyz when it answers. Exit 0 healthy, 1 not, 2 cannot tell (README, Operate)."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from lifecycle.client import ExotelClient
from lifecycle.clock import FixedClock
from lifecycle.console import read_status
from lifecycle.cycle import Reconciler
from lifecycle.model import Status
from lifecycle.overview import StoredHealth, judge_status, status_to_json, status_to_text
from lifecycle.records import TickRow
from lifecycle.settings import Settings
from lifecycle.simulator import Simulator
from lifecycle.store import Store
from lifecycle.web import make_app
from tests.fixtures.sim import serve
from tests.test_cli import LiveSim, env, lifecycle, live  # noqa: F401 (fixtures)
from tests.test_daemon import free_port
from tests.test_page import RULES, seed, state_for

RULES_FILE = Path(__file__).parents[1] / "rules.yaml"
T0 = datetime(2026, 11, 27, 13, 30, tzinfo=UTC)
STALE = timedelta(minutes=3)


def tick(*, at: datetime = T0, error: str | None = None, finished: bool = True) -> TickRow:
    end = at + timedelta(seconds=1) if finished else None
    return TickRow(1, at, end, "sha256:x", False, 3, 1, error)


def stored(last: TickRow | None) -> StoredHealth:
    return StoredHealth(last, "host:default", T0 + timedelta(minutes=1), T0, {}, 0, 0)


# fmt: off
CASES = [
    (tick(), None, T0 + STALE, ()),
    (tick(), {"ready": True, "reason": "ok"}, T0, ()),
    (None, None, T0, ("no tick has ever been recorded",)),
    (tick(error="boom"), None, T0, ("the last tick failed: boom",)),
    (tick(), None, T0 + STALE + timedelta(seconds=1), ("no tick for 3m 1s",)),
    (tick(finished=False), None, T0, ("the last tick has not finished",)),
    (tick(), {"ready": False, "reason": "no progress for 200s"}, T0,
     ("the daemon is not ready: no progress for 200s",)),
]
# fmt: on


@pytest.mark.parametrize(("last", "daemon", "now", "problems"), CASES)
def test_judge_status(
    last: TickRow | None, daemon: dict[str, Any] | None, now: datetime, problems: tuple[str, ...]
) -> None:
    assert judge_status(stored(last), daemon, now=now, stale=STALE) == problems


@pytest.fixture
def reconciler(
    client: ExotelClient, store: Store, sim: Simulator, sim_clock: FixedClock
) -> Reconciler:
    # The rows of the account `status` reads: the settings' EXOTEL_ACCOUNT_SID.
    mine = store.for_account(sim.config.account_sid)
    return Reconciler(client=client, store=mine, ruleset=lambda: RULES, clock=sim_clock)


def settings_on(db_url: str, sim: Simulator, http: str, rules: Path) -> Settings:
    return Settings(
        EXOTEL_ACCOUNT_SID=sim.config.account_sid,
        LIFECYCLE_DATABASE_URL=db_url,
        LIFECYCLE_RULES=rules,
        LIFECYCLE_POLL_SECONDS=60,
        LIFECYCLE_HTTP=http,
    )


async def test_status_reads_the_database_and_a_running_daemon(
    sim: Simulator,
    reconciler: Reconciler,
    sim_clock: FixedClock,
    store: Store,
    db_url: str,
    tmp_path: Path,
) -> None:
    rules = tmp_path / "rules.yaml"
    shutil.copy(RULES_FILE, rules)
    seed(sim, 2)
    await reconciler.tick()
    state = state_for(reconciler, sim_clock)
    async with serve(make_app(state)) as base:
        settings = settings_on(db_url, sim, base.removeprefix("http://"), rules)
        report, tz = await read_status(settings, now=sim_clock.now())
    assert report.healthy and report.problems == ()
    shown = status_to_json(report, tz)
    assert shown["last_tick"]["started_at"] == "2026-11-27T19:00:00+05:30"
    assert shown["last_tick"]["ok"] and shown["last_tick"]["actions"] == 2
    assert shown["campaigns"] == {"paused": 2}
    assert shown["daemon"]["answered"] and shown["daemon"]["reason"] == "ok"
    assert shown["rules"] == {"path": str(rules), "on_disk": RULES.hash, "problems": []}
    text = status_to_text(report, tz)
    assert text.startswith("health      ok\n") and "paused 2" in text
    assert "next tick 2026-11-27T19:01:00+05:30" in text  # the daemon's, in the rules' zone

    # A tick that failed after it, and nothing answering on LIFECYCLE_HTTP: not healthy.
    mine = reconciler.store
    failed = await mine.start_tick(at=sim_clock.now(), ruleset=RULES.hash, dry_run=False)
    await mine.finish_tick(failed, at=sim_clock.now(), campaigns=0, actions=0, error="boom")
    quiet = settings_on(db_url, sim, f"127.0.0.1:{free_port()}", rules)
    report, tz = await read_status(quiet, now=sim_clock.now())
    assert report.problems == ("the last tick failed: boom",)
    assert "daemon      not answering at http://127.0.0.1:" in status_to_text(report, tz)


async def test_a_rules_file_that_does_not_validate_is_reported_not_fatal(
    sim: Simulator, store: Store, db_url: str, tmp_path: Path
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES_FILE.read_text().replace("action: archive", "action: archiv"))
    settings = settings_on(db_url, sim, f"127.0.0.1:{free_port()}", rules)
    report, tz = await read_status(settings, now=T0)
    assert str(tz) == "UTC"
    (problem,) = report.rules_problems
    assert problem.startswith(f"{rules}:") and "archiv" in problem
    assert report.problems == ("no tick has ever been recorded",)


def test_the_status_command_and_its_exit_codes(
    live: LiveSim,  # noqa: F811
    env: dict[str, str],  # noqa: F811
) -> None:
    env = {**env, "LIFECYCLE_HTTP": f"127.0.0.1:{free_port()}"}
    missing = lifecycle("status", env=env)
    assert missing.returncode == 2 and "no database at" in missing.stderr
    assert not Path(env["LIFECYCLE_DATABASE_URL"].split("///")[1]).exists()  # none created

    assert lifecycle("db", "upgrade", env=env).returncode == 0
    never = lifecycle("status", env=env)
    assert never.returncode == 1 and "no tick has ever been recorded" in never.stdout

    assert lifecycle("run", "--once", env=env).returncode == 0
    done = lifecycle("status", "--json", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    shown = json.loads(done.stdout)
    assert shown["healthy"] and shown["last_tick"]["ok"]
    assert sum(shown["campaigns"].values()) == len(live.ids)
    assert set(shown["campaigns"]) <= {status.value for status in Status}
    assert shown["daemon"]["answered"] is False
    assert shown["leader"] is None  # run --once released the lease as it exited
