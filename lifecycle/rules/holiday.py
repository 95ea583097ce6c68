"""Holidays: which local dates a calendar treats as closed.

Public holidays come from the `holidays` package (a country, optionally a subdivision);
explicit dates and inclusive date ranges add to them.
"""

from __future__ import annotations

import difflib
import functools
import threading
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import holidays as holiday_data
from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator

from lifecycle.rules.timewindow import DateSpanText, invalid, parse_date_span

_COUNTRY_EXAMPLES = "'IN', 'US', 'GB', 'AE', 'SG'"


class HolidaySpec(BaseModel):
    """`holidays:` of one calendar: `{country: IN, subdivision: MH, dates: [...]}`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    country: str | None = None
    subdivision: str | None = None
    dates: list[DateSpanText] = []

    @field_validator("country", mode="before")
    @classmethod
    def _known_country(cls, value: object) -> str | None:
        try:
            return None if value is None else check_country(value)
        except ValueError as error:
            raise invalid(error) from None

    @field_validator("subdivision", mode="before")
    @classmethod
    def _known_subdivision(cls, value: object, info: ValidationInfo) -> str | None:
        if value is None or "country" not in info.data:
            return None  # absent, or the country already failed and said so
        try:
            return check_subdivision(info.data["country"], value)
        except ValueError as error:
            raise invalid(error) from None

    def compile(self) -> HolidayBook:
        spans = tuple(parse_date_span(text) for text in self.dates)
        return HolidayBook(self.country, self.subdivision, spans)


def check_country(value: object) -> str:
    """The canonical code the `holidays` package knows for `value`, or ValueError."""
    if value is False:
        raise ValueError('country must be a quoted string: YAML read NO as false (write "NO")')
    if not isinstance(value, str):
        raise ValueError(f"country must be a quoted ISO code such as 'IN'; got {value!r}")
    code = value.strip().upper()
    if code in holiday_data.list_supported_countries():
        return code
    raise ValueError(_unknown_country_message(value))


def _unknown_country_message(value: str) -> str:
    names = _country_codes_by_name()
    close = difflib.get_close_matches(value.strip().casefold(), names, n=1, cutoff=0.75)
    if close:
        return f"unknown holiday country '{value}': use its ISO code '{names[close[0]]}'"
    return f"unknown holiday country '{value}': use an ISO 3166 code such as {_COUNTRY_EXAMPLES}"


@functools.cache
def _country_codes_by_name() -> dict[str, str]:
    codes: dict[str, str] = {}
    for module, entry in holiday_data.registry.COUNTRIES.items():
        class_name, code = entry[0], entry[1]
        codes[module.replace("_", " ")] = code
        codes[class_name.casefold()] = code
    return codes


def check_subdivision(country: str | None, value: object) -> str:
    """The canonical subdivision code of `country` for `value` (a code or a name)."""
    if country is None:
        raise ValueError("subdivision needs a country: add country: IN (or the right code)")
    if not isinstance(value, str):
        raise ValueError(f"subdivision must be a quoted code such as 'MH'; got {value!r}")
    known = _subdivisions(country)
    found = known.get(value.strip().casefold())
    if found is None:
        raise ValueError(_unknown_subdivision_message(country, value, known))
    return found


def _unknown_subdivision_message(country: str, value: str, known: dict[str, str]) -> str:
    codes = sorted(set(known.values()))
    if not codes:
        return f"unknown subdivision '{value}': {country} has none in the holidays package"
    close = difflib.get_close_matches(value.strip().casefold(), known, n=1, cutoff=0.75)
    hint = f"did you mean '{known[close[0]]}'?" if close else f"valid ones: {', '.join(codes)}"
    return f"unknown subdivision '{value}' for {country}: {hint}"


@functools.cache
def _subdivisions(country: str) -> dict[str, str]:
    """Casefolded code or alias → canonical code."""
    codes: list[str] = holiday_data.list_supported_countries()[country]
    aliases: dict[str, str] = getattr(
        holiday_data.country_holidays(country), "subdivisions_aliases", {}
    )
    known = {code.casefold(): code for code in codes}
    known.update({alias.casefold(): code for alias, code in aliases.items()})
    return known


@dataclass(frozen=True)
class HolidayBook:
    """Answers "is this local date a holiday?", fetching each year from `holidays` once.

    The per-year cache fills lazily under a lock, so a compiled calendar can be shared
    by threads; its answers never change, so it behaves as an immutable value.
    """

    country: str | None
    subdivision: str | None
    spans: tuple[tuple[date, date], ...] = ()
    _years: dict[int, frozenset[date]] = field(default_factory=dict, compare=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, compare=False, repr=False)

    def __contains__(self, day: object) -> bool:
        if not isinstance(day, date):
            return False
        if any(first <= day <= last for first, last in self.spans):
            return True
        return day in self._public(day.year)

    def _public(self, year: int) -> frozenset[date]:
        cached = self._years.get(year)
        if cached is not None:
            return cached
        with self._lock:
            if year not in self._years:
                self._years[year] = frozenset(
                    _public_holidays(self.country, self.subdivision, year)
                )
            return self._years[year]


def _public_holidays(country: str | None, subdivision: str | None, year: int) -> set[date]:
    if country is None:
        return set()
    found: Any = holiday_data.country_holidays(country, subdiv=subdivision, years=year)
    return set(found.keys())
