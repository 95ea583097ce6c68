"""SIGTERM ends the daemon within seconds, whatever it is waiting on.

The daemon runs as a real process (`python -m lifecycle run`) against a simulator on
loopback that puts it in one wait state: a 429 with `Retry-After: 60`, a rate limiter
with no slot free for a minute, a read retry told to come back in 60 s by a 503, or a
PUT whose answer takes a minute. The test sends SIGTERM once the daemon is there, and
asserts exit 0 within 5 s and no intent left without an outcome (or marked unknown).

The rule pauses every running campaign whatever the time, so the tests do not depend on
the hour or the weekday they run at.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from lifecycle.clock import SystemClock
from lifecycle.model import Status
from lifecycle.simulator import Fault, Simulator, SimulatorConfig
from lifecycle.store import IntentState, OpenIntent, Store
from tests.fixtures.sim import served_in_thread

ROOT = Path(__file__).parents[1]
KEY, TOKEN = "key-9d2c4e", "token-71ab5f"
RULES = """\
timezone: Asia/Kolkata
rules:
  - name: pause-everything
    match: {status: [in-progress]}
    action: pause
"""
LONG_WAIT = 60  # far longer than the bound: the wait must be cut short, not waited out
BOUND = 5.0  # the requirement: exit within 5 s of SIGTERM


@dataclass
class LiveSim:
    sim: Simulator
    url: str

    def seen(self, method: str, status: int) -> int:
        return sum(1 for r in list(self.sim.requests) if (r.method, r.status) == (method, status))


@pytest.fixture
def live() -> Iterator[LiveSim]:
    """A simulator on the real clock, served from a thread so that a child process reaches it."""
    config = SimulatorConfig(api_key=KEY, api_token=TOKEN, rate_per_minute=None)
    sim = Simulator(config, clock=SystemClock())
    now = sim.clock.now()
    for i in range(4):
        sim.add_campaign(
            name=f"running-{i}", status=Status.IN_PROGRESS, send_at=now - timedelta(hours=1),
            end_at=now + timedelta(days=30), numbers=500_000, throttle_cpm=1,
        )  # fmt: skip
    with served_in_thread(sim) as url:
        yield LiveSim(sim, url)


@dataclass(frozen=True)
class Case:
    faults: tuple[Fault, ...]
    rate_per_minute: int
    reached: Callable[[LiveSim], bool]  # the daemon is now in the wait
    unknown: int  # intents left marked unknown (a PUT whose answer never came)
    cancelled: bool = False  # only a step in flight needs cancelling; a wait just ends


CASES = {
    # The first PUT is refused for a minute: the next one waits in the limiter's block.
    "retry-after": Case(
        (Fault("429", method="PUT", seconds=LONG_WAIT),), 6000, lambda s: s.seen("PUT", 429) > 0, 0
    ),
    # Two requests a minute: the list and one PUT, then the second PUT waits ~61 s.
    "limiter": Case((), 2, lambda s: s.seen("PUT", 200) > 0, 0),
    # The list gets a 503 that says come back in a minute: the read retry waits.
    "read-retry": Case(
        (Fault("503", method="GET", seconds=LONG_WAIT),), 6000, lambda s: s.seen("GET", 503) > 0, 0
    ),
    # The first PUT's answer takes a minute: it is in flight when SIGTERM comes.
    "put-in-flight": Case(
        (Fault("latency", method="PUT", seconds=LONG_WAIT),),
        6000,
        lambda s: len(s.sim.faults) == 0,  # the latency fault was taken: the PUT is stalled
        unknown=1,
        cancelled=True,
    ),
}


@pytest.mark.parametrize("command", ["run", "run --once"])
@pytest.mark.parametrize("name", list(CASES))
def test_sigterm_ends_every_wait_within_seconds(
    live: LiveSim, tmp_path: Path, name: str, command: str
) -> None:
    case = CASES[name]
    for fault in case.faults:
        live.sim.inject(fault)
    db = f"sqlite+aiosqlite:///{tmp_path / 'shutdown.db'}"
    asyncio.run(_upgrade(db))
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    env = {
        **os.environ,
        "EXOTEL_ACCOUNT_SID": live.sim.config.account_sid,
        "EXOTEL_API_KEY": KEY,
        "EXOTEL_API_TOKEN": TOKEN,
        "EXOTEL_BASE_URL": live.url,
        "LIFECYCLE_DATABASE_URL": db,
        "LIFECYCLE_RULES": str(rules),
        "LIFECYCLE_API_RATE_PER_MINUTE": str(case.rate_per_minute),
        "LIFECYCLE_POLL_SECONDS": "3600",
        "LIFECYCLE_HTTP": f"127.0.0.1:{_free_port()}",
        "LIFECYCLE_HTTP_TIMEOUT": "120",  # the in-flight PUT must not time out by itself
    }
    log = tmp_path / "daemon.log"  # a file, not a pipe: a full pipe would block the daemon
    with log.open("w") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "lifecycle", *command.split()], env=env, cwd=ROOT,
            stdout=sink, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            reached = _until(lambda: case.reached(live) or proc.poll() is not None, 30)
            time.sleep(0.5)  # the daemon goes on from the request we saw into the wait
            assert reached and proc.poll() is None, log.read_text()
            sent = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
            elapsed = time.monotonic() - sent
        finally:
            proc.kill()
    output = log.read_text()
    assert proc.returncode == 0, output
    assert elapsed < BOUND, f"exit took {elapsed:.1f}s\n{output}"
    # It says so as it leaves; a `--once` cut short says what became of its step.
    cut_short = command == "run --once" and case.cancelled
    assert ("stopped with the tick cut short" if cut_short else "stopped cleanly") in output
    assert ("did not finish within" in output) == case.cancelled, output
    left = asyncio.run(_unresolved(db))
    assert [i.state for i in left] == [IntentState.UNKNOWN] * case.unknown, output
    assert KEY not in output and TOKEN not in output


async def _upgrade(url: str) -> None:
    store = await Store.connect(url)
    try:
        await store.upgrade()
    finally:
        await store.close()


async def _unresolved(url: str) -> list[OpenIntent]:
    store = await Store.connect(url, account="acme1")  # the simulator's account
    try:
        return await store.unresolved_intents()
    finally:
        await store.close()


def _until(check: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
