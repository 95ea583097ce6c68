"""A logging filter for lines a stranger can make us repeat: rejected webhooks, a flood
of accepted ones, accept errors when the process is out of file descriptors.

Each line is known by its logger and message template; within `every` seconds of letting
one through, the same line is only counted, and the next one let through says how many
were held back. So a flood costs one line per `every` seconds, and nothing is hidden.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

# Distinct lines remembered at most; past it, lines whose window has ended are forgotten
# (an asyncio error's text can be unique each time).
_REMEMBERED = 1024


@dataclass
class _Seen:
    at: float  # when the last one was let through (monotonic seconds)
    held: int = 0  # how many since then were held back


class RepeatFilter(logging.Filter):
    """The same line at most once per `every` seconds (monotonic clock, injectable)."""

    def __init__(self, every: float, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.every = every
        self._clock = clock
        self._seen: dict[tuple[str, int, str], _Seen] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        now, key = self._clock(), (record.name, record.levelno, str(record.msg))
        seen = self._seen.get(key)
        if seen is not None and now - seen.at < self.every:
            seen.held += 1
            return False
        if seen is not None and seen.held:
            since = round(now - seen.at)
            # No `%` added: the record's own arguments still fill its template.
            record.msg = f"{record.msg} (… repeated {seen.held} times in the last {since}s)"
        self._forget(now)
        self._seen[key] = _Seen(at=now)
        return True

    def _forget(self, now: float) -> None:
        if len(self._seen) < _REMEMBERED:
            return
        for key in [k for k, s in self._seen.items() if now - s.at >= self.every]:
            del self._seen[key]
        if len(self._seen) >= _REMEMBERED:  # all of them recent: start counting afresh
            self._seen.clear()


def install(filter_: RepeatFilter, *loggers: logging.Logger) -> Callable[[], None]:
    """Put the filter on each logger (in place of any RepeatFilter there: one server, one
    filter); returns the function that takes it off again."""
    for logger in loggers:
        for old in [f for f in logger.filters if isinstance(f, RepeatFilter)]:
            logger.removeFilter(old)
        logger.addFilter(filter_)

    def remove() -> None:
        for logger in loggers:
            logger.removeFilter(filter_)

    return remove
