"""Instants and durations: the one home for reading, converting and writing time.

Pure: no clock, no I/O. `now` and the zone are arguments; the core may import this.

to_utc(value)                    aware UTC; a naive datetime is refused (ValueError)
from_wall(wall, tz)              a naive wall time in `tz` as aware UTC (DST-safe)
parse_iso(text)                  ISO-8601 / RFC 3339, as written (naive when it has no offset)
parse_instant(text)              the same, required to carry an offset, as aware UTC
parse_duration(text)             "30s", "2h30m", "1d12h", "1w": the one duration grammar
format_duration(delta)           "8d 2h", "45m", "0s"
parse_when(text, now=, tz=)      a WHEN of the command line (docs in `parse_when`)
format_instant(instant, tz)      how a person reads an instant: `2026-11-27T19:00:00+05:30`
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta, tzinfo

# ---------------------------------------------------------------------------- instants


def to_utc(value: datetime) -> datetime:
    """Aware UTC; a naive datetime is refused rather than guessed."""
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value.isoformat()} has no offset")
    return value.astimezone(UTC)


def from_wall(wall: datetime, tz: tzinfo) -> datetime:
    """The instant a naive wall-clock time in `tz` names, as aware UTC.

    A wall time that occurs twice (the repeated hour when clocks go back) is its first
    occurrence; one that does not exist (the hour skipped when clocks go forward) is the
    first instant after the jump, as a window starting then opens (docs/rules.md).
    """
    first = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if first.astimezone(tz).replace(tzinfo=None) == wall.replace(tzinfo=None):
        return first
    low = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)  # before the jump: bisect to it
    while first - low > timedelta(seconds=1):
        middle = low + (first - low) / 2
        if middle.astimezone(tz).replace(tzinfo=None) >= wall.replace(tzinfo=None):
            first = middle
        else:
            low = middle
    return first.replace(microsecond=0)


def parse_iso(text: str) -> datetime:
    """An ISO-8601 / RFC 3339 date-time as written (`Z` is UTC; no offset gives a naive
    value, which the caller resolves); ValueError otherwise."""
    return datetime.fromisoformat(text.strip())


def parse_instant(text: str) -> datetime:
    """An ISO-8601 / RFC 3339 date-time with an offset, as aware UTC; ValueError otherwise:
    without an offset the instant is unknown, and a guessed zone would shift every rule."""
    return to_utc(parse_iso(text))


def format_instant(instant: datetime, tz: tzinfo) -> str:
    """An instant as a person reads it, in `tz` with the offset, to the second.

    The same text `parse_when` reads back, so a line on a screen can be pasted into `--at`.
    """
    return to_utc(instant).astimezone(tz).isoformat(timespec="seconds")


# --------------------------------------------------------------------------- durations

DURATION_HINT = "durations are strings like '7d' or '2h30m'"

_UNITS: tuple[tuple[str, int], ...] = (
    ("w", 7 * 86400),
    ("d", 86400),
    ("h", 3600),
    ("m", 60),
    ("s", 1),
)
_DURATION = re.compile(r"^" + "".join(rf"(?:(?P<{u}>\d+){u})?" for u, _ in _UNITS) + r"$")


# Ten years: longer than any wait a rule means, and far from timedelta's own limits, so
# `now + duration` always works.
MAX_DURATION = timedelta(days=3650)


def parse_duration(text: object) -> timedelta:
    """The timedelta a duration string stands for; ValueError with a hint otherwise.

    Only strings are accepted: a bare number would leave the unit to guesswork.
    """
    if not isinstance(text, str):
        raise ValueError(f"{DURATION_HINT} (got {text!r})")
    if len(text) > 40:
        raise ValueError(f"{DURATION_HINT} (got {text[:40]!r}…)")
    found = _DURATION.match(text.strip().lower())
    if not text.strip() or found is None:
        raise ValueError(f"{DURATION_HINT} (got {text!r})")
    seconds = sum(int(found.group(u) or 0) * size for u, size in _UNITS)
    if seconds > MAX_DURATION.total_seconds():
        raise ValueError(
            f"duration {text!r} is too long: durations are at most {MAX_DURATION.days}d"
        )
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


# ------------------------------------------------------------------------------- WHEN

WHEN_FORMS = (
    "ISO-8601 with an offset (2026-11-27T19:00:00+05:30) or without one (wall time), "
    "'now', '+1d12h', '-2h', '19:00', 'tomorrow 19:00', 'mon 09:30'"
)
_DAY_WORDS = {"today": 0, "tomorrow": 1, "yesterday": -1}
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WALL = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")
# A WHEN far from today is a typo; beyond these the date arithmetic of plan, hold, audit
# and why (days added, weeks looked ahead) could overflow datetime's year 9999.
WHEN_EARLIEST = datetime(1000, 1, 1, tzinfo=UTC)
WHEN_LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def parse_when(text: str, *, now: datetime, tz: tzinfo) -> datetime:
    """The aware UTC instant a WHEN names; wall-clock forms are read in `tz` (the rules'
    zone); ValueError listing the accepted forms otherwise.

    - `now`; `+1d12h` / `-2h30m`: now moved by a duration of the rules' grammar
    - ISO-8601 with an offset; without one it is a wall time in `tz`
    - `today`, `tomorrow`, `yesterday`, optionally with `HH:MM[:SS]` (else midnight)
    - `HH:MM[:SS]` alone: the next such wall time at or after now
    - a weekday (`mon`, `monday`), optionally with `HH:MM[:SS]`: the next such day and
      time at or after now (`mon 09:30` on a Monday at 09:00 is today)

    An instant before WHEN_EARLIEST or from WHEN_LATEST on is refused (ValueError).
    """
    try:
        instant = _read_when(text, now=now, tz=tz)
    except OverflowError:
        raise _out_of_range(text) from None
    if not WHEN_EARLIEST <= instant < WHEN_LATEST:
        raise _out_of_range(text)
    return instant


def _read_when(text: str, *, now: datetime, tz: tzinfo) -> datetime:
    value = " ".join(text.strip().lower().split())
    if value == "now":
        return to_utc(now)
    if value and value[0] in "+-":
        return _shifted(value, text, now)
    word, _, rest = value.partition(" ")
    if word in _DAY_WORDS:
        day = to_utc(now).astimezone(tz).date() + timedelta(days=_DAY_WORDS[word])
        return from_wall(datetime.combine(day, _wall_time(rest, text)), tz)
    if word in _WEEKDAYS or word in _FULL_WEEKDAYS:
        return _next_weekday(_weekday(word), _wall_time(rest, text), now, tz)
    if _WALL.match(value):
        return _next_wall(_wall_time(value, text), now, tz, days=range(2))
    try:
        parsed = parse_iso(text)
    except ValueError:
        raise _unreadable(text) from None
    return to_utc(parsed) if parsed.tzinfo is not None else from_wall(parsed, tz)


def _shifted(value: str, text: str, now: datetime) -> datetime:
    try:
        delta = parse_duration(value[1:].strip())
    except ValueError:
        rest = value[1:].strip()
        too_long = bool(rest) and _DURATION.match(rest) is not None
        raise (_out_of_range(text) if too_long else _unreadable(text)) from None
    return to_utc(now + delta if value[0] == "+" else now - delta)


def _wall_time(value: str, text: str) -> time:
    if not value:
        return time(0)
    found = _WALL.match(value)
    if found is None:
        raise _unreadable(text)
    hour, minute, second = (int(g or 0) for g in found.groups())
    if hour > 23 or minute > 59 or second > 59:
        raise ValueError(f"no such time of day in {text!r}: use 00:00 to 23:59")
    return time(hour, minute, second)


def _weekday(word: str) -> int:
    return _WEEKDAYS.index(word) if word in _WEEKDAYS else _FULL_WEEKDAYS.index(word)


def _next_weekday(weekday: int, wall: time, now: datetime, tz: tzinfo) -> datetime:
    today = to_utc(now).astimezone(tz).date()
    ahead = (weekday - today.weekday()) % 7
    return _next_wall(wall, now, tz, days=(ahead, ahead + 7))


def _next_wall(wall: time, now: datetime, tz: tzinfo, *, days: range | tuple[int, ...]) -> datetime:
    """The first of `wall` on today + each of `days` that is at or after `now`."""
    today: date = to_utc(now).astimezone(tz).date()
    for offset in days:
        candidate = from_wall(datetime.combine(today + timedelta(days=offset), wall), tz)
        if candidate >= now:
            return candidate
    raise AssertionError("unreachable: the last day offered is a day or more ahead")


def _out_of_range(text: str) -> ValueError:
    return ValueError(
        f"{text!r} is out of range: give a time from year {WHEN_EARLIEST.year} "
        f"to {WHEN_LATEST.year - 1}"
    )


def _unreadable(text: str) -> ValueError:
    return ValueError(f"cannot read {text!r} as a time: use {WHEN_FORMS}")
