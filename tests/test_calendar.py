"""Calendars: tables of instants → open/closed, change instants, pinned error messages,
and property tests across DST zones."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from lifecycle.rules.calendar import Calendar, CalendarSpec, parse_zone

KOLKATA = "Asia/Kolkata"
DESIGN = {
    "weekly": {"mon-fri": ["09:30-13:00", "14:00-19:00"], "sat": ["10:00-14:00"]},
    "holidays": {"country": "IN", "subdivision": "MH", "dates": ["2026-12-31"]},
}


def calendar(spec: dict[str, Any], zone: str = KOLKATA) -> Calendar:
    return CalendarSpec.model_validate(spec).compile("test", ZoneInfo(zone))


def local(text: str, zone: str = KOLKATA) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone))


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# --- is_open tables ------------------------------------------------------------------------

DESIGN_ROWS = [
    ("2026-11-27 09:29:59", False),  # Friday, before opening
    ("2026-11-27 09:30", True),
    ("2026-11-27 12:59:59", True),
    ("2026-11-27 13:00", False),  # lunch
    ("2026-11-27 14:00", True),
    ("2026-11-27 18:59:59", True),
    ("2026-11-27 19:00", False),
    ("2026-11-28 09:59", False),  # Saturday
    ("2026-11-28 10:00", True),
    ("2026-11-28 14:00", False),
    ("2026-11-29 11:00", False),  # Sunday
    ("2026-11-23 11:00", True),  # Monday
    ("2026-11-24 11:00", False),  # Tuesday: Guru Nanak's Birthday (IN)
    ("2026-05-01 11:00", False),  # Friday: Maharashtra Day
    ("2026-02-19 11:00", False),  # Thursday: Shivaji Maharaj's birthday, MH only
    ("2026-12-25 11:00", False),  # Friday: Christmas
    ("2026-12-30 11:00", True),
    ("2026-12-31 11:00", False),  # explicit date
    ("2027-01-01 11:00", True),
]


@pytest.mark.parametrize(("when", "expected"), DESIGN_ROWS)
def test_design_shape(when: str, expected: bool) -> None:
    assert calendar(DESIGN).is_open(local(when)) is expected


def test_a_subdivision_holiday_stays_in_its_subdivision() -> None:
    india_only = calendar({**DESIGN, "holidays": {"country": "IN"}})
    assert india_only.is_open(local("2026-02-19 11:00"))
    assert calendar(DESIGN).is_holiday(date(2026, 2, 19))


def test_is_open_takes_any_offset() -> None:
    cal = calendar(DESIGN)
    assert cal.is_open(utc("2026-11-27 04:00"))  # 09:30 IST
    assert cal.is_open(datetime.fromisoformat("2026-11-27T09:30:00+05:30"))
    assert not cal.is_open(datetime.fromisoformat("2026-11-27T02:45:00-05:00"))  # 13:15 IST


def test_naive_instants_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        calendar(DESIGN).is_open(datetime(2026, 11, 27, 10))


OVERNIGHT = {"weekly": {"fri": ["22:00-06:00"]}}
OVERNIGHT_ROWS = [
    ("2026-11-26 23:00", False),  # Thursday night
    ("2026-11-27 21:59:59", False),
    ("2026-11-27 22:00", True),
    ("2026-11-28 00:00", True),
    ("2026-11-28 03:00", True),
    ("2026-11-28 05:59:59", True),
    ("2026-11-28 06:00", False),
    ("2026-11-28 07:00", False),
    ("2026-11-28 22:00", False),  # Saturday night
]


@pytest.mark.parametrize(("when", "expected"), OVERNIGHT_ROWS)
def test_range_crossing_midnight(when: str, expected: bool) -> None:
    assert calendar(OVERNIGHT).is_open(local(when)) is expected


@pytest.mark.parametrize(
    ("holiday", "when", "expected"),
    [
        ("2026-11-27", "2026-11-27 23:00", False),  # a Friday holiday cancels the night...
        ("2026-11-27", "2026-11-28 03:00", False),
        ("2026-11-28", "2026-11-27 23:00", True),  # ...a Saturday holiday does not cut it
        ("2026-11-28", "2026-11-28 03:00", True),
    ],
)
def test_holiday_and_overnight_range(holiday: str, when: str, expected: bool) -> None:
    cal = calendar({**OVERNIGHT, "holidays": {"dates": [holiday]}})
    assert cal.is_open(local(when)) is expected


@pytest.mark.parametrize(
    ("key", "open_days"),
    [
        ("fri-mon", {"fri", "sat", "sun", "mon"}),
        ("sun-fri", {"sun", "mon", "tue", "wed", "thu", "fri"}),
        ("mon-fri", {"mon", "tue", "wed", "thu", "fri"}),
        ("sat,sun", {"sat", "sun"}),
        ("Sat, Sun", {"sat", "sun"}),
        ("tue", {"tue"}),
        ("wednesday", {"wed"}),
        ("mon-mon", {"mon"}),
        ("daily", {"mon", "tue", "wed", "thu", "fri", "sat", "sun"}),
        ("all", {"mon", "tue", "wed", "thu", "fri", "sat", "sun"}),
        ("mon,fri-sat", {"mon", "fri", "sat"}),
    ],
)
def test_day_keys(key: str, open_days: set[str]) -> None:
    cal = calendar({"weekly": {key: ["10:00-11:00"]}})
    monday = date(2026, 11, 23)
    names = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    for i, name in enumerate(names):
        instant = local(f"{monday + timedelta(days=i)} 10:30")
        assert cal.is_open(instant) is (name in open_days), name


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ("2026-11-23 09:30", True),  # Monday gets both keys' ranges
        ("2026-11-23 16:00", True),
        ("2026-11-24 16:00", False),
        ("2026-11-24 10:30", True),  # overlapping ranges merge
        ("2026-11-24 11:30", True),
        ("2026-11-24 12:00", False),
    ],
)
def test_a_day_in_two_keys_gets_the_union(when: str, expected: bool) -> None:
    spec = {"weekly": {"mon-fri": ["09:00-11:00", "10:00-12:00"], "mon": ["15:00-17:00"]}}
    assert calendar(spec).is_open(local(when)) is expected


SPECIAL = {
    **DESIGN,
    "special": {"2026-12-24": ["09:30-13:00"], "2026-12-28": [], "2026-12-25": ["10:00-12:00"]},
}


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ("2026-12-24 12:00", True),  # half day
        ("2026-12-24 14:30", False),
        ("2026-12-23 14:30", True),
        ("2026-12-28 10:00", False),  # a Monday closed by an empty special list
        ("2026-12-25 11:00", True),  # special wins over the Christmas holiday
        ("2026-12-25 15:00", False),
    ],
)
def test_special_days(when: str, expected: bool) -> None:
    assert calendar(SPECIAL).is_open(local(when)) is expected


# Spring forward in New York: 2026-03-08 02:00 EST → 03:00 EDT (07:00Z).
# Fall back in New York: 2026-11-01 02:00 EDT → 01:00 EST (06:00Z).
# London: 2026-03-29 01:00 GMT → 02:00 BST (01:00Z); 2026-10-25 02:00 BST → 01:00 GMT (01:00Z).
DST_ROWS = [
    ("America/New_York", "02:30-05:00", "2026-03-08 06:59:59", False),
    ("America/New_York", "02:30-05:00", "2026-03-08 07:00", True),  # 03:00 EDT, gap skipped
    ("America/New_York", "02:30-05:00", "2026-03-08 08:59:59", True),
    ("America/New_York", "02:30-05:00", "2026-03-08 09:00", False),  # 05:00 EDT
    ("America/New_York", "02:30-05:00", "2026-03-07 07:30", True),  # 02:30 EST the day before
    ("America/New_York", "01:00-02:00", "2026-11-01 04:59:59", False),
    ("America/New_York", "01:00-02:00", "2026-11-01 05:00", True),  # 01:00 EDT
    ("America/New_York", "01:00-02:00", "2026-11-01 06:30", True),  # 01:30 EST, second pass
    ("America/New_York", "01:00-02:00", "2026-11-01 06:59:59", True),
    ("America/New_York", "01:00-02:00", "2026-11-01 07:00", False),  # 02:00 EST
    ("America/New_York", "01:30-03:00", "2026-11-01 05:45", True),  # 01:45 EDT
    ("America/New_York", "01:30-03:00", "2026-11-01 06:15", False),  # 01:15 EST
    ("America/New_York", "01:30-03:00", "2026-11-01 06:30", True),  # 01:30 EST
    ("America/New_York", "09:00-17:00", "2026-11-01 13:59", False),  # 08:59 EST
    ("America/New_York", "09:00-17:00", "2026-11-01 14:00", True),
    ("America/New_York", "09:00-17:00", "2026-10-31 13:00", True),  # 09:00 EDT
    ("Europe/London", "00:30-01:30", "2026-03-29 00:59:59", True),
    ("Europe/London", "00:30-01:30", "2026-03-29 01:00", False),  # now 02:00 BST
    ("Europe/London", "01:30-03:00", "2026-03-29 00:59", False),
    ("Europe/London", "01:30-03:00", "2026-03-29 01:00", True),  # 02:00 BST
    ("Europe/London", "01:30-03:00", "2026-03-29 02:00", False),  # 03:00 BST
    ("Europe/London", "09:00-17:00", "2026-10-24 08:00", True),  # 09:00 BST
    ("Europe/London", "09:00-17:00", "2026-10-25 08:00", False),  # 08:00 GMT
    ("Europe/London", "09:00-17:00", "2026-10-25 09:00", True),
    ("Asia/Kolkata", "09:30-19:00", "2026-01-16 04:00", True),  # no DST: 09:30 IST = 04:00Z
    ("Asia/Kolkata", "09:30-19:00", "2026-07-17 04:00", True),
    ("Asia/Kolkata", "09:30-19:00", "2026-07-17 03:59:59", False),
    ("Asia/Kolkata", "09:30-19:00", "2026-07-17 13:30", False),
]


@pytest.mark.parametrize(("zone", "window", "when", "expected"), DST_ROWS)
def test_dst_days(zone: str, window: str, when: str, expected: bool) -> None:
    assert calendar({"weekly": {"daily": [window]}}, zone).is_open(utc(when)) is expected


@pytest.mark.parametrize(("window"), ["00:00-24:00", "00:00-00:00:01", "23:59:59-24:00"])
def test_whole_day_edges(window: str) -> None:
    cal = calendar({"weekly": {"daily": [window]}})
    assert cal.is_open(local("2026-11-27 00:00")) is (window != "23:59:59-24:00")
    assert cal.is_open(local("2026-11-27 23:59:59")) is (window != "00:00-00:00:01")


# --- next_change / previous_change ---------------------------------------------------------

NEW_YORK = "America/New_York"
CHANGE_ROWS: list[tuple[dict[str, Any], str, datetime, datetime | None]] = [
    (DESIGN, KOLKATA, local("2026-11-27 19:00"), local("2026-11-28 10:00")),  # Fri → Sat
    (DESIGN, KOLKATA, local("2026-11-27 09:30"), local("2026-11-27 13:00")),  # after an edge
    (DESIGN, KOLKATA, local("2026-11-28 14:00"), local("2026-11-30 09:30")),  # weekend
    (DESIGN, KOLKATA, local("2026-11-23 19:00"), local("2026-11-25 09:30")),  # holiday Tue
    (DESIGN, KOLKATA, local("2026-12-30 19:00"), local("2027-01-01 09:30")),  # explicit date
    (OVERNIGHT, KOLKATA, local("2026-11-27 12:00"), local("2026-11-27 22:00")),
    (OVERNIGHT, KOLKATA, local("2026-11-27 22:00"), local("2026-11-28 06:00")),  # midnight
    # Touching ranges: no change at midnight.
    (
        {"weekly": {"mon": ["18:00-24:00"], "tue": ["00:00-06:00"]}},
        "UTC",
        utc("2026-11-23 18:00"),
        utc("2026-11-24 06:00"),
    ),
    # 02:30 does not exist on 2026-03-08: opens at 03:00 EDT.
    (
        {"weekly": {"daily": ["02:30-05:00"]}},
        NEW_YORK,
        utc("2026-03-08 05:00"),
        utc("2026-03-08 07:00"),
    ),
    # Fold: open through both passes of 01:xx, closes at 02:00 EST.
    (
        {"weekly": {"daily": ["01:00-02:00"]}},
        NEW_YORK,
        utc("2026-11-01 05:00"),
        utc("2026-11-01 07:00"),
    ),
    ({"weekly": {}}, KOLKATA, local("2026-11-27 12:00"), None),  # never open
    ({"weekly": {"daily": ["00:00-24:00"]}}, KOLKATA, local("2026-11-27 12:00"), None),
]


@pytest.mark.parametrize(("spec", "zone", "after", "expected"), CHANGE_ROWS)
def test_next_change(
    spec: dict[str, Any], zone: str, after: datetime, expected: datetime | None
) -> None:
    found = calendar(spec, zone).next_change(after)
    assert found == expected
    assert found is None or found.tzinfo is UTC


def test_next_change_respects_its_horizon() -> None:
    cal = calendar(DESIGN)
    after = local("2026-11-28 14:00")
    assert cal.next_change(after, horizon=timedelta(days=1)) is None
    assert cal.next_change(after, horizon=timedelta(days=2)) == local("2026-11-30 09:30")


PREVIOUS_ROWS: list[tuple[dict[str, Any], str, datetime, datetime | None]] = [
    (DESIGN, KOLKATA, local("2026-11-28 12:00"), local("2026-11-28 10:00")),
    (DESIGN, KOLKATA, local("2026-11-28 10:00"), local("2026-11-28 10:00")),  # edge is its own
    (DESIGN, KOLKATA, local("2026-11-30 08:00"), local("2026-11-28 14:00")),  # weekend
    (DESIGN, KOLKATA, local("2026-11-25 09:00"), local("2026-11-23 19:00")),  # holiday Tue
    (OVERNIGHT, KOLKATA, local("2026-11-28 03:00"), local("2026-11-27 22:00")),
    (
        {"weekly": {"daily": ["02:30-05:00"]}},
        NEW_YORK,
        utc("2026-03-08 08:00"),
        utc("2026-03-08 07:00"),
    ),
    ({"weekly": {}}, KOLKATA, local("2026-11-27 12:00"), None),
]


@pytest.mark.parametrize(("spec", "zone", "before", "expected"), PREVIOUS_ROWS)
def test_previous_change(
    spec: dict[str, Any], zone: str, before: datetime, expected: datetime | None
) -> None:
    found = calendar(spec, zone).previous_change(before)
    assert found == expected
    assert found is None or found.tzinfo is UTC


def test_previous_change_across_the_fold() -> None:
    cal = calendar({"weekly": {"daily": ["01:30-03:00"]}}, "America/New_York")
    assert cal.previous_change(utc("2026-11-01 06:15")) == utc("2026-11-01 06:00")
    assert cal.next_change(utc("2026-11-01 06:15")) == utc("2026-11-01 06:30")
    assert cal.previous_change(utc("2026-11-01 05:59")) == utc("2026-11-01 05:30")


def test_open_intervals_of_a_weekend() -> None:
    cal = calendar(DESIGN)
    found = cal.open_intervals(local("2026-11-27 10:00"), local("2026-11-30 00:00"))
    assert found == [
        (utc("2026-11-27 04:30"), utc("2026-11-27 07:30")),  # clipped at the start
        (utc("2026-11-27 08:30"), utc("2026-11-27 13:30")),
        (utc("2026-11-28 04:30"), utc("2026-11-28 08:30")),
    ]
    assert cal.open_intervals(local("2026-11-28 12:00"), local("2026-11-28 12:00")) == []


def test_open_intervals_merge_across_midnight_and_the_fold() -> None:
    cal = calendar({"weekly": {"sat": ["22:00-02:00"], "sun": ["01:00-03:00"]}}, "America/New_York")
    found = cal.open_intervals(utc("2026-10-31 00:00"), utc("2026-11-02 00:00"))
    # Sat 22:00 EDT (02:00Z) until Sun 03:00 EST (08:00Z), through both passes of 01:xx.
    assert found == [(utc("2026-11-01 02:00"), utc("2026-11-01 08:00"))]


# --- accepted spellings ----------------------------------------------------------------------


def from_yaml(text: str) -> CalendarSpec:
    return CalendarSpec.model_validate(yaml.safe_load(text))


def test_yaml_dates_may_be_unquoted() -> None:
    spec = from_yaml(
        """
        weekly: {mon-fri: ["09:30-13:00"], sat: "10:00-14:00"}
        holidays: {dates: [2026-12-31, "2026-12-24..2026-12-26"]}
        special: {2026-12-23: [9:30-11:00]}
        """
    )
    assert spec.holidays is not None and spec.holidays.dates == [
        "2026-12-31",
        "2026-12-24..2026-12-26",
    ]
    cal = spec.compile("yaml", ZoneInfo(KOLKATA))
    assert cal.is_open(local("2026-11-28 11:00"))  # a lone string is a one-range list
    assert cal.is_open(local("2026-12-23 09:45"))
    assert not cal.is_open(local("2026-12-23 11:30"))
    assert [cal.is_holiday(date(2026, 12, d)) for d in (23, 24, 25, 26, 27, 31)] == [
        False,
        True,
        True,
        True,
        False,
        True,
    ]


def test_calendar_zone_overrides_the_file_default() -> None:
    spec = CalendarSpec.model_validate({"timezone": "Europe/London", "weekly": {}})
    assert spec.compile("x", ZoneInfo(KOLKATA)).tz == ZoneInfo("Europe/London")
    assert calendar({"weekly": {}}).tz == ZoneInfo(KOLKATA)


@pytest.mark.parametrize("name", ["UTC", "GMT", "Asia/Kolkata", "America/Argentina/Buenos_Aires"])
def test_iana_names_are_accepted(name: str) -> None:
    assert parse_zone(name).key == name


# --- error messages, pinned ------------------------------------------------------------------


def error_of(data: Any) -> tuple[tuple[str | int, ...], str]:
    with pytest.raises(ValidationError) as caught:
        CalendarSpec.model_validate(data)
    errors = caught.value.errors()
    assert len(errors) == 1, errors
    return errors[0]["loc"], errors[0]["msg"]


@pytest.mark.parametrize(
    ("text", "loc", "message"),
    [
        (
            "weekly: {sat: [9:30]}",
            ("weekly", "sat", 0),
            'times must be quoted strings ("09:30-13:00"); YAML read 9:30 as the number 570',
        ),
        (  # a bare time, not in a list
            "weekly: {sat: 10:00}",
            ("weekly", "sat", 0),
            'times must be quoted strings ("09:30-13:00"); YAML read 10:00 as the number 600',
        ),
        (
            "weekly: {sat: [19:00]}",
            ("weekly", "sat", 0),
            'times must be quoted strings ("09:30-13:00"); YAML read 19:00 as the number 1140',
        ),
        (
            "weekly: {sat: [9:30:00]}",
            ("weekly", "sat", 0),
            'times must be quoted strings ("09:30-13:00"); YAML read 9:30:00 as the number 34200',
        ),
        (
            "weekly: {sat: [9.5]}",
            ("weekly", "sat", 0),
            'times must be quoted strings ("09:30-13:00"); YAML read it as the number 9.5',
        ),
        (
            'weekly: {sat: ["9-5"]}',
            ("weekly", "sat", 0),
            "bad time range '9-5': expected \"09:30-13:00\" (HH:MM-HH:MM)",
        ),
        (
            'weekly: {sat: ["25:00-26:00"]}',
            ("weekly", "sat", 0),
            "bad time '25:00' in '25:00-26:00': times run from 00:00 to 24:00",
        ),
        (
            'weekly: {sat: ["09:60-10:00"]}',
            ("weekly", "sat", 0),
            "bad time '09:60' in '09:60-10:00': times run from 00:00 to 24:00",
        ),
        (
            'weekly: {sat: ["09:30-09:30"]}',
            ("weekly", "sat", 0),
            "empty time range '09:30-09:30': start equals end (\"00:00-24:00\" is the whole day)",
        ),
        (
            'weekly: {sat: ["24:00-02:00"]}',
            ("weekly", "sat", 0),
            "bad time range '24:00-02:00': 24:00 can only end a range",
        ),
        (
            'weekly: {mon-fry: ["09:30-13:00"]}',
            ("weekly", "mon-fry", "[key]"),
            "unknown day 'fry' in 'mon-fry': use mon, tue, wed, thu, fri, sat, sun, "
            "a range such as mon-fri, a list such as sat,sun, or daily",
        ),
        (
            'weekly: {weekdays: ["09:30-13:00"]}',
            ("weekly", "weekdays", "[key]"),
            "unknown day 'weekdays': use mon, tue, wed, thu, fri, sat, sun, "
            "a range such as mon-fri, a list such as sat,sun, or daily",
        ),
        (
            'weekly: {}\nspecial: {"2026-02-30": []}',
            ("special", "2026-02-30", "[key]"),
            "bad date '2026-02-30': use YYYY-MM-DD such as 2026-12-31",
        ),
        (
            'weekly: {}\nholidays: {dates: ["2026-12-26..2026-12-24"]}',
            ("holidays", "dates", 0),
            "bad date range '2026-12-26..2026-12-24': the last day comes before the first",
        ),
        (
            "timezone: IST\nweekly: {}",
            ("timezone",),
            "ambiguous time zone abbreviation 'IST': use an IANA name such as 'Asia/Kolkata'",
        ),
        (
            "timezone: Asai/Kolkata\nweekly: {}",
            ("timezone",),
            "unknown time zone 'Asai/Kolkata': did you mean 'Asia/Kolkata'?",
        ),
        (
            "weekly: {}\nholidays: {country: XX}",
            ("holidays", "country"),
            "unknown holiday country 'XX': use an ISO 3166 code such as "
            "'IN', 'US', 'GB', 'AE', 'SG'",
        ),
        (
            "weekly: {}\nholidays: {country: India}",
            ("holidays", "country"),
            "unknown holiday country 'India': use its ISO code 'IN'",
        ),
        (
            "weekly: {}\nholidays: {country: NO}",
            ("holidays", "country"),
            'country must be a quoted string: YAML read NO as false (write "NO")',
        ),
        (
            "weekly: {}\nholidays: {country: IN, subdivision: MAH}",
            ("holidays", "subdivision"),
            "unknown subdivision 'MAH' for IN: did you mean 'MH'?",
        ),
        (
            "weekly: {}\nholidays: {country: GB, subdivision: XY}",
            ("holidays", "subdivision"),
            "unknown subdivision 'XY' for GB: valid ones: ENG, NIR, SCT, WLS",
        ),
        (
            "weekly: {}\nholidays: {subdivision: MH}",
            ("holidays", "subdivision"),
            "subdivision needs a country: add country: IN (or the right code)",
        ),
    ],
)
def test_error_messages(text: str, loc: tuple[str | int, ...], message: str) -> None:
    assert error_of(yaml.safe_load(text)) == (loc, message)


def test_unknown_keys_are_refused() -> None:
    loc, message = error_of({"weekly": {}, "weekely": {}})
    assert (loc, message) == (("weekely",), "Extra inputs are not permitted")


def test_subdivision_names_and_codes_in_any_case() -> None:
    for written in ("MH", "mh", "Maharashtra"):
        spec = CalendarSpec.model_validate(
            {"weekly": {}, "holidays": {"country": "in", "subdivision": written}}
        )
        assert spec.holidays is not None
        assert (spec.holidays.country, spec.holidays.subdivision) == ("IN", "MH")


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("IST", "ambiguous time zone abbreviation 'IST': use an IANA name such as 'Asia/Kolkata'"),
        (
            "CST",
            "ambiguous time zone abbreviation 'CST': use an IANA name such as 'America/Chicago'",
        ),
        ("BST", "ambiguous time zone abbreviation 'BST': use an IANA name such as 'Europe/London'"),
        (
            "EST",
            "ambiguous time zone abbreviation 'EST': use an IANA name such as 'America/New_York'",
        ),
        ("CET", "ambiguous time zone abbreviation 'CET': use an IANA name such as 'Europe/Paris'"),
        ("XYZ", "ambiguous time zone abbreviation 'XYZ': use an IANA name such as 'Asia/Kolkata'"),
        ("Asai/Kolkata", "unknown time zone 'Asai/Kolkata': did you mean 'Asia/Kolkata'?"),
        ("asia/kolkata", "unknown time zone 'asia/kolkata': did you mean 'Asia/Kolkata'?"),
        (
            "Mars/Olympus_Mons",
            "unknown time zone 'Mars/Olympus_Mons': use an IANA name such as 'Asia/Kolkata'",
        ),
        ("", "unknown time zone '': use an IANA name such as 'Asia/Kolkata'"),
        (5.5, "time zone must be a quoted IANA name such as 'Asia/Kolkata'; got 5.5"),
    ],
)
def test_parse_zone_errors(name: object, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_zone(name)
    assert str(caught.value) == message


# --- properties ------------------------------------------------------------------------------

ZONES = [
    "Europe/London",
    "America/New_York",
    "Australia/Sydney",
    "Asia/Kolkata",
    "UTC",
    "America/Sao_Paulo",
]
# Around midnight UTC of each 2026 DST change in the zones above.
DST_DAYS = [
    datetime(2026, 3, 8, tzinfo=UTC),
    datetime(2026, 11, 1, tzinfo=UTC),
    datetime(2026, 3, 29, tzinfo=UTC),
    datetime(2026, 10, 25, tzinfo=UTC),
    datetime(2026, 4, 4, tzinfo=UTC),
    datetime(2026, 10, 3, tzinfo=UTC),
]
# Half-hour marks, with the night hours DST likes to eat over-represented.
CLOCK = [f"{h:02d}:{m:02d}" for h in range(24) for m in (0, 30)] + ["01:15", "02:45", "24:00"]
DAY_KEYS = ["mon", "tue", "wed", "sat", "sun", "mon-fri", "fri-mon", "sun-fri", "sat,sun", "daily"]


@st.composite
def ranges(draw: st.DrawFn) -> str:
    start = draw(st.sampled_from(CLOCK[:-1]))
    end = draw(st.sampled_from([t for t in CLOCK if t != start]))
    return f"{start}-{end}"


@st.composite
def calendars(draw: st.DrawFn) -> Calendar:
    weekly = draw(st.dictionaries(st.sampled_from(DAY_KEYS), st.lists(ranges(), max_size=3)))
    days = st.dates(min_value=date(2026, 1, 1), max_value=date(2027, 12, 31))
    holidays = draw(st.lists(days.map(date.isoformat), max_size=5))
    special = draw(st.dictionaries(days.map(date.isoformat), st.lists(ranges(), max_size=2)))
    spec = {"weekly": weekly, "holidays": {"dates": holidays}, "special": special}
    return calendar(spec, draw(st.sampled_from(ZONES)))


near_dst = st.builds(
    lambda day, minutes: day + timedelta(minutes=minutes),
    st.sampled_from(DST_DAYS),
    st.integers(min_value=-24 * 60, max_value=24 * 60),
)
instants = st.one_of(
    st.datetimes(datetime(2026, 1, 1), datetime(2027, 12, 31), timezones=st.just(UTC)),
    near_dst,
)
TINY = timedelta(microseconds=1)
PROPERTY = settings(max_examples=100, deadline=None)


@PROPERTY
@given(calendars(), instants)
def test_is_open_is_constant_until_next_change_then_flips(cal: Calendar, t: datetime) -> None:
    state = cal.is_open(t)
    change = cal.next_change(t)
    if change is None:
        assert all(cal.is_open(t + timedelta(hours=7 * k)) is state for k in range(200))
        return
    assert change > t
    for fraction in (0.25, 0.5, 0.75):
        assert cal.is_open(t + (change - t) * fraction) is state
    assert cal.is_open(change - TINY) is state
    assert cal.is_open(change) is not state


@PROPERTY
@given(calendars(), instants)
def test_previous_change_of_a_change_is_itself(cal: Calendar, t: datetime) -> None:
    change = cal.next_change(t)
    if change is not None:
        assert cal.previous_change(change) == change
    before = cal.previous_change(t)
    if before is not None:
        assert before <= t
        assert cal.is_open(before) is cal.is_open(t)
        assert cal.is_open(before - TINY) is not cal.is_open(t)


@PROPERTY
@given(calendars(), instants, st.lists(st.integers(0, 10 * 86400 - 1), min_size=5, max_size=20))
def test_open_intervals_agree_with_is_open(cal: Calendar, t: datetime, offsets: list[int]) -> None:
    end = t + timedelta(days=10)
    intervals = cal.open_intervals(t, end)
    for a, b in intervals:
        assert t <= a < b <= end
        assert cal.is_open(a) and cal.is_open(b - TINY)
        assert a == t or not cal.is_open(a - TINY)
        assert b == end or not cal.is_open(b)
    for x in (t + timedelta(seconds=s) for s in offsets):
        inside = any(a <= x < b for a, b in intervals)
        assert cal.is_open(x) is inside
