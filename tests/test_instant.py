"""lifecycle.instant: WHEN, ISO parsing, wall times and the naive-datetime refusal, as tables."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from lifecycle.instant import (
    format_instant,
    from_wall,
    parse_duration,
    parse_instant,
    parse_when,
    to_utc,
)

KOLKATA = ZoneInfo("Asia/Kolkata")
NEW_YORK = ZoneInfo("America/New_York")
NOW = datetime(2026, 11, 27, 13, 30, tzinfo=UTC)  # Friday 19:00 in Kolkata


def kolkata(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=KOLKATA)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("now", NOW),
        ("  NOW ", NOW),
        # ISO-8601: with an offset it is that instant; without one, wall time in the zone
        ("2026-11-27T19:00:00+05:30", kolkata("2026-11-27 19:00")),
        ("2026-11-27T13:30:00Z", kolkata("2026-11-27 19:00")),
        ("2026-11-28T09:30", kolkata("2026-11-28 09:30")),
        ("2026-11-28 09:30", kolkata("2026-11-28 09:30")),
        ("2026-11-28", kolkata("2026-11-28 00:00")),
        # now moved by a duration, in the grammar of the rules file
        ("+2h", NOW + timedelta(hours=2)),
        ("-1d", NOW - timedelta(days=1)),
        ("+1d12h", NOW + timedelta(days=1, hours=12)),
        ("+ 2h30m", NOW + timedelta(hours=2, minutes=30)),
        ("-1w", NOW - timedelta(weeks=1)),
        ("+90s", NOW + timedelta(seconds=90)),
        # day words: that day, at the wall time (midnight without one)
        ("tomorrow 19:00", kolkata("2026-11-28 19:00")),
        ("today 09:30", kolkata("2026-11-27 09:30")),
        ("today 9:30", kolkata("2026-11-27 09:30")),
        ("yesterday", kolkata("2026-11-26 00:00")),
        ("Tomorrow  19:00:30", kolkata("2026-11-28 19:00:30")),
        # HH:MM alone: the next such wall time at or after now
        ("19:00", kolkata("2026-11-27 19:00")),  # it is 19:00 now: now
        ("19:01", kolkata("2026-11-27 19:01")),
        ("18:59", kolkata("2026-11-28 18:59")),  # passed today: tomorrow's
        ("09:30", kolkata("2026-11-28 09:30")),
        ("00:00", kolkata("2026-11-28 00:00")),
        # a weekday: the next such day and time at or after now
        ("mon 09:30", kolkata("2026-11-30 09:30")),
        ("Monday 09:30", kolkata("2026-11-30 09:30")),
        ("sat", kolkata("2026-11-28 00:00")),
        ("fri 19:00", kolkata("2026-11-27 19:00")),  # today, and not yet past
        ("fri 20:00", kolkata("2026-11-27 20:00")),
        ("fri 18:00", kolkata("2026-12-04 18:00")),  # today's has passed: next week's
        ("friday", kolkata("2026-12-04 00:00")),
        ("thu 23:59", kolkata("2026-12-03 23:59")),
    ],
)
def test_parse_when(text: str, expected: datetime) -> None:
    assert parse_when(text, now=NOW, tz=KOLKATA) == expected


@pytest.mark.parametrize(
    ("text", "now", "expected"),
    [
        # 02:30 does not exist on 2026-03-08 in New York: the first instant after the jump
        ("02:30", "2026-03-08T01:00-05:00", "2026-03-08T03:00:00-04:00"),
        ("sun 02:30", "2026-03-07T12:00-05:00", "2026-03-08T03:00:00-04:00"),
        ("2026-03-08T02:30", "2026-03-07T12:00-05:00", "2026-03-08T03:00:00-04:00"),
        # 01:30 happens twice on 2026-11-01: the first time
        ("01:30", "2026-11-01T00:00-04:00", "2026-11-01T01:30:00-04:00"),
        # +1d is 24 hours, not "the same wall time tomorrow"
        ("+1d", "2026-03-07T12:00-05:00", "2026-03-08T13:00:00-04:00"),
        ("tomorrow 12:00", "2026-03-07T12:00-05:00", "2026-03-08T12:00:00-04:00"),
    ],
)
def test_parse_when_across_dst(text: str, now: str, expected: str) -> None:
    found = parse_when(text, now=datetime.fromisoformat(now), tz=NEW_YORK)
    assert format_instant(found, NEW_YORK) == expected


def test_parse_when_result_is_utc() -> None:
    for text in ("2026-11-27T19:00:00+05:30", "now", "+2h", "19:00", "mon", "tomorrow"):
        assert parse_when(text, now=NOW, tz=KOLKATA).tzinfo == UTC


@pytest.mark.parametrize(
    "text", ["next friday", "+2 hours", "+", "", "tomorrow 7pm", "mon 9", "+1.5h", "12:5"]
)
def test_parse_when_rejects_nonsense_with_the_accepted_forms(text: str) -> None:
    with pytest.raises(ValueError, match=r"cannot read .* as a time: use ISO-8601 with an offset"):
        parse_when(text, now=NOW, tz=KOLKATA)


@pytest.mark.parametrize("text", ["tomorrow 19:75", "25:00", "mon 24:00"])
def test_parse_when_names_an_impossible_time_of_day(text: str) -> None:
    with pytest.raises(ValueError, match=f"no such time of day in '{text}': use 00:00 to 23:59"):
        parse_when(text, now=NOW, tz=KOLKATA)


@pytest.mark.parametrize(
    "text", ["+1000000000d", "-1000000000d", "+99999999w", "9999-12-31T23:59:59", "0999-01-01"]
)
def test_parse_when_refuses_an_instant_out_of_range_naming_it(text: str) -> None:
    with pytest.raises(ValueError, match=f"{re.escape(repr(text))} is out of range"):
        parse_when(text, now=NOW, tz=KOLKATA)


def test_a_duration_past_timedelta_is_too_long_not_an_overflow() -> None:
    with pytest.raises(ValueError, match="too long"):
        parse_duration("1000000000d")


def test_parse_when_refuses_a_naive_now() -> None:
    with pytest.raises(ValueError, match="naive"):
        parse_when("+2h", now=NOW.replace(tzinfo=None), tz=KOLKATA)


def test_when_and_rules_share_one_duration_grammar() -> None:
    for text in ("1d12h", "2h30m", "7d", "1w", "45s"):
        assert parse_when(f"+{text}", now=NOW, tz=KOLKATA) == NOW + parse_duration(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-27T19:00:00+05:30", datetime(2026, 11, 27, 13, 30, tzinfo=UTC)),
        ("2026-11-27T13:30:00Z", datetime(2026, 11, 27, 13, 30, tzinfo=UTC)),
        (" 2026-11-27T13:30:00.250+00:00 ", datetime(2026, 11, 27, 13, 30, 0, 250000, tzinfo=UTC)),
    ],
)
def test_parse_instant(text: str, expected: datetime) -> None:
    found = parse_instant(text)
    assert found == expected and found.tzinfo == UTC


@pytest.mark.parametrize("text", ["2026-11-27T19:00:00", "2026-11-27", "yesterday", "19:00"])
def test_parse_instant_refuses_what_names_no_instant(text: str) -> None:
    with pytest.raises(ValueError):
        parse_instant(text)


def test_to_utc_refuses_a_naive_datetime() -> None:
    with pytest.raises(ValueError, match=r"naive datetime 2026-11-27T19:00:00 has no offset"):
        to_utc(datetime(2026, 11, 27, 19, 0))
    assert to_utc(kolkata("2026-11-27 19:00")) == NOW


@pytest.mark.parametrize(
    ("wall", "tz", "expected"),
    [
        ("2026-11-27 19:00", KOLKATA, "2026-11-27T19:00:00+05:30"),
        ("2026-03-08 02:00", NEW_YORK, "2026-03-08T03:00:00-04:00"),  # the gap starts
        ("2026-03-08 02:59:59", NEW_YORK, "2026-03-08T03:00:00-04:00"),
        ("2026-03-08 03:00", NEW_YORK, "2026-03-08T03:00:00-04:00"),
        ("2026-11-01 01:00", NEW_YORK, "2026-11-01T01:00:00-04:00"),  # the fold: first pass
        ("2026-11-01 02:00", NEW_YORK, "2026-11-01T02:00:00-05:00"),
    ],
)
def test_from_wall(wall: str, tz: ZoneInfo, expected: str) -> None:
    found = from_wall(datetime.fromisoformat(wall), tz)
    assert found.tzinfo == UTC and format_instant(found, tz) == expected


def test_format_instant_is_the_rules_zone_with_its_offset_and_reads_back() -> None:
    shown = format_instant(NOW, KOLKATA)
    assert shown == "2026-11-27T19:00:00+05:30"
    assert parse_when(shown, now=NOW, tz=NEW_YORK) == NOW
