"""Durations as ops write them: "30s", "15m", "2h", "7d", "1w", "1d12h", "2h30m".

Only strings are accepted: a bare number would leave the unit to guesswork.
"""

from __future__ import annotations

import re
from datetime import timedelta

DURATION_HINT = "durations are strings like '7d' or '2h30m'"

_UNITS: tuple[tuple[str, int], ...] = (
    ("w", 7 * 86400),
    ("d", 86400),
    ("h", 3600),
    ("m", 60),
    ("s", 1),
)
_PATTERN = re.compile(r"^" + "".join(rf"(?:(?P<{u}>\d+){u})?" for u, _ in _UNITS) + r"$")


def parse_duration(text: object) -> timedelta:
    """The timedelta a duration string stands for; ValueError with a hint otherwise."""
    if not isinstance(text, str):
        raise ValueError(f"{DURATION_HINT} (got {text!r})")
    found = _PATTERN.match(text.strip().lower())
    if not text.strip() or found is None:
        raise ValueError(f"{DURATION_HINT} (got {text!r})")
    seconds = sum(int(found.group(u) or 0) * size for u, size in _UNITS)
    return timedelta(seconds=seconds)


def format_duration(delta: timedelta) -> str:
    """A short human form, largest units first, at most two of them: "8d 2h", "45m", "0s"."""
    remaining = max(int(delta.total_seconds()), 0)
    parts: list[str] = []
    for unit, size in _UNITS[1:]:  # weeks read worse than days in reasons
        count, remaining = divmod(remaining, size)
        if count:
            parts.append(f"{count}{unit}")
    return " ".join(parts[:2]) or "0s"
