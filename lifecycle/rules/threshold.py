"""Conditions compiled, at load time, to the instants their answer may change at.

`compile_thresholds(condition)` is `condition.wakeups(facts)` without building `Facts`
per campaign: the engine's `next_wakeup` asks it only of rules that could act on a
campaign, and a timeless condition compiles to None, so most rules cost nothing.
Contract: the same instants, in any order, raising where `wakeups` raises.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

from lifecycle.model import Campaign
from lifecycle.rules import conditions as c
from lifecycle.rules.predicate import Glance, moment_of

Thresholds = Callable[[Campaign, Glance], Iterator[datetime]]


def compile_thresholds(condition: c.Condition) -> Thresholds | None:
    """The instants `condition.wakeups` yields, without building `Facts`; None when the
    condition is timeless (its answer never changes while the campaign stays as it is)."""
    match condition:
        case c.AllOf() | c.AnyOf():
            return _union([compile_thresholds(part) for part in condition.parts])
        case c.Not():
            return compile_thresholds(condition.inner)
        case c.InstantPassed() | c.InstantWithin():
            return _instant_thresholds(condition)
        case c.Age():
            minimum = condition.minimum
            return lambda campaign, g: _shifted(campaign.date_created, minimum)
        case c.InStatusFor():
            return _status_thresholds(condition)
        case c.Window():
            window = condition
            return lambda campaign, g: _shifted(moment_of(window, g).next, timedelta(0))
    return None


def _union(parts: list[Thresholds | None]) -> Thresholds | None:
    timed = tuple(part for part in parts if part is not None)
    if not timed:
        return None
    if len(timed) == 1:
        return timed[0]
    return lambda campaign, g: (at for part in timed for at in part(campaign, g))


def _shifted(at: datetime | None, by: timedelta) -> Iterator[datetime]:
    if at is not None:
        yield at + by


def _instant_thresholds(cond: c.InstantPassed | c.InstantWithin) -> Thresholds:
    name = cond.field
    if isinstance(cond, c.InstantPassed):
        return lambda campaign, g: _shifted(getattr(campaign, name), timedelta(0))
    window = cond.window

    def thresholds(campaign: Campaign, g: Glance) -> Iterator[datetime]:
        at: datetime | None = getattr(campaign, name)
        if at is not None:
            yield at - window
            yield at + timedelta(microseconds=1)  # the window is closed: it ends just after

    return thresholds


def _status_thresholds(cond: c.InStatusFor) -> Thresholds:
    minimum, trust = cond.minimum, cond.trust_date_updated

    def thresholds(campaign: Campaign, g: Glance) -> Iterator[datetime]:
        start = g.history.status_start(campaign, trust_date_updated=trust)
        if start is not None:
            yield start.at + minimum

    return thresholds
