"""Calendars: when a named business-hours window is open.

`CalendarSpec` is one entry of the rules file's `calendars:` mapping, validated with
messages ops can act on; `CalendarSpec.compile` turns it into a `Calendar`, a pure value
that answers "open at this instant?", "when does that next change?" and "when did it
last change?". Nothing here reads the clock: every instant is an argument.

Meaning of a calendar, all in wall-clock time of its zone:

- Each local date has a list of ranges that *start* on it: the `special` entry for the
  date if there is one (an empty list closes the day), else none if the date is a
  holiday, else the `weekly` ranges of its weekday (a day named by several keys gets the
  union of their ranges; overlapping ranges merge).
- A range whose end is at or before its start crosses midnight and belongs to the day
  it starts on: `fri: ["22:00-06:00"]` is open Friday 22:00 to Saturday 06:00. So a
  Friday holiday cancels that night, while a Saturday holiday does not cut it short
  (the holiday closes the ranges that start on Saturday).
- An instant is open when its local wall time falls in a range (see `zone` for what
  that means on DST days: a start inside a spring-forward gap opens at the first
  instant after the gap; a repeated fall-back hour counts on both passes).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, field_validator

from lifecycle.instant import to_utc
from lifecycle.rules.holiday import HolidayBook, HolidaySpec
from lifecycle.rules.timewindow import (
    DateKey,
    DayKey,
    RangeText,
    TimeRange,
    invalid,
    parse_date,
    parse_day_key,
    parse_range,
)
from lifecycle.rules.zone import parse_zone, wall_to_utc

__all__ = ["Calendar", "CalendarSpec", "HolidaySpec", "TimeRange", "parse_zone"]

_DAY = timedelta(days=1)
# next/previous_change scan in windows this long, overlapping by a day so that a change
# on a window's edge is strictly inside the next one.
_SCAN = timedelta(days=8)
_HORIZON = timedelta(days=400)


class CalendarSpec(BaseModel):
    """One entry of `calendars:` in the rules file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    timezone: str | None = None
    weekly: dict[DayKey, list[RangeText]]
    holidays: HolidaySpec | None = None
    special: dict[DateKey, list[RangeText]] = {}

    @field_validator("timezone", mode="before")
    @classmethod
    def _known_zone(cls, value: object) -> object:
        try:
            return value if value is None else parse_zone(value).key
        except ValueError as error:
            raise invalid(error) from None

    @field_validator("weekly", "special", mode="before")
    @classmethod
    def _single_range_as_list(cls, value: object) -> object:
        # `sat: "10:00-14:00"` plainly means a one-range list; say yes rather than nag.
        if isinstance(value, dict):
            # Anything else that is not a list (YAML's `sat: 10:00` is the number 600) is
            # wrapped too, so the item check can say the time needs quotes.
            return {k: v if isinstance(v, list) else [v] for k, v in value.items()}
        return value

    def compile(self, name: str, default_tz: ZoneInfo) -> Calendar:
        """The calendar this spec describes; `default_tz` is the rules file's `timezone`."""
        return Calendar(
            name,
            parse_zone(self.timezone) if self.timezone else default_tz,
            weekly=_weekly(self.weekly),
            special={parse_date(d): _ranges(texts) for d, texts in self.special.items()},
            holidays=self.holidays.compile() if self.holidays else None,
        )


def _weekly(spec: Mapping[str, list[str]]) -> tuple[tuple[TimeRange, ...], ...]:
    days: list[list[TimeRange]] = [[] for _ in range(7)]
    for key, texts in spec.items():
        for day in parse_day_key(key):
            days[day].extend(_ranges(texts))
    return tuple(tuple(sorted(set(ranges))) for ranges in days)


def _ranges(texts: list[str]) -> tuple[TimeRange, ...]:
    return tuple(sorted({parse_range(text) for text in texts}))


@dataclass(frozen=True)
class Calendar:
    """A compiled calendar: a pure, immutable function of time (see the module doc).

    `weekly` holds Monday..Sunday; `special` maps a local date to the ranges that replace
    its weekly ones. Instants passed in must be aware; instants returned are UTC.
    """

    name: str
    tz: ZoneInfo
    weekly: tuple[tuple[TimeRange, ...], ...] = ((),) * 7
    special: Mapping[date, tuple[TimeRange, ...]] = field(default_factory=dict, hash=False)
    holidays: HolidayBook | None = None

    def is_holiday(self, day: date) -> bool:
        """Whether local date `day` is a public or listed holiday (special days aside)."""
        return self.holidays is not None and day in self.holidays

    def day_ranges(self, day: date) -> tuple[TimeRange, ...]:
        """The ranges that start on local date `day`."""
        if day in self.special:
            return self.special[day]
        if self.is_holiday(day):
            return ()
        return self.weekly[day.weekday()]

    def is_open(self, at: datetime) -> bool:
        """Whether the calendar is open at the aware instant `at`."""
        wall = to_utc(at).astimezone(self.tz).replace(tzinfo=None)
        # A range reaches at most a day past the date it starts on.
        walls = self._walls(wall.date() - _DAY, wall.date())
        return any(start <= wall < end for start, end in walls)

    def open_intervals(self, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        """The open stretches `[a, b)` within `[start, end)`: sorted, merged, UTC, clipped."""
        start, end = to_utc(start), to_utc(end)
        if start >= end:
            return []
        # Two days back catches ranges that began the day before, even across a fold.
        first = start.astimezone(self.tz).date() - 2 * _DAY
        last = end.astimezone(self.tz).date() + _DAY
        return wall_to_utc(self.tz, self._walls(first, last), start, end)

    def next_change(self, after: datetime, *, horizon: timedelta = _HORIZON) -> datetime | None:
        """The first instant strictly after `after` at which `is_open` flips, in UTC;
        None when it does not flip within `horizon` (an always-closed calendar)."""
        after = to_utc(after)
        limit = after + horizon
        low = after - _DAY
        while low < limit:
            high = low + _SCAN
            found = next((x for x in self._flips(low, high) if after < x <= limit), None)
            if found is not None:
                return found
            low = high - _DAY
        return None

    def previous_change(
        self, before: datetime, *, horizon: timedelta = _HORIZON
    ) -> datetime | None:
        """The last instant at or before `before` at which `is_open` flipped, in UTC;
        None when it did not flip within `horizon` before it."""
        before = to_utc(before)
        floor = before - horizon
        high = before + _DAY
        while high > floor:
            low = high - _SCAN
            flips = reversed(self._flips(low, high))
            found = next((x for x in flips if floor <= x <= before), None)
            if found is not None:
                return found
            high = low + _DAY
        return None

    def _flips(self, low: datetime, high: datetime) -> list[datetime]:
        """The instants strictly inside `(low, high)` where `is_open` flips, in order.

        Bounds of merged intervals are flips, except where clipping made them."""
        bounds = (x for interval in self.open_intervals(low, high) for x in interval)
        return [x for x in bounds if low < x < high]

    def _walls(self, first: date, last: date) -> Iterator[tuple[datetime, datetime]]:
        """Naive wall-clock intervals of the ranges starting on `first`..`last`."""
        day = first
        while day <= last:
            midnight = datetime.combine(day, time())
            for r in self.day_ranges(day):
                yield midnight + timedelta(seconds=r.start), midnight + timedelta(seconds=r.end)
            day += _DAY
