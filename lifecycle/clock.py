"""Clocks. Code that needs "now" takes a Clock; only this module reads the wall clock.

Ruff's banned-api list (TID251, pyproject.toml) refuses `datetime.now()`, `time.time()`
and their kin everywhere else. Monotonic clocks (`time.monotonic`, `time.perf_counter`)
stay free: they measure how long something took, never what time it is.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from lifecycle.errors import Interrupted

if TYPE_CHECKING:
    import asyncio


class Clock(Protocol):
    @property
    def speed(self) -> float:
        """How many clock seconds pass per real second (1 everywhere but the demo)."""
        ...

    def now(self) -> datetime:
        """The current instant, timezone-aware UTC."""
        ...

    def to_wall(self, instant: datetime) -> datetime:
        """The real instant at which this clock will read `instant`: for the scheduler,
        which runs on real time whatever clock the daemon is given."""
        ...


def wall_now() -> datetime:
    """The real time of day, aware UTC: the one read of the wall clock in the package.

    For what must be real even in the demo's fast clock: scheduler run dates, the
    last-success timestamp Prometheus compares with its own time.
    """
    return datetime.now(UTC)


class SystemClock:
    speed: float = 1.0

    def now(self) -> datetime:
        return wall_now()

    def to_wall(self, instant: datetime) -> datetime:
        return instant


@dataclass
class FixedClock:
    """A clock that moves only when told to: for tests and for `plan --at`."""

    at: datetime
    speed: float = 1.0

    def now(self) -> datetime:
        return self.at

    def to_wall(self, instant: datetime) -> datetime:
        """As if the clock ran from here: a test that then sets it to `instant` at the
        real instant returned finds a job scheduled for `instant` running then."""
        return _wall_at(instant, now=self.at, speed=self.speed)

    def advance(self, delta: timedelta) -> None:
        self.at += delta

    def set(self, at: datetime) -> None:
        self.at = at


@dataclass
class ScaledClock:
    """Wall time, started at `origin` and running `speed` times faster: for the demo."""

    origin: datetime
    speed: float = 1.0
    _start: float = field(default_factory=time.monotonic)

    def now(self) -> datetime:
        return self.origin + timedelta(seconds=(time.monotonic() - self._start) * self.speed)

    def to_wall(self, instant: datetime) -> datetime:
        """Until the next `jump_to`, which moves every instant after it."""
        return _wall_at(instant, now=self.now(), speed=self.speed)

    def jump_to(self, instant: datetime) -> None:
        """Go on from `instant` (the demo skips the night). Everyone sharing the clock jumps."""
        self.origin = instant
        self._start = time.monotonic()


def _wall_at(instant: datetime, *, now: datetime, speed: float) -> datetime:
    return datetime.now(UTC) + (instant - now) / speed


def stoppable_sleep(stop: asyncio.Event) -> Callable[[float], Awaitable[None]]:
    """A sleep that raises Interrupted as soon as `stop` is set (or at once, if it is).

    The daemon passes it wherever a wait is injectable (rate limiter, client retries), so
    SIGTERM ends every wait at once instead of after a `Retry-After` or a back-off.
    """

    import asyncio  # here, not at the top: the CLI's `check` reads the clock, never sleeps

    async def sleep(seconds: float) -> None:
        if not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), timeout=max(0.0, seconds))
            except TimeoutError:
                return
        raise Interrupted(f"stopping: a wait of {seconds:.3g}s was cut short")

    return sleep
