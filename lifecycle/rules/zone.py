"""Time zones: naming them safely, and turning wall-clock intervals into UTC instants.

Pure: no I/O beyond zoneinfo's own tz database lookups, no clock.

The conversion keeps "open" a pure function of wall time: an instant belongs to a wall
interval `[a, b)` when its local wall time in the zone lies in `[a, b)`. Across a DST
gap the wall clock jumps, so a window whose start does not exist opens at the first
instant after the jump; across a fold the wall clock repeats, so a window covering the
repeated hour is open during both passes (and a window ending inside the fold closes,
then reopens when the repeated wall time comes round again).
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

# The zone a reader most likely meant; every abbreviation here means several zones somewhere.
_ABBREVIATIONS: dict[str, str] = {
    "IST": "Asia/Kolkata",
    "CST": "America/Chicago",
    "CDT": "America/Chicago",
    "BST": "Europe/London",
    "EST": "America/New_York",
    "EDT": "America/New_York",
    "PST": "America/Los_Angeles",
    "PDT": "America/Los_Angeles",
    "MST": "America/Denver",
    "MDT": "America/Denver",
    "AKST": "America/Anchorage",
    "HST": "Pacific/Honolulu",
    "WET": "Europe/Lisbon",
    "CET": "Europe/Paris",
    "CEST": "Europe/Paris",
    "MET": "Europe/Paris",
    "EET": "Europe/Athens",
    "EEST": "Europe/Athens",
    "MSK": "Europe/Moscow",
    "GB": "Europe/London",
    "GST": "Asia/Dubai",
    "PKT": "Asia/Karachi",
    "NPT": "Asia/Kathmandu",
    "ICT": "Asia/Bangkok",
    "WIB": "Asia/Jakarta",
    "SGT": "Asia/Singapore",
    "HKT": "Asia/Hong_Kong",
    "PRC": "Asia/Shanghai",
    "JST": "Asia/Tokyo",
    "KST": "Asia/Seoul",
    "AEST": "Australia/Sydney",
    "AEDT": "Australia/Sydney",
    "AWST": "Australia/Perth",
    "NZ": "Pacific/Auckland",
    "NZST": "Pacific/Auckland",
    "SAST": "Africa/Johannesburg",
    "WAT": "Africa/Lagos",
    "EAT": "Africa/Nairobi",
    "BRT": "America/Sao_Paulo",
    "ART": "America/Argentina/Buenos_Aires",
    "UCT": "UTC",
}
_ABBREVIATION = re.compile(r"[A-Z]{2,5}")
_UNAMBIGUOUS = frozenset({"UTC", "GMT"})
_EXAMPLE = "Asia/Kolkata"
# What an IANA name looks like; anything else never reaches the tz database's files
# (`Asia` is a directory there, a 300-character name too long for the file system).
_IANA_NAME = re.compile(r"[A-Za-z0-9_+\-]+(?:/[A-Za-z0-9_+\-]+){0,2}")
_MAX_NAME = 64


def parse_zone(name: object) -> ZoneInfo:
    """The IANA zone called `name`; ValueError naming the mistake otherwise.

    All-caps abbreviations other than UTC/GMT are refused even where the tz database
    knows them (`EST` exists there, but "IST" means India, Israel and Ireland), and the
    message suggests the IANA name most people mean.
    """
    if not isinstance(name, str):
        raise ValueError(f"time zone must be a quoted IANA name such as '{_EXAMPLE}'; got {name!r}")
    if _ABBREVIATION.fullmatch(name) and name not in _UNAMBIGUOUS:
        suggestion = _ABBREVIATIONS.get(name, _EXAMPLE)
        raise ValueError(
            f"ambiguous time zone abbreviation '{name}': use an IANA name such as '{suggestion}'"
        )
    if len(name) > _MAX_NAME:
        raise ValueError(
            f"unknown time zone '{name[:_MAX_NAME]}…' ({len(name)} characters): "
            f"use an IANA name such as '{_EXAMPLE}'"
        )
    try:
        if not _IANA_NAME.fullmatch(name):
            raise ValueError(name)
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(_unknown_zone_message(name)) from None


def _unknown_zone_message(name: str) -> str:
    by_folded = _zones_by_folded_name()
    close = difflib.get_close_matches(name.casefold(), by_folded, n=1, cutoff=0.6)
    if close:
        return f"unknown time zone '{name}': did you mean '{by_folded[close[0]]}'?"
    return f"unknown time zone '{name}': use an IANA name such as '{_EXAMPLE}'"


@functools.cache
def _zones_by_folded_name() -> dict[str, str]:
    # Scanning the tz database is slow-ish; only the error path needs it, once.
    return {zone.casefold(): zone for zone in sorted(available_timezones())}


@dataclass(frozen=True)
class OffsetSpan:
    """A stretch of UTC time `[start, end)` over which the zone's UTC offset is `offset`."""

    start: datetime
    end: datetime
    offset: timedelta


# No two transitions in the tz database since 1940 are closer together than this, so a
# probe at this step cannot step over a change and its reversal.
_PROBE = timedelta(hours=6)
_SECOND = timedelta(seconds=1)


def offset_spans(tz: ZoneInfo, start: datetime, end: datetime) -> list[OffsetSpan]:
    """Cover the UTC span `[start, end)` with spans of constant UTC offset, in order.

    The first span may begin up to a second before `start` (transitions fall on whole
    seconds, so the search runs on whole seconds).
    """
    cursor = start.astimezone(UTC).replace(microsecond=0)
    end = end.astimezone(UTC)
    spans: list[OffsetSpan] = []
    span_start, offset = cursor, _offset(tz, cursor)
    while cursor < end:
        probe = min(cursor + _PROBE, end)
        if _offset(tz, probe) == offset:
            cursor = probe
            continue
        cursor = _first_change(tz, cursor, probe, offset)
        spans.append(OffsetSpan(span_start, cursor, offset))
        span_start, offset = cursor, _offset(tz, cursor)
    spans.append(OffsetSpan(span_start, max(end, span_start), offset))
    return spans


def _offset(tz: ZoneInfo, instant: datetime) -> timedelta:
    offset = instant.astimezone(tz).utcoffset()
    assert offset is not None  # a ZoneInfo always answers for an aware instant
    return offset


def _first_change(tz: ZoneInfo, low: datetime, high: datetime, offset: timedelta) -> datetime:
    """The first whole second in `(low, high]` whose offset differs from `offset`."""
    lo, hi = 0, int((high - low) / _SECOND)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _offset(tz, low + mid * _SECOND) == offset:
            lo = mid
        else:
            hi = mid
    return low + hi * _SECOND


def wall_to_utc(
    tz: ZoneInfo, walls: Iterable[tuple[datetime, datetime]], start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    """The UTC instants in `[start, end)` whose wall time in `tz` lies in one of `walls`.

    `walls` are naive wall-clock intervals `[a, b)`. Returns sorted, merged, aware UTC
    intervals clipped to `[start, end)`; touching intervals are joined, so every bound
    strictly inside `(start, end)` is an instant where membership flips.
    """
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    spans = offset_spans(tz, start, end)
    pieces = sorted(_pieces(walls, spans))
    return list(_merge_clipped(pieces, start, end))


def _pieces(
    walls: Iterable[tuple[datetime, datetime]], spans: list[OffsetSpan]
) -> Iterator[tuple[datetime, datetime]]:
    for wall_start, wall_end in walls:
        for span in spans:
            # Within one span, wall = utc + offset: invert it, then keep what lies in the span.
            lo = max((wall_start - span.offset).replace(tzinfo=UTC), span.start)
            hi = min((wall_end - span.offset).replace(tzinfo=UTC), span.end)
            if lo < hi:
                yield lo, hi


def _merge_clipped(
    pieces: list[tuple[datetime, datetime]], start: datetime, end: datetime
) -> Iterator[tuple[datetime, datetime]]:
    current: tuple[datetime, datetime] | None = None
    for lo, hi in pieces:
        lo, hi = max(lo, start), min(hi, end)
        if lo >= hi:
            continue
        if current is not None and lo <= current[1]:
            current = (current[0], max(current[1], hi))
            continue
        if current is not None:
            yield current
        current = (lo, hi)
    if current is not None:
        yield current
