"""Conditions compiled, at load time, to fast predicates.

A condition's `evaluate` builds reason text for every answer; the engine asks "does it
hold?" of every campaign and needs words only for the winning rule (and `why`). So each
condition also compiles to a `Test`: `test(campaign, glance) -> True | False | None`,
with no text. None is the condition's *unknown* (no honest failure rate, a lower-bound
time in status): it never matches and `not:` keeps it unknown, exactly as
`Finding.unknown`. (`threshold` compiles the instants its answer may change at.)

Contract: `test(c, g) is True` exactly when `evaluate(facts).matched`, `test(c, g) is
None` exactly when the finding is unknown, and a test raises exactly when `evaluate`
would (an instant too close to year 1 or 9999 to write in the rules' zone), so a
campaign the old way could not judge is still set aside. tests/test_engine_reference.py
holds the two ways to the same answers on random fleets and rule files.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from fnmatch import translate
from re import compile as compile_regex

from lifecycle.instant import format_instant
from lifecycle.model import Action, Campaign, History, SinceBasis, Status
from lifecycle.rules import conditions as c


@dataclass(frozen=True, slots=True)
class Glance:
    """What a compiled condition may look at besides the campaign: the same for a tick."""

    now: datetime
    history: History
    tz: tzinfo  # the rules' zone, in which reasons write instants
    moments: Mapping[str, c.Moment]


Test = Callable[[Campaign, Glance], bool | None]

# Inside these bounds an instant can be written in any zone; outside, `writable` asks the
# zone itself, as the reason text would.
_SAFE_FROM = datetime(1, 1, 3, tzinfo=UTC)
_SAFE_UNTIL = datetime(9999, 12, 29, tzinfo=UTC)


def writable(at: datetime, tz: tzinfo) -> None:
    """Raise as `format_instant(at, tz)` would (OverflowError near year 1 or 9999)."""
    if not _SAFE_FROM <= at <= _SAFE_UNTIL:
        format_instant(at, tz)


def compile_test(condition: c.Condition) -> Test:
    """The fast predicate of `condition` (see the module doc for its contract)."""
    match condition:
        case c.AllOf():
            return _all_of(condition)
        case c.AnyOf():
            return _any_of(condition)
        case c.Not():
            return _not(condition)
        case c.StatusIn():
            return _status_in(condition)
        case c.NameGlob():
            return _name_glob(condition)
        case c.NameRegex():
            return _name_regex(condition)
        case c.FieldIn():
            return _field_in(condition)
        case c.CustomField():
            return _custom_field(condition)
    return _timed_test(condition)


def _timed_test(condition: c.Condition) -> Test:
    match condition:
        case c.InstantPassed():
            return _instant_passed(condition)
        case c.InstantWithin():
            return _instant_within(condition)
        case c.Age():
            return _age(condition)
        case c.InStatusFor():
            return _in_status_for(condition)
        case c.PausedBy():
            return _paused_by(condition)
        case c.FailureRate():
            return _failure_rate(condition)
        case c.Counter():
            return _counter(condition)
        case c.Window():
            return _window(condition)
    raise TypeError(f"no compiled form for condition {type(condition).__name__}")


def _all_of(cond: c.AllOf) -> Test:
    tests = tuple(compile_test(part) for part in cond.parts)
    if len(tests) == 1:
        return tests[0]  # one part: its answer is the whole answer
    if not tests:
        return lambda campaign, g: True  # no parts: matches every campaign

    def test(campaign: Campaign, g: Glance) -> bool | None:
        for part in tests:
            found = part(campaign, g)
            if found is not True:
                return found  # the first part that does not hold decides, unknown or not
        return True

    return test


def _any_of(cond: c.AnyOf) -> Test:
    tests = tuple(compile_test(part) for part in cond.parts)

    def test(campaign: Campaign, g: Glance) -> bool | None:
        unknown = False
        for part in tests:
            found = part(campaign, g)
            if found is True:
                return True
            unknown = unknown or found is None
        return None if unknown else False

    return test


def _not(cond: c.Not) -> Test:
    inner = compile_test(cond.inner)

    def test(campaign: Campaign, g: Glance) -> bool | None:
        found = inner(campaign, g)
        return None if found is None else not found

    return test


def _status_in(cond: c.StatusIn) -> Test:
    statuses = cond.statuses
    return lambda campaign, g: campaign.status in statuses


def _name_glob(cond: c.NameGlob) -> Test:
    # What fnmatchcase does per call (translate, compile), done once.
    matchers = tuple(compile_regex(translate(p)).match for p in cond.patterns)
    return lambda campaign, g: any(m(campaign.name) is not None for m in matchers)


def _name_regex(cond: c.NameRegex) -> Test:
    search = cond.pattern.search
    return lambda campaign, g: search(campaign.name) is not None


def _field_in(cond: c.FieldIn) -> Test:
    name, values = cond.field, cond.values
    return lambda campaign, g: str(getattr(campaign, name)) in values


def _custom_field(cond: c.CustomField) -> Test:
    text = cond.text
    if cond.whole:
        return lambda campaign, g: campaign.custom_field == text
    return lambda campaign, g: text in campaign.custom_field


def _instant_passed(cond: c.InstantPassed) -> Test:
    name = cond.field

    def test(campaign: Campaign, g: Glance) -> bool | None:
        at: datetime | None = getattr(campaign, name)
        if at is None:
            return False
        writable(at, g.tz)
        return at <= g.now

    return test


def _instant_within(cond: c.InstantWithin) -> Test:
    name, window = cond.field, cond.window

    def test(campaign: Campaign, g: Glance) -> bool | None:
        at: datetime | None = getattr(campaign, name)
        if at is None:
            return False
        writable(at, g.tz)
        return g.now <= at <= g.now + window

    return test


def _age(cond: c.Age) -> Test:
    minimum = cond.minimum

    def test(campaign: Campaign, g: Glance) -> bool | None:
        created = campaign.date_created
        return created is not None and g.now - created >= minimum

    return test


def _in_status_for(cond: c.InStatusFor) -> Test:
    minimum, trust = cond.minimum, cond.trust_date_updated

    def test(campaign: Campaign, g: Glance) -> bool | None:
        start = g.history.status_start(campaign, trust_date_updated=trust)
        if start is None:
            return None
        held = g.now - start.at >= minimum
        if start.basis == SinceBasis.OBSERVED:
            return held
        writable(start.at, g.tz)
        # A first sight is a lower bound: below the minimum it says nothing (unknown).
        return held if held or start.basis == SinceBasis.DATE_UPDATED else None

    return test


def _paused_by(cond: c.PausedBy) -> Test:
    rule = cond.rule

    def test(campaign: Campaign, g: Glance) -> bool | None:
        if campaign.status != Status.PAUSED:
            return False
        last = g.history.last_action(campaign.id)
        if last is None:
            return False
        if last.step != Action.PAUSE:
            writable(last.at, g.tz)
            return False
        if last.rule != rule:
            return False
        since = g.history.status_since.get(campaign.id)
        if last.done_at is not None and since is not None and since > last.done_at:
            writable(since, g.tz)
            return False  # someone resumed and re-paused it after our pause
        writable(last.at, g.tz)
        return True

    return test


def _failure_rate(cond: c.FailureRate) -> Test:
    above, min_calls = cond.above, cond.min_calls

    def test(campaign: Campaign, g: Glance) -> bool | None:
        counts = campaign.counts
        if counts.unknown_because() is not None:
            return None
        rate = counts.failure_rate
        if rate is None or (counts.done or 0) < min_calls:
            return False
        return rate > above

    return test


def _counter(cond: c.Counter) -> Test:
    key, op, value = cond.key, cond.op, cond.value
    compare: Callable[[int], bool] = {
        "above": lambda actual: actual > value,
        "below": lambda actual: actual < value,
        "equals": lambda actual: actual == value,
    }[op]

    def test(campaign: Campaign, g: Glance) -> bool | None:
        reported = campaign.counter(key)
        return compare(0 if reported is None else reported)

    return test


def _window(cond: c.Window) -> Test:
    inside = cond.inside

    def test(campaign: Campaign, g: Glance) -> bool | None:
        return moment_of(cond, g).is_open == inside

    return test


def moment_of(window: c.Window, g: Glance) -> c.Moment:
    """The state of `window`'s calendar at the glance's instant."""
    known = g.moments.get(window.calendar.name)
    # As Facts.moment: a calendar missing from the tick's moments is asked directly.
    return known if known is not None else c.Moment.of(window.calendar, g.now)
