"""Conditions on one campaign, compiled from a rule's `match:` and `when:`.

Each condition is a frozen value that answers two questions, purely:
- `evaluate(facts)`: does it hold now, and why (or why not), in words for the audit trail;
- `wakeups(facts)`: the instants after which its answer could change by time alone.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from fnmatch import fnmatchcase
from typing import Protocol

from lifecycle.instant import format_duration, format_instant
from lifecycle.model import Action, Campaign, History, SinceBasis, Status, StatusStart
from lifecycle.rules.calendar import Calendar


@dataclass(frozen=True)
class Moment:
    """A calendar as seen from one instant: open or not, and the changes either side."""

    is_open: bool
    previous: datetime | None
    next: datetime | None

    @classmethod
    def of(cls, calendar: Calendar, now: datetime) -> Moment:
        return cls(calendar.is_open(now), calendar.previous_change(now), calendar.next_change(now))


@dataclass(frozen=True)
class Facts:
    """What a condition may look at: one campaign, the audit history, and the instant.

    `moments` may carry each calendar's state at `now`, computed once per tick rather
    than once per campaign; a calendar missing from it is asked directly. `windows` may
    carry each calendar's reason text at `now` (the same inside or outside), written once
    per tick.
    """

    campaign: Campaign
    history: History
    now: datetime
    tz: tzinfo  # only for writing instants in reasons
    moments: Mapping[str, Moment] = dataclasses.field(default_factory=dict)
    windows: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def show(self, instant: datetime) -> str:
        return format_instant(instant, self.tz)

    def moment(self, calendar: Calendar) -> Moment:
        known = self.moments.get(calendar.name)
        return known if known is not None else Moment.of(calendar, self.now)


@dataclass(frozen=True)
class Finding:
    """What one condition finds on one campaign: matched or not, and why (the engine turns
    a rule's findings into a `RuleVerdict`). `unknown`: the facts cannot say (no honest
    failure rate, a time in status known only as a lower bound below the minimum). An
    unknown finding never matches, and `not:` keeps it unknown rather than turning it
    into a match."""

    matched: bool
    reason: str
    unknown: bool = False


class Condition(Protocol):
    def evaluate(self, facts: Facts) -> Finding: ...

    def wakeups(self, facts: Facts) -> Iterator[datetime]: ...


class _Timeless:
    """Mixin for conditions whose answer never changes while the campaign stays as it is."""

    def wakeups(self, facts: Facts) -> Iterator[datetime]:
        return iter(())


def _words(values: tuple[str, ...] | frozenset[str]) -> str:
    ordered = sorted(values) if isinstance(values, frozenset) else list(values)
    return " or ".join(ordered)


@dataclass(frozen=True)
class StatusIn(_Timeless):
    statuses: frozenset[Status]

    def evaluate(self, facts: Facts) -> Finding:
        status = facts.campaign.status
        if status in self.statuses:
            return Finding(True, f"status is {status}")
        wanted = _words(frozenset(s.value for s in self.statuses))
        return Finding(False, f"status is {status}, rule wants {wanted}")


@dataclass(frozen=True)
class NameGlob(_Timeless):
    patterns: tuple[str, ...]

    def evaluate(self, facts: Facts) -> Finding:
        name = facts.campaign.name
        for pattern in self.patterns:
            if fnmatchcase(name, pattern):
                return Finding(True, f"name {name!r} matches {pattern!r}")
        return Finding(False, f"name {name!r} does not match {_words(self.patterns)}")


class TextPattern(Protocol):
    """A compiled regular expression, as `name_regex` holds it: RE2 (linear time), so no
    pattern can make a campaign name cost more than its length."""

    @property
    def pattern(self) -> str: ...

    def search(self, text: str) -> object | None: ...


@dataclass(frozen=True)
class NameRegex(_Timeless):
    pattern: TextPattern

    def evaluate(self, facts: Facts) -> Finding:
        name = facts.campaign.name
        found = self.pattern.search(name) is not None
        verb = "matches" if found else "does not match"
        return Finding(found, f"name {name!r} {verb} /{self.pattern.pattern}/")


@dataclass(frozen=True)
class FieldIn(_Timeless):
    """An exact match on a plain string field of the campaign (`type`, `caller_id`)."""

    field: str
    values: tuple[str, ...]

    def evaluate(self, facts: Facts) -> Finding:
        actual = str(getattr(facts.campaign, self.field))
        if actual in self.values:
            return Finding(True, f"{self.field} is {actual!r}")
        wanted = " or ".join(repr(v) for v in self.values)
        return Finding(False, f"{self.field} is {actual!r}, rule wants {wanted}")


@dataclass(frozen=True)
class CustomField(_Timeless):
    text: str
    whole: bool  # equals (True) or contains (False)

    def evaluate(self, facts: Facts) -> Finding:
        actual = facts.campaign.custom_field
        found = actual == self.text if self.whole else self.text in actual
        verbs = ("equals", "does not equal") if self.whole else ("contains", "does not contain")
        return Finding(found, f"custom_field {actual!r} {verbs[not found]} {self.text!r}")


def _instant(campaign: Campaign, field: str) -> datetime | None:
    value: datetime | None = getattr(campaign, field)
    return value


@dataclass(frozen=True)
class InstantPassed:
    """`send_at: passed`: the campaign's instant is at or before now."""

    field: str

    def evaluate(self, facts: Facts) -> Finding:
        at = _instant(facts.campaign, self.field)
        if at is None:
            return Finding(False, f"no {self.field}")
        if at <= facts.now:
            return Finding(True, f"{self.field} {facts.show(at)} passed")
        return Finding(False, f"{self.field} {facts.show(at)} not passed")

    def wakeups(self, facts: Facts) -> Iterator[datetime]:
        at = _instant(facts.campaign, self.field)
        if at is not None:
            yield at


@dataclass(frozen=True)
class InstantWithin:
    """`end_at: {within: 2h}`: the instant lies in `[now, now + window]`."""

    field: str
    window: timedelta

    def evaluate(self, facts: Facts) -> Finding:
        at = _instant(facts.campaign, self.field)
        if at is None:
            return Finding(False, f"no {self.field}")
        span = format_duration(self.window)
        if facts.now <= at <= facts.now + self.window:
            return Finding(True, f"{self.field} {facts.show(at)} is within the next {span}")
        return Finding(False, f"{self.field} {facts.show(at)} is not within the next {span}")

    def wakeups(self, facts: Facts) -> Iterator[datetime]:
        at = _instant(facts.campaign, self.field)
        if at is not None:
            yield at - self.window
            yield at + timedelta(microseconds=1)  # the window is closed: it ends just after


@dataclass(frozen=True)
class Age:
    """`age: 30d`: created at least that long ago."""

    minimum: timedelta

    def evaluate(self, facts: Facts) -> Finding:
        created = facts.campaign.date_created
        if created is None:
            return Finding(False, "no date_created")
        age = facts.now - created
        held = age >= self.minimum
        sign = "≥" if held else "<"
        return Finding(held, f"created {format_duration(age)} ago ({sign} {_min(self.minimum)})")

    def wakeups(self, facts: Facts) -> Iterator[datetime]:
        if facts.campaign.date_created is not None:
            yield facts.campaign.date_created + self.minimum


def _min(minimum: timedelta) -> str:
    return format_duration(minimum)


@dataclass(frozen=True)
class InStatusFor:
    """`in_status_for: 7d`: in the current status for at least that long.

    Counted from the status change this daemon observed; for a campaign first seen already
    in its status, from that first sight (a lower bound, so the reason says "≥"), unless
    the rules file trusts `date_updated` (`trust_date_updated: true`)."""

    minimum: timedelta
    trust_date_updated: bool = False

    def start(self, facts: Facts) -> StatusStart | None:
        history = facts.history
        return history.status_start(facts.campaign, trust_date_updated=self.trust_date_updated)

    def evaluate(self, facts: Facts) -> Finding:
        start, status = self.start(facts), facts.campaign.status
        if start is None:
            reason = f"{status} since an unknown time: {self._unknown(facts)}"
            return Finding(False, reason, unknown=True)
        spent = facts.now - start.at
        held = spent >= self.minimum
        sign = "≥" if held else "<"
        span = f"{format_duration(spent)} ({sign} {_min(self.minimum)})"
        if start.basis == SinceBasis.FIRST_SEEN:
            # A lower bound below the minimum says nothing about the true time: unknown.
            reason = f"{status} for ≥ {span}, first seen {facts.show(start.at)}"
            return Finding(held, reason, unknown=not held)
        if start.basis == SinceBasis.DATE_UPDATED:
            trusted = "from date_updated, trusted by the rules file"
            return Finding(held, f"{status} since {facts.show(start.at)} ({trusted}): {span}")
        return Finding(held, f"{status} for {span}")

    def _unknown(self, facts: Facts) -> str:
        if self.trust_date_updated:
            return "not yet observed by this daemon, and no date_updated"
        return "not yet observed by this daemon (time in status counts from first sight)"

    def wakeups(self, facts: Facts) -> Iterator[datetime]:
        start = self.start(facts)
        if start is not None:
            yield start.at + self.minimum


@dataclass(frozen=True)
class PausedBy(_Timeless):
    """`paused_by: RULE`: paused, and the last thing this daemon did was a pause under RULE."""

    rule: str

    def evaluate(self, facts: Facts) -> Finding:
        if facts.campaign.status != Status.PAUSED:
            return Finding(False, f"status is {facts.campaign.status}, not paused by {self.rule}")
        last = facts.history.last_action(facts.campaign.id)
        if last is None:
            return Finding(False, "paused, but not by this daemon (paused by hand)")
        if last.step != Action.PAUSE:
            return Finding(False, f"paused by hand after our {last.step} at {facts.show(last.at)}")
        if last.rule != self.rule:
            return Finding(False, f"paused by rule {last.rule}, not {self.rule}")
        since = facts.history.status_since.get(facts.campaign.id)
        if last.done_at is not None and since is not None and since > last.done_at:
            # Paused again after our pause took effect: someone resumed and re-paused it.
            return Finding(False, f"paused by hand at {facts.show(since)}, after our pause")
        return Finding(True, f"paused by {self.rule} at {facts.show(last.at)}")


@dataclass(frozen=True)
class FailureRate(_Timeless):
    """`failure_rate: {above, min_calls}` on the campaign's call counts (model.CallCounts).

    A shape with no honest denominator (no counts, stats without `completed`) never
    matches: guessing there would pause healthy campaigns."""

    above: float
    min_calls: int

    def evaluate(self, facts: Facts) -> Finding:
        counts = facts.campaign.counts
        unknown = counts.unknown_because()
        if unknown is not None:
            return Finding(False, f"failure rate unknown: {unknown}", unknown=True)
        done, rate = counts.done or 0, counts.failure_rate
        if rate is None:
            return Finding(False, "no calls done yet")
        if done < self.min_calls:
            return Finding(False, f"only {done} calls done (< {self.min_calls} needed)")
        held = rate > self.above
        sign = ">" if held else "≤"
        where = f"from {counts.source}"
        return Finding(
            held, f"failure rate {rate:.0%} over {done} calls ({sign} {self.above:.0%}, {where})"
        )


_SYMBOLS = {"above": ">", "below": "<", "equals": "="}


@dataclass(frozen=True)
class Counter(_Timeless):
    """One test on a reported count by its exact key (`campaign.counter`): stats keys from
    `stats`, `call_*` keys from a summary block; a key not reported counts as 0."""

    key: str
    op: str  # "above", "below" or "equals"
    value: int

    def evaluate(self, facts: Facts) -> Finding:
        reported = facts.campaign.counter(self.key)
        actual = 0 if reported is None else reported
        held = {
            "above": actual > self.value,
            "below": actual < self.value,
            "equals": actual == self.value,
        }[self.op]
        symbol = _SYMBOLS[self.op]
        shown = f"{actual}" if reported is not None else "0 (not reported)"
        if held:
            return Finding(True, f"{self.key} is {shown} ({symbol} {self.value})")
        return Finding(False, f"{self.key} is {shown}, rule wants {symbol} {self.value}")


@dataclass(frozen=True)
class Window:
    """`when: {inside: CAL}` / `{outside: CAL}`, evaluated on the calendar's wall clock."""

    calendar: Calendar
    inside: bool

    def evaluate(self, facts: Facts) -> Finding:
        moment = facts.moment(self.calendar)
        said = facts.windows.get(self.calendar.name)
        reason = said if said is not None else self.describe(moment, facts.now)
        return Finding(moment.is_open == self.inside, reason)

    def describe(self, moment: Moment, now: datetime) -> str:
        cal = self.calendar
        if moment.is_open:
            until = f" until {_wall(moment.next, now, cal)}" if moment.next else ""
            return f"inside {cal.name}{until}"
        parts = [f"closed since {_wall(moment.previous, now, cal)}"] if moment.previous else []
        if moment.next:
            parts.append(f"opens {_wall(moment.next, now, cal, zone=False)}")
        detail = f" ({', '.join(parts)})" if parts else ""
        return f"outside {cal.name}{detail}"

    def wakeups(self, facts: Facts) -> Iterator[datetime]:
        following = facts.moment(self.calendar).next
        if following is not None:
            yield following


def _wall(instant: datetime, now: datetime, cal: Calendar, *, zone: bool = True) -> str:
    """`19:00 Asia/Kolkata` today, `Mon 09:30` this week, else the date."""
    local, today = instant.astimezone(cal.tz), now.astimezone(cal.tz)
    days = abs((local.date() - today.date()).days)
    form = "%H:%M" if days == 0 else "%a %H:%M" if days < 7 else "%Y-%m-%d %H:%M"
    suffix = f" {cal.tz.key}" if zone else ""
    return local.strftime(form) + suffix


@dataclass(frozen=True)
class AllOf:
    parts: tuple[Condition, ...]

    def evaluate(self, facts: Facts) -> Finding:
        reasons: list[str] = []
        for part in self.parts:
            finding = part.evaluate(facts)
            if not finding.matched:
                return finding
            reasons.append(finding.reason)
        return Finding(True, "; ".join(reasons) or "matches every campaign")

    def wakeups(self, facts: Facts) -> Iterator[datetime]:
        for part in self.parts:
            yield from part.wakeups(facts)


@dataclass(frozen=True)
class AnyOf:
    parts: tuple[Condition, ...]

    def evaluate(self, facts: Facts) -> Finding:
        reasons: list[str] = []
        unknown = False
        for part in self.parts:
            finding = part.evaluate(facts)
            if finding.matched:
                return finding
            reasons.append(finding.reason)
            unknown = unknown or finding.unknown
        return Finding(False, f"none of: {'; '.join(reasons)}", unknown=unknown)

    def wakeups(self, facts: Facts) -> Iterator[datetime]:
        for part in self.parts:
            yield from part.wakeups(facts)


@dataclass(frozen=True)
class Not:
    """`not:`: holds when the inner conditions (all of them together) do not."""

    inner: Condition

    def evaluate(self, facts: Facts) -> Finding:
        finding = self.inner.evaluate(facts)
        if finding.unknown:
            return Finding(False, f"not ({finding.reason}): unknown", unknown=True)
        return Finding(not finding.matched, f"not ({finding.reason})")

    def wakeups(self, facts: Facts) -> Iterator[datetime]:
        return self.inner.wakeups(facts)
