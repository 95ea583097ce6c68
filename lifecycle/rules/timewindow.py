"""The pieces of a weekly window as ops write them: time ranges, day keys, dates.

Every parser here takes the raw value from YAML and either returns a frozen value or
raises ValueError with a message that quotes what was written and says what to write.
The `Annotated` string types at the end run those parsers inside pydantic models and
pass their messages through verbatim.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Annotated

from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_DAY_INDEX = {name: i for names in (DAY_NAMES, _FULL_NAMES) for i, name in enumerate(names)}
_EVERY_DAY = frozenset({"daily", "all"})
DAY_SECONDS = 24 * 3600

_TIME = r"(\d{1,2}):(\d{2})(?::(\d{2}))?"
_RANGE = re.compile(rf"\s*{_TIME}\s*-\s*{_TIME}\s*")
_EXAMPLE = '"09:30-13:00"'


@dataclass(frozen=True, order=True)
class TimeRange:
    """Seconds after local midnight `[start, end)`; `end` passes 86400 for a range that
    crosses midnight, and is never more than a day after `start`."""

    start: int
    end: int


def check_time_text(value: object) -> str:
    """`value` if it is a string; else the ValueError that explains YAML's sexagesimal ints."""
    if isinstance(value, str):
        return value
    raise ValueError(f"times must be quoted strings ({_EXAMPLE}); {_how_yaml_read(value)}")


def _how_yaml_read(value: object) -> str:
    if isinstance(value, bool):
        return f"YAML read it as the boolean {str(value).lower()}"
    if isinstance(value, int) and 0 <= value < 25 * 60:
        # YAML 1.1 reads 9:30 as 9*60+30; undo that so the reader recognises their text.
        return f"YAML read {value // 60}:{value % 60:02d} as the number {value}"
    if isinstance(value, int) and 0 <= value < 25 * 3600:
        text = f"{value // 3600}:{value // 60 % 60:02d}:{value % 60:02d}"
        return f"YAML read {text} as the number {value}"
    if isinstance(value, int | float):
        return f"YAML read it as the number {value}"
    return f"got {value!r}"


def parse_range(text: str) -> TimeRange:
    """Parse "HH:MM-HH:MM" (seconds optional). An end at or before the start means the
    range crosses midnight; "24:00" may only end a range; equal ends are an error."""
    match = _RANGE.fullmatch(text)
    if match is None:
        raise ValueError(f"bad time range '{text}': expected {_EXAMPLE} (HH:MM-HH:MM)")
    parts = match.groups()
    start, end = _seconds(text, parts[:3]), _seconds(text, parts[3:])
    if start == DAY_SECONDS:
        raise ValueError(f"bad time range '{text}': 24:00 can only end a range")
    if start == end:
        raise ValueError(
            f"empty time range '{text}': start equals end (\"00:00-24:00\" is the whole day)"
        )
    return TimeRange(start, end if end > start else end + DAY_SECONDS)


def _seconds(text: str, parts: tuple[str | None, ...]) -> int:
    hours, minutes, seconds = (int(p) if p else 0 for p in parts)
    total = hours * 3600 + minutes * 60 + seconds
    if minutes > 59 or seconds > 59 or total > DAY_SECONDS:
        shown = ":".join(p for p in parts if p)
        raise ValueError(f"bad time '{shown}' in '{text}': times run from 00:00 to 24:00")
    return total


def parse_day_key(key: str) -> frozenset[int]:
    """Weekdays (Monday = 0) named by a key: "mon", "mon-fri", "fri-mon" (wraps through
    the weekend), "sat,sun", "daily" or "all". Case and spaces do not matter."""
    days: set[int] = set()
    for part in key.lower().replace(" ", "").split(","):
        days |= _parse_day_part(key, part)
    return frozenset(days)


def _parse_day_part(key: str, part: str) -> set[int]:
    if part in _EVERY_DAY:
        return set(range(7))
    first, sep, last = part.partition("-")
    start = _day_index(key, first)
    if not sep:
        return {start}
    stop = _day_index(key, last)
    # Ranges wrap: "sun-fri" is six days, "fri-mon" four; never empty.
    return {(start + i) % 7 for i in range((stop - start) % 7 + 1)}


def _day_index(key: str, name: str) -> int:
    if name in _DAY_INDEX:
        return _DAY_INDEX[name]
    shown = f"'{name}' in '{key}'" if name != key else f"'{key}'"
    raise ValueError(
        f"unknown day {shown}: use {', '.join(DAY_NAMES)}, a range such as mon-fri, "
        "a list such as sat,sun, or daily"
    )


def date_text(value: object) -> str:
    """A date as text; YAML reads an unquoted 2026-12-31 as a date, which is fine here."""
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        return value
    raise ValueError(f"dates must be written YYYY-MM-DD such as 2026-12-31; got {value!r}")


def parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"bad date '{text}': use YYYY-MM-DD such as 2026-12-31") from None


def parse_date_span(text: str) -> tuple[date, date]:
    """Parse "2026-12-31", or an inclusive range "2026-12-24..2026-12-26", as (first, last)."""
    first_text, sep, last_text = text.partition("..")
    if not sep:
        day = parse_date(text)
        return day, day
    first, last = parse_date(first_text), parse_date(last_text)
    if last < first:
        raise ValueError(f"bad date range '{text}': the last day comes before the first")
    return first, last


# --- the same checks as pydantic field types ---


def invalid(error: ValueError) -> PydanticCustomError:
    """Carry a parser's message into pydantic verbatim (no "Value error, " prefix)."""
    return PydanticCustomError("calendar", "{reason}", {"reason": str(error)})


def reported(parse: Callable[[object], str]) -> BeforeValidator:
    """A pydantic validator that runs `parse` and reports its ValueError verbatim."""

    def run(value: object) -> str:
        try:
            return parse(value)
        except ValueError as error:
            raise invalid(error) from None

    return BeforeValidator(run)


def _range_text(value: object) -> str:
    text = check_time_text(value)
    parse_range(text)
    return text


def _day_key(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"day keys must be strings such as mon-fri; got {value!r}")
    parse_day_key(value)
    return value


def _date_key(value: object) -> str:
    text = date_text(value)
    parse_date(text)
    return text


def _date_span_text(value: object) -> str:
    text = date_text(value)
    parse_date_span(text)
    return text


RangeText = Annotated[str, reported(_range_text)]
DayKey = Annotated[str, reported(_day_key)]
DateKey = Annotated[str, reported(_date_key)]
DateSpanText = Annotated[str, reported(_date_span_text)]
