"""Client-side rate limiting: one limiter per Exotel account, shared by every caller.

The Campaign API allows about 30 requests a minute per account and answers 429 with
`Retry-After` beyond it. The limit is the account's, not the connection's, so every
client for one account must draw from the same limiter: `limiter_for` keeps one per
(base URL, account SID) for the life of the process.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable

Sleep = Callable[[float], Awaitable[None]]


class RateLimiter:
    """Requests per minute for one account, shared by every caller; honours Retry-After for all.

    A sliding-window log: at most `burst` requests in any `window` seconds, where
    `window = 60 * burst / rate_per_minute`. `burst` defaults to the whole per-minute quota
    (rounded down, at least 1), which makes the window one minute: exactly the server's
    rule, so a steady caller never exceeds the quota in any 60 s and still gets a poll's
    pages out back to back. A smaller `burst` smooths traffic; the guarantee then is at most
    `ceil(rate / burst) * burst` requests in any 60 s (exactly `rate` when `burst` divides it).

    N requests therefore take at least `(N - burst) / rate * 60` seconds. `block_for`
    (after a 429) holds every caller back, including those already waiting.

    Not thread-safe: share it between tasks of one event loop. It holds no asyncio
    primitives, so it may outlive a loop (tests run many).
    """

    def __init__(
        self,
        rate_per_minute: float,
        *,
        burst: int | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if rate_per_minute <= 0:
            raise ValueError(f"rate_per_minute must be positive, got {rate_per_minute}")
        self.rate_per_minute = rate_per_minute
        self.burst = burst if burst is not None else max(1, math.floor(rate_per_minute))
        if self.burst < 1:
            raise ValueError(f"burst must be at least 1, got {burst}")
        self.window = 60.0 * self.burst / rate_per_minute
        self._monotonic = monotonic
        self._sleep = sleep
        self._sent: deque[float] = deque()
        self._blocked_until = -math.inf

    async def acquire(self) -> None:
        """Wait until a request may be sent now, and count it as sent."""
        while (delay := self._delay()) > 0:
            await self._sleep(delay)
        self._sent.append(self._monotonic())

    def block_for(self, seconds: float) -> None:
        """After a 429: nobody sends for `seconds` (a longer block already in force stays)."""
        until = self._monotonic() + max(0.0, seconds)
        self._blocked_until = max(self._blocked_until, until)

    def _delay(self) -> float:
        """Seconds to wait before the next request may go; 0 when it may go now."""
        now = self._monotonic()
        if now < self._blocked_until:
            return self._blocked_until - now
        # The same sum as the wait below, so float rounding cannot disagree with it.
        while self._sent and self._sent[0] + self.window <= now:
            self._sent.popleft()
        if len(self._sent) < self.burst:
            return 0.0
        return self._sent[0] + self.window - now


_LIMITERS: dict[tuple[str, str], RateLimiter] = {}


def limiter_for(base_url: str, account_sid: str, rate_per_minute: float) -> RateLimiter:
    """The process-wide limiter for one account; the first caller's rate sets it."""
    key = (base_url.rstrip("/"), account_sid)
    limiter = _LIMITERS.get(key)
    if limiter is None:
        limiter = _LIMITERS[key] = RateLimiter(rate_per_minute)
    return limiter
