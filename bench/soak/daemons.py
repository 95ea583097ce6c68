"""The daemons as real processes, and the chaos done to them: SIGSTOP/SIGCONT and kill -9.

Each `Daemon` is `lifecycle run` in a subprocess of its own, its output appended to one
log file across restarts. `Chaos` picks a daemon now and then, mostly the leader, and
either freezes it (SIGSTOP, often for longer than the lease TTL, then SIGCONT) or kills
it (SIGKILL) and starts it again; every event is logged with its time. `RssSampler` reads each live
daemon's resident set from /proc.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

from lifecycle.clock import wall_now

log = logging.getLogger("soak.daemons")

ChaosKind = Literal["stop", "cont", "kill", "start", "term"]


@dataclass(frozen=True)
class ChaosEvent:
    at: datetime
    daemon: str
    kind: ChaosKind
    pid: int
    detail: str = ""


@dataclass
class Daemon:
    """One `lifecycle run` process slot: started, frozen, killed and restarted in place."""

    name: str
    command: list[str]
    env: dict[str, str]
    log_path: Path
    events: list[ChaosEvent]
    pids: list[int] = field(default_factory=list)
    process: asyncio.subprocess.Process | None = None
    stopped: bool = False

    async def start(self) -> int:
        with self.log_path.open("ab") as out:
            self.process = await asyncio.create_subprocess_exec(
                *self.command, env=self.env, stdout=out, stderr=asyncio.subprocess.STDOUT
            )
        pid = self.process.pid
        self.pids.append(pid)
        self.stopped = False
        self._note("start", "")
        return pid

    def is_alive(self) -> bool:
        return self.process is not None and self.process.returncode is None

    def stop(self, seconds: float) -> None:
        self._signal(signal.SIGSTOP)
        self.stopped = True
        self._note("stop", f"for {seconds:.1f}s")

    def cont(self) -> None:
        self._signal(signal.SIGCONT)
        self.stopped = False
        self._note("cont", "")

    async def kill(self) -> None:
        self._signal(signal.SIGKILL)
        self._note("kill", "")
        if self.process is not None:
            await self.process.wait()
        self.stopped = False

    async def terminate(self, grace: float) -> int | None:
        """SIGTERM (after SIGCONT), wait up to `grace` seconds, then SIGKILL; the exit code."""
        if not self.is_alive() or self.process is None:
            return None if self.process is None else self.process.returncode
        if self.stopped:
            self.cont()
        self._signal(signal.SIGTERM)
        self._note("term", "")
        try:
            return await asyncio.wait_for(self.process.wait(), grace)
        except TimeoutError:
            await self.kill()
            return self.process.returncode

    def rss_kib(self) -> int | None:
        if not self.is_alive() or self.process is None:
            return None
        try:
            status = Path(f"/proc/{self.process.pid}/status").read_text()
        except OSError:
            return None
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return None

    def _signal(self, signum: int) -> None:
        if self.is_alive() and self.process is not None:
            os.kill(self.process.pid, signum)

    def _note(self, kind: ChaosKind, detail: str) -> None:
        pid = self.process.pid if self.process is not None else 0
        event = ChaosEvent(wall_now(), self.name, kind, pid, detail)
        self.events.append(event)
        log.info("chaos: %s %s pid %d %s", kind, self.name, pid, detail)


@dataclass(frozen=True)
class ChaosPlan:
    """Seconds between events (min, max); the chance an event is a kill (else a freeze);
    a freeze's length, short or, with `long_share`, long (past the lease TTL); how long a
    killed daemon stays down; the chance the victim is the leader (else either)."""

    every: tuple[float, float] = (15.0, 40.0)
    kill_share: float = 0.4
    short_freeze: tuple[float, float] = (3.0, 30.0)
    long_freeze: tuple[float, float] = (65.0, 90.0)
    long_share: float = 0.5
    down: tuple[float, float] = (1.0, 6.0)
    leader_share: float = 0.85


Leader = Callable[[], Awaitable[str | None]]


class Chaos:
    """Freezes and kills the daemons, one event at a time, until told to stop.

    The victim is mostly the daemon holding the lease (`leader()`, its name or None): a
    standby frozen or killed tests little.
    """

    def __init__(
        self, daemons: list[Daemon], plan: ChaosPlan, rng: random.Random, leader: Leader
    ) -> None:
        self.daemons = daemons
        self.plan = plan
        self.rng = rng
        self.leader = leader

    async def run(self, stop: asyncio.Event) -> None:
        while not await _sleep_unless(stop, self.rng.uniform(*self.plan.every)):
            daemon = await self._victim()
            if self.rng.random() < self.plan.kill_share:
                await daemon.kill()
                await _sleep_unless(stop, self.rng.uniform(*self.plan.down))
                await daemon.start()
            else:
                long = self.rng.random() < self.plan.long_share
                seconds = self.rng.uniform(
                    *(self.plan.long_freeze if long else self.plan.short_freeze)
                )
                daemon.stop(seconds)
                await _sleep_unless(stop, seconds)
                daemon.cont()

    async def _victim(self) -> Daemon:
        pick = self.rng.choice(self.daemons)
        if self.rng.random() >= self.plan.leader_share:
            return pick
        leader = await self.leader()
        return next((d for d in self.daemons if d.name == leader), pick)


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep `seconds` or until `stop`; True if stopped."""
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        return False
    return True


class RssSampler:
    """The largest resident set seen per daemon (KiB), sampled every `every` seconds."""

    def __init__(self, daemons: list[Daemon], every: float = 1.0) -> None:
        self.daemons = daemons
        self.every = every
        self.max_kib: dict[str, int] = {d.name: 0 for d in daemons}
        self.last_kib: dict[str, int] = {d.name: 0 for d in daemons}

    async def run(self, stop: asyncio.Event) -> None:
        while True:
            self.sample()
            if await _sleep_unless(stop, self.every):
                return

    def sample(self) -> None:
        for daemon in self.daemons:
            kib = daemon.rss_kib()
            if kib is not None:
                self.max_kib[daemon.name] = max(self.max_kib[daemon.name], kib)
                self.last_kib[daemon.name] = kib
