"""Client-side rate limiting: one limiter per Exotel account, shared by every caller.

The Campaign API allows about 30 requests a minute per account and answers 429 with
`Retry-After` beyond it. The limit is the account's, not the connection's, so every
client for one account must draw from the same limiter: `limiter_for` keeps one per
(base URL, account SID) for the life of the process.

    async with limiter.slot() as slot:   # waits here, before anything is committed
        ...                              # e.g. write the intent row
        slot.use(); send(); slot.finish()
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from types import TracebackType

Sleep = Callable[[float], Awaitable[None]]

# Added to every slot's hold: covers a server that stamps arrivals in whole seconds, or
# a clock that runs up to 1.6 % apart from ours over the window. Costs ~1.6 % of the rate.
DEFAULT_MARGIN = 1.0
# How often a waiter looks again when every slot is still in flight (its end is unknown).
_IN_FLIGHT_POLL = 0.25


class RateLimiter:
    """Requests per window for one account, shared by every caller; honours Retry-After for all.

    Each request holds a `Slot` from before it is sent until `window + margin` seconds after
    its answer (or its failure) came back; at most `burst` slots are held at once, where
    `window = 60 * burst / rate_per_minute`. `burst` defaults to the whole per-minute quota
    (rounded down, at least 1), which makes the window one minute: the burst goes out back
    to back, and each slot is reused about `window + margin + latency` later.

    Guarantee: the server never admits more than `burst` of our requests in any `window`
    seconds (with the default burst: never more than the rate in any minute), whatever the
    latency, provided that the time between two arrivals as the server stamps them is
    within `margin` of the true time between them on our monotonic clock (a server that
    stamps whole seconds, a clock that drifts by less than margin/window, a stamp taken
    anywhere in the server's pipeline before it answers).

    Why: a request arrives after its slot was taken (it is sent later) and before its
    answer came back (when its hold begins to run). Take any `window` of the server's
    stamps and, among the requests in it, the one whose slot was taken last, L. Every
    other request j in it arrived later than `send(L) - window - margin`, so its answer
    came back later than that too: j's slot was still held when L's was taken. So at most
    `burst - 1` others, plus L. Counting a request from its send alone is not enough: a
    slow first request arrives late, its successor 60 s on arrives early, and the server
    sees both inside one minute.

    `block_for` (after a 429) holds back every caller, including those already waiting.
    A slot taken and never used (`use()` not called) is given back at once.

    Not thread-safe: share it between tasks of one event loop. It holds no asyncio
    primitives, so it may outlive a loop (tests run many).
    """

    def __init__(
        self,
        rate_per_minute: float,
        *,
        burst: int | None = None,
        margin: float = DEFAULT_MARGIN,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if rate_per_minute <= 0:
            raise ValueError(f"rate_per_minute must be positive, got {rate_per_minute}")
        self.rate_per_minute = rate_per_minute
        self.burst = burst if burst is not None else max(1, math.floor(rate_per_minute))
        if self.burst < 1:
            raise ValueError(f"burst must be at least 1, got {burst}")
        if margin < 0:
            raise ValueError(f"margin must not be negative, got {margin}")
        self.window = 60.0 * self.burst / rate_per_minute
        self.margin = margin
        # One sum, used by both the expiry and the wait: float rounding cannot disagree.
        self._hold = self.window + margin
        self._monotonic = monotonic
        self._sleep = sleep
        self._held: list[Slot] = []
        self._blocked_until = -math.inf

    def slot(self, *, sleep: Sleep | None = None) -> Reservation:
        """`async with limiter.slot() as slot`: wait for a free slot, give it back on exit.

        `sleep` is how this caller waits (a stop-aware sleep wakes it on shutdown by
        raising); the limiter's own is the default.
        """
        return Reservation(self, sleep or self._sleep)

    async def take(self, sleep: Sleep | None = None) -> Slot:
        """Wait until a request may be sent, and hold a slot for it. Prefer `slot()`."""
        sleep = sleep or self._sleep
        while (delay := self._delay()) > 0:
            await sleep(delay)
        taken = Slot(self._monotonic, self._give_back)
        self._held.append(taken)
        return taken

    def block_for(self, seconds: float) -> None:
        """After a 429: nobody sends for `seconds` (a longer block already in force stays)."""
        until = self._monotonic() + max(0.0, seconds)
        self._blocked_until = max(self._blocked_until, until)

    @property
    def held(self) -> int:
        """Slots held now: in flight, or answered less than `window + margin` ago."""
        self._expire(self._monotonic())
        return len(self._held)

    def _delay(self) -> float:
        """Seconds to wait before the next slot may be taken; 0 when one is free now."""
        now = self._monotonic()
        if now < self._blocked_until:
            return self._blocked_until - now
        self._expire(now)
        if len(self._held) < self.burst:
            return 0.0
        frees = [s.end + self._hold for s in self._held if s.end is not None]
        return min(frees) - now if frees else _IN_FLIGHT_POLL

    def _expire(self, now: float) -> None:
        self._held = [s for s in self._held if s.end is None or s.end + self._hold > now]

    def _give_back(self, slot: Slot) -> None:
        if slot in self._held:
            self._held.remove(slot)


class Slot:
    """One request's place in the window: held from `start` until `window + margin` after
    `end`, the moment its answer (or failure) came back."""

    def __init__(self, monotonic: Callable[[], float], give_back: Callable[[Slot], None]) -> None:
        self._monotonic = monotonic
        self._give_back = give_back
        self.start = monotonic()
        self.end: float | None = None
        self.used = False

    def use(self) -> None:
        """The request is about to leave: from now on the slot counts until `finish`."""
        self.used = True

    def finish(self) -> None:
        """The answer (or the failure) is in: the hold runs from now. Later calls change nothing."""
        if self.end is None:
            self.end = self._monotonic()

    def close(self) -> None:
        """Done with the slot: an unused one is given back, a used one is finished."""
        if self.used:
            self.finish()
        else:
            self._give_back(self)


class Reservation:
    """The async context manager `RateLimiter.slot()` returns."""

    def __init__(self, limiter: RateLimiter, sleep: Sleep) -> None:
        self._limiter = limiter
        self._sleep = sleep
        self._slot: Slot | None = None

    async def __aenter__(self) -> Slot:
        self._slot = await self._limiter.take(self._sleep)
        return self._slot

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._slot is not None:
            self._slot.close()


_LIMITERS: dict[tuple[str, str], RateLimiter] = {}


def limiter_for(base_url: str, account_sid: str, rate_per_minute: float) -> RateLimiter:
    """The process-wide limiter for one account; the first caller's rate sets it."""
    key = (base_url.rstrip("/"), account_sid)
    limiter = _LIMITERS.get(key)
    if limiter is None:
        limiter = _LIMITERS[key] = RateLimiter(rate_per_minute)
    return limiter
