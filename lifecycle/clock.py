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


@dataclass
class FixedClock:
    """A clock that moves only when told to: for tests and for `plan --at`."""

    at: datetime
    speed: float = 1.0

    def now(self) -> datetime:
        return self.at

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

    def jump_to(self, instant: datetime) -> None:
        """Go on from `instant` (the demo skips the night). Everyone sharing the clock jumps."""
        self.origin = instant
        self._start = time.monotonic()


def ensure_utc(value: datetime) -> datetime:
    """Aware UTC; a naive datetime is refused rather than guessed."""
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value.isoformat()} has no offset")
    return value.astimezone(UTC)


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
