"""The compiled rules: what the engine evaluates, built from a validated `RulesFile`."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property
from zoneinfo import ZoneInfo

from lifecycle.model import Action, Mode, Status
from lifecycle.rules import conditions as c
from lifecycle.rules.calendar import Calendar
from lifecycle.rules.predicate import Test, compile_test
from lifecycle.rules.schema import InstantSpec, ManualChange, MatchSpec, RulesFile, RuleSpec
from lifecycle.rules.threshold import Thresholds, compile_thresholds


@dataclass(frozen=True)
class FlapGuard:
    """More than `max_reversals` pause↔resume reversals within `within` → leave it alone."""

    max_reversals: int
    within: timedelta


@dataclass(frozen=True)
class Rule:
    """One rule, with its file defaults applied.

    `condition` is everything that must hold for the rule to match, as its parts in order
    (status first, then the window, then the rest); `window` and `statuses` are kept apart
    for the engine's guards and for `check`'s warnings.

    `test` and `timed` are the rest of the condition (after the status and the window,
    which the engine checks once per tick for all campaigns), compiled at load time:
    the fast predicate (`lifecycle.rules.predicate`) and the per-campaign thresholds
    (`lifecycle.rules.threshold`; None when timeless).
    """

    name: str
    action: Action
    condition: c.AllOf
    window: c.Window | None
    statuses: frozenset[Status] | None
    mode: Mode
    on_manual_change: ManualChange
    cooldown: timedelta | None = None
    max_actions_per_tick: int | None = None
    description: str = ""
    test: Test = dataclasses.field(kw_only=True, compare=False, repr=False)
    timed: Thresholds | None = dataclasses.field(kw_only=True, compare=False, repr=False)


@dataclass(frozen=True)
class Ruleset:
    hash: str  # "sha256:<hex of the file bytes>"; every decision carries it
    source: str
    timezone: ZoneInfo
    calendars: Mapping[str, Calendar]
    rules: tuple[Rule, ...]
    max_actions_per_tick: int | None = None
    flap_guard: FlapGuard | None = None
    # Count time in status from the API's date_updated for a campaign first seen already
    # in its status (else from that first sight: a lower bound). Off unless the file says.
    trust_date_updated: bool = False

    def rule(self, name: str) -> Rule | None:
        """The rule called `name` (names are unique in a loaded file), in constant time:
        the engine asks for each decision, so a scan would cost decisions × rules."""
        return self._by_name.get(name)

    @cached_property
    def _by_name(self) -> Mapping[str, Rule]:
        by_name: dict[str, Rule] = {}
        for rule in self.rules:
            by_name.setdefault(rule.name, rule)  # the first, as a scan would find it
        return by_name


def compile_ruleset(spec: RulesFile, *, hash: str, source: str) -> Ruleset:
    """Calendars first (rules refer to them by name), then each rule in file order.

    Raises KeyError for a `when:` naming an unknown calendar: the loader reports those
    itself before calling this.
    """
    calendars = {name: cal.compile(name, spec.timezone) for name, cal in spec.calendars.items()}
    guard = spec.flap_guard
    return Ruleset(
        hash=hash,
        source=source,
        timezone=spec.timezone,
        calendars=calendars,
        rules=tuple(_compile_rule(r, spec, calendars) for r in spec.rules),
        max_actions_per_tick=spec.max_actions_per_tick,
        flap_guard=FlapGuard(guard.max_reversals, guard.within) if guard else None,
        trust_date_updated=spec.trust_date_updated,
    )


def _compile_rule(rule: RuleSpec, spec: RulesFile, calendars: Mapping[str, Calendar]) -> Rule:
    window = None
    if rule.when is not None:
        window = c.Window(calendars[rule.when.calendar], inside=rule.when.inside is not None)
    statuses = rule.match.status
    match = rule.match.model_copy(update={"status": None})
    rest = compile_match(match, trust_date_updated=spec.trust_date_updated)
    head: list[c.Condition] = [c.StatusIn(statuses)] if statuses else []
    parts = (*head, *([window] if window else []), *rest.parts)
    return Rule(
        name=rule.name,
        action=rule.action,
        condition=c.AllOf(parts),
        window=window,
        statuses=statuses,
        mode=rule.mode or spec.defaults.mode,
        on_manual_change=rule.on_manual_change or spec.defaults.on_manual_change,
        cooldown=spec.defaults.cooldown if rule.cooldown is None else rule.cooldown,
        max_actions_per_tick=rule.max_actions_per_tick,
        description=rule.description or "",
        test=compile_test(rest),
        timed=compile_thresholds(rest),
    )


def compile_match(spec: MatchSpec, *, trust_date_updated: bool = False) -> c.AllOf:
    """All conditions given in `spec`, in a fixed order (cheap and telling ones first).
    `trust_date_updated` is the file's choice for every `in_status_for` inside."""
    parts: list[c.Condition] = []
    if spec.status:
        parts.append(c.StatusIn(spec.status))
    parts.extend(_identity_parts(spec))
    parts.extend(_time_parts(spec, trust_date_updated=trust_date_updated))
    parts.extend(_progress_parts(spec))

    def inner(nested: MatchSpec) -> c.Condition:
        return compile_match(nested, trust_date_updated=trust_date_updated)

    parts.extend(inner(nested) for nested in spec.all or ())
    if spec.any is not None:
        parts.append(c.AnyOf(tuple(inner(nested) for nested in spec.any)))
    if spec.not_ is not None:
        parts.append(c.Not(inner(spec.not_)))
    return c.AllOf(tuple(parts))


def _identity_parts(spec: MatchSpec) -> list[c.Condition]:
    parts: list[c.Condition] = []
    if spec.name:
        parts.append(c.NameGlob(spec.name))
    if spec.name_regex is not None:
        parts.append(c.NameRegex(spec.name_regex))
    if spec.type:
        parts.append(c.FieldIn("type", spec.type))
    if spec.caller_id:
        parts.append(c.FieldIn("caller_id", spec.caller_id))
    if spec.custom_field is not None:
        test = spec.custom_field
        if test.equals is not None:
            parts.append(c.CustomField(test.equals, whole=True))
        else:
            parts.append(c.CustomField(str(test.contains), whole=False))
    return parts


def _time_parts(spec: MatchSpec, *, trust_date_updated: bool) -> list[c.Condition]:
    parts: list[c.Condition] = []
    for field in ("send_at", "end_at"):
        instant: InstantSpec | None = getattr(spec, field)
        if instant is None:
            continue
        if instant.within is not None:
            parts.append(c.InstantWithin(field, instant.within))
        else:
            parts.append(c.InstantPassed(field))
    if spec.age is not None:
        parts.append(c.Age(spec.age))
    if spec.in_status_for is not None:
        parts.append(c.InStatusFor(spec.in_status_for, trust_date_updated))
    return parts


def _progress_parts(spec: MatchSpec) -> list[c.Condition]:
    parts: list[c.Condition] = []
    if spec.paused_by is not None:
        parts.append(c.PausedBy(spec.paused_by))
    if spec.failure_rate is not None:
        rate = spec.failure_rate
        parts.append(c.FailureRate(rate.above, rate.min_calls))
    for key, test in sorted((spec.counters or {}).items()):
        for op in ("above", "below", "equals"):
            value: int | None = getattr(test, op)
            if value is not None:
                parts.append(c.Counter(key, op, value))
    return parts
