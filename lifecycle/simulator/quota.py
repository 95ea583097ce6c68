"""The simulated server's request quota: a sliding 60-second window per account.

(The client's own `RateLimiter` is the other side of this: it keeps us under a quota.)

It counts on the simulator's clock, not the wall clock, so a test on a FixedClock gets a
429 deterministically after `rate_per_minute` requests and recovers by advancing the clock.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta

WINDOW = timedelta(seconds=60)


@dataclass(frozen=True)
class Admission:
    """The limiter's answer for one request, with what the X-RateLimit-* headers say."""

    allowed: bool
    limit: int
    remaining: int
    reset: datetime  # when the oldest counted request leaves the window
    retry_after: int  # whole seconds until a request would be allowed (≥ 1 when refused)

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(math.ceil(self.reset.timestamp())),
        }


class Quota:
    """Admits at most `per_minute` requests per account in any 60 s; refusals don't count."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._seen: dict[str, deque[datetime]] = {}

    def admit(self, account: str, now: datetime) -> Admission:
        seen = self._seen.setdefault(account, deque())
        while seen and seen[0] <= now - WINDOW:
            seen.popleft()
        allowed = len(seen) < self.per_minute
        if allowed:
            seen.append(now)
        reset = seen[0] + WINDOW if seen else now
        wait = 0 if allowed else max(1, math.ceil((reset - now).total_seconds()))
        return Admission(allowed, self.per_minute, self.per_minute - len(seen), reset, wait)
