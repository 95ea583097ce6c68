"""WHEN arguments of the command line: `2026-11-27T19:00:00+05:30`, `now`, `+2h`, `tomorrow 19:00`.

Pure: `now` and the zone for wall-clock forms are arguments.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

_RELATIVE = re.compile(r"^([+-])\s*(\d+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_DAY_WORDS = {"today": 0, "tomorrow": 1, "yesterday": -1}


def parse_when(text: str, *, now: datetime, tz: ZoneInfo) -> datetime:
    """An aware UTC instant. Wall-clock forms (no offset) are read in `tz`; raises ValueError."""
    value = text.strip().lower()
    if value == "now":
        return now.astimezone(UTC)
    if match := _RELATIVE.match(value):
        sign, amount, unit = match.groups()
        delta = timedelta(**{_UNITS[unit]: int(amount)})
        return (now + delta if sign == "+" else now - delta).astimezone(UTC)
    word, _, clock = value.partition(" ")
    if word in _DAY_WORDS:
        day = now.astimezone(tz).date() + timedelta(days=_DAY_WORDS[word])
        wall = time.fromisoformat(clock) if clock else time(0)
        return datetime.combine(day, wall, tzinfo=tz).astimezone(UTC)
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"cannot read {text!r} as a time: use ISO-8601 with an offset "
            "(2026-11-27T19:00:00+05:30), 'now', '+2h', or 'tomorrow 19:00'"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    return parsed.astimezone(UTC)
