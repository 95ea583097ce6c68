"""Warnings about rules that load but probably do not do what their author meant.

Each check is conservative: a warning should be right when it fires, so checks that
would need to reason about arbitrary conditions only look at statuses and windows.
Examples of instants are taken from the week(s) after `at` (a fixed reference unless the
caller passes the current time), so the output is deterministic.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import combinations

from lifecycle.errors import Problem
from lifecycle.model import ACTION_GOAL, Action, Mode, Status, path_to
from lifecycle.rules.conditions import PausedBy, StatusIn, Window
from lifecycle.rules.document import Document, Path
from lifecycle.rules.problems import problem_at
from lifecycle.rules.ruleset import Rule, Ruleset

REFERENCE = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday
_SPAN = timedelta(days=28)
_YEAR = timedelta(days=366)
_ALL = frozenset(s for s in Status if s != Status.UNKNOWN)
Interval = tuple[datetime, datetime]


def lint(ruleset: Ruleset, doc: Document, *, at: datetime | None = None) -> list[Problem]:
    """Every warning for `ruleset`, located in `doc`, sorted by line."""
    ref = at or REFERENCE
    findings = [
        *_catch_alls(ruleset),
        *_shadowed(ruleset),
        *_pointless(ruleset),
        *_opposites(ruleset, ref),
        *_calendars(ruleset, ref),
    ]
    problems = [
        problem_at(doc, path, message, file=ruleset.source, at_key=at_key, severity="warning")
        for path, message, at_key in findings
    ]
    return sorted(problems, key=lambda p: (p.line, p.column, p.message))


Finding = tuple[Path, str, bool]  # where, what, point at the key rather than the value


def _catch_alls(ruleset: Ruleset) -> Iterator[Finding]:
    for i, rule in enumerate(ruleset.rules):
        if not rule.condition.parts:
            message = f"rule '{rule.name}' has no 'when' and no 'match': it acts on every campaign"
            yield ("rules", i), message, False


def _covers(earlier: Rule, later: Rule) -> bool:
    """Whether every campaign `later` matches is matched by `earlier` first."""
    if earlier.condition == later.condition:
        return True
    if any(not isinstance(part, StatusIn) for part in earlier.condition.parts):
        return False
    if earlier.statuses is None:
        return True
    return later.statuses is not None and later.statuses <= earlier.statuses


def _shadowed(ruleset: Ruleset) -> Iterator[Finding]:
    for i, rule in enumerate(ruleset.rules):
        earlier = next((e for e in ruleset.rules[:i] if _covers(e, rule)), None)
        if earlier is not None:
            message = (
                f"rule '{rule.name}' can never fire: rule '{earlier.name}' comes first "
                f"and matches every campaign it matches"
            )
            yield ("rules", i), message, False


def _pointless(ruleset: Ruleset) -> Iterator[Finding]:
    for i, rule in enumerate(ruleset.rules):
        statuses = sorted(rule.statuses or (), key=list(Status).index)
        if not statuses or any(path_to(s, rule.action) for s in statuses):
            continue
        goal = ACTION_GOAL[rule.action]
        why = ", ".join(
            f"{s}: already {goal}" if s == goal else f"{s}: no legal path to {goal}"
            for s in statuses
        )
        message = f"{rule.action} never acts on the statuses this rule matches ({why})"
        yield ("rules", i, "match", "status"), message, False


# Opposite goals, each from the statuses where its action still has something to do.
_OPPOSITE = (Action.PAUSE, Action.RESUME)


def _acting_statuses(rule: Rule) -> frozenset[Status]:
    statuses = rule.statuses if rule.statuses is not None else _ALL
    return frozenset(s for s in statuses if path_to(s, rule.action))


def _can_fight(first: Rule, second: Rule) -> bool:
    """A pause rule and a resume rule, both enforcing, both with statuses to act on, and
    the resume not restricted (by `paused_by`) to campaigns some other rule paused."""
    rules = {first.action: first, second.action: second}
    if set(rules) != set(_OPPOSITE) or Mode.DRY_RUN in (first.mode, second.mode):
        return False
    if not (_acting_statuses(first) and _acting_statuses(second)):
        return False
    owners = {p.rule for p in rules[Action.RESUME].condition.parts if isinstance(p, PausedBy)}
    return not owners or rules[Action.PAUSE].name in owners


def _opposites(ruleset: Ruleset, ref: datetime) -> Iterator[Finding]:
    indexed = list(enumerate(ruleset.rules))
    for (_, first), (j, second) in combinations(indexed, 2):
        if not _can_fight(first, second):
            continue
        when = _common_instant(first.window, second.window, ref)
        if when is None:
            continue
        message = (
            f"rule '{second.name}' ({second.action}) and rule '{first.name}' "
            f"({first.action}) can both apply {when}: they would undo each other"
        )
        yield ("rules", j), message, False


def _common_instant(a: Window | None, b: Window | None, ref: datetime) -> str | None:
    """When both windows hold at once: "at any time", "e.g. Mon 2026-01-05 09:30 …", or None."""
    if a is None and b is None:
        return "at any time"
    end = ref + _SPAN
    spans = [_active(w, ref, end) for w in (a, b) if w is not None]
    common = spans[0] if len(spans) == 1 else _intersect(spans[0], spans[1])
    if not common:
        return None
    start = common[0][0]
    window = a or b
    assert window is not None
    local = start.astimezone(window.calendar.tz)
    return f"(e.g. {local.strftime('%a %Y-%m-%d %H:%M')} {window.calendar.tz.key})"


def _active(window: Window, start: datetime, end: datetime) -> list[Interval]:
    opened = window.calendar.open_intervals(start, end)
    return opened if window.inside else _complement(opened, start, end)


def _complement(intervals: list[Interval], start: datetime, end: datetime) -> list[Interval]:
    gaps: list[Interval] = []
    cursor = start
    for lo, hi in intervals:
        if lo > cursor:
            gaps.append((cursor, lo))
        cursor = max(cursor, hi)
    if cursor < end:
        gaps.append((cursor, end))
    return gaps


def _intersect(a: list[Interval], b: list[Interval]) -> list[Interval]:
    found: list[Interval] = []
    for lo_a, hi_a in a:
        for lo_b, hi_b in b:
            lo, hi = max(lo_a, lo_b), min(hi_a, hi_b)
            if lo < hi:
                found.append((lo, hi))
    return sorted(found)


def _calendars(ruleset: Ruleset, ref: datetime) -> Iterator[Finding]:
    used = {rule.window.calendar.name for rule in ruleset.rules if rule.window is not None}
    for name, calendar in ruleset.calendars.items():
        if calendar.next_change(ref, horizon=_YEAR) is None and not calendar.is_open(ref):
            yield ("calendars", name), f"calendar '{name}' is never open within a year", True
        if name not in used:
            yield ("calendars", name), f"calendar '{name}' is not used by any rule", True
