"""Warnings about rules that load but probably do not do what their author meant.

Each check is conservative: a warning should be right when it fires, so checks that
would need to reason about arbitrary conditions only look at statuses and windows.
Examples of instants are taken from the week(s) after `at` (a fixed reference unless the
caller passes the current time), so the output is deterministic.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from heapq import merge
from itertools import islice

from lifecycle.errors import Problem
from lifecycle.model import ACTION_GOAL, Action, Mode, Status, path_to
from lifecycle.rules.calendar import Calendar
from lifecycle.rules.conditions import AllOf, PausedBy, StatusIn, Window
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


def _is_status_only(rule: Rule) -> bool:
    """Whether the rule tests nothing but `status` (a catch-all tests nothing at all)."""
    return all(isinstance(part, StatusIn) for part in rule.condition.parts)


def _shadowed(ruleset: Ruleset) -> Iterator[Finding]:
    """Rules that an earlier rule always matches first.

    An earlier rule covers a later one when their conditions are equal, or when it tests
    only statuses and those include the later rule's. Rather than testing every earlier
    rule (quadratic in the file), each rule is looked up among the first rule of each
    distinct condition and the first status-only rule of each status set (at most one
    per subset of the eight statuses): linear in the rules.
    """
    first_with: dict[AllOf, int] = {}
    status_only: dict[frozenset[Status] | None, int] = {}
    for i, rule in enumerate(ruleset.rules):
        covering = [first_with.get(rule.condition, i)]
        covering += [k for s, k in status_only.items() if _includes(s, rule.statuses)]
        earlier = min(covering)
        if earlier < i:
            message = (
                f"rule '{rule.name}' can never fire: rule '{ruleset.rules[earlier].name}' "
                f"comes first and matches every campaign it matches"
            )
            yield ("rules", i), message, False
        first_with.setdefault(rule.condition, i)
        if _is_status_only(rule):
            status_only.setdefault(rule.statuses, i)


def _includes(outer: frozenset[Status] | None, inner: frozenset[Status] | None) -> bool:
    """Whether a rule matching statuses `outer` (None: any) matches every one of `inner`."""
    return outer is None or (inner is not None and inner <= outer)


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
_SHOWN = 3  # partners named in one warning; the rest are counted


def _acting_statuses(rule: Rule) -> frozenset[Status]:
    statuses = rule.statuses if rule.statuses is not None else _ALL
    return frozenset(s for s in statuses if path_to(s, rule.action))


def _is_fighter(rule: Rule) -> bool:
    """An enforcing pause or resume rule with statuses left to act on."""
    return rule.action in _OPPOSITE and rule.mode != Mode.DRY_RUN and bool(_acting_statuses(rule))


def _owners(rule: Rule) -> frozenset[str]:
    """The pause rules a resume rule is restricted to (by `paused_by`); empty: any."""
    return frozenset(p.rule for p in rule.condition.parts if isinstance(p, PausedBy))


WindowKey = tuple[str, bool] | None  # (calendar, inside); None: no window, always


def _window_key(rule: Rule) -> WindowKey:
    window = rule.window
    return None if window is None else (window.calendar.name, window.inside)


Earlier = tuple[int, Rule]  # a rule above the one being checked, with its index


@dataclass
class _Fighters:
    """The fighters seen so far, filed so that the ones a new rule can fight with are
    found without looking at the others: pause rules by window and by name; resume rules
    without `paused_by` by window, those with it by the pause rule they name."""

    pauses: dict[WindowKey, list[Earlier]] = field(default_factory=dict)
    pause_named: dict[str, Earlier] = field(default_factory=dict)
    resumes: dict[WindowKey, list[Earlier]] = field(default_factory=dict)
    resumes_owned_by: dict[str, list[Earlier]] = field(default_factory=dict)

    def add(self, i: int, rule: Rule) -> None:
        if rule.action == Action.PAUSE:
            self.pauses.setdefault(_window_key(rule), []).append((i, rule))
            self.pause_named[rule.name] = (i, rule)
        elif owners := _owners(rule):
            for owner in owners:
                self.resumes_owned_by.setdefault(owner, []).append((i, rule))
        else:
            self.resumes.setdefault(_window_key(rule), []).append((i, rule))

    def opponents(self, rule: Rule) -> tuple[list[list[Earlier]], list[Earlier]]:
        """Earlier rules `rule` may fight with by action and `paused_by` (windows not yet
        compared): lists that share one window each, and a short list of any windows
        (the rules tied by `paused_by`); all in file order."""
        if rule.action == Action.PAUSE:
            return list(self.resumes.values()), self.resumes_owned_by.get(rule.name, [])
        owners = _owners(rule)
        if not owners:
            return list(self.pauses.values()), []
        named = (self.pause_named.get(owner) for owner in owners)
        return [], sorted(e for e in named if e is not None)


def _opposites(ruleset: Ruleset, ref: datetime) -> Iterator[Finding]:
    """Each pause or resume rule that an earlier opposite rule can undo at some instant:
    one warning per rule, naming the first such rule and counting the others.

    Only pairs whose windows overlap count. The rules are filed by window as they come
    (`_Fighters`), and two windows compare in one bit operation (`_Overlaps`), so the work
    grows with rules × windows, not with pairs of rules.
    """
    seen = _Fighters()
    overlaps = _Overlaps(ruleset.rules, ref)
    for j, rule in enumerate(ruleset.rules):
        if not _is_fighter(rule):
            continue
        key = _window_key(rule)
        by_window, loose = seen.opponents(rule)
        fighting = [g for g in by_window if g and overlaps.meet(_window_key(g[0][1]), key)]
        fighting.append([e for e in loose if overlaps.meet(_window_key(e[1]), key)])
        if any(fighting):
            yield ("rules", j), _opposite_message(rule, fighting, overlaps), False
        seen.add(j, rule)


def _opposite_message(rule: Rule, fighting: list[list[Earlier]], overlaps: _Overlaps) -> str:
    """The first opponent (in file order) with an instant both apply, then a count of the
    others and a few of their names: one line, however many there are."""
    first_few = [other for _, other in islice(merge(*fighting), 1 + _SHOWN)]
    first = first_few[0]
    when = overlaps.when(_window_key(first), _window_key(rule))
    message = (
        f"rule '{rule.name}' ({rule.action}) and rule '{first.name}' "
        f"({first.action}) can both apply {when}: they would undo each other"
    )
    count = sum(len(group) for group in fighting) - 1
    if count == 0:
        return message
    named = ", ".join(f"'{other.name}'" for other in first_few[1:])
    more = f" and {count - _SHOWN} more" if count > _SHOWN else ""
    return f"{message}; so would {count} more {first.action} rule(s) above it: {named}{more}"


class _Overlaps:
    """Whether and when two windows hold at once, as bit operations.

    Every window's open spans over the sampled four weeks are worked out once. Their
    ends cut those weeks into pieces, and each window becomes an integer with one bit per
    piece it holds in: two windows overlap when their masks share a bit, first at the
    lowest shared bit. Exact to the second, and two windows compare in one `&` however
    many rules use them or how many windows the file has.
    """

    def __init__(self, rules: Iterable[Rule], ref: datetime) -> None:
        self.windows = {_window_key(r): r.window for r in rules if r.window is not None}
        end = ref + _SPAN
        spans = {key: _active(window, ref, end) for key, window in self.windows.items()}
        self.cuts = sorted({ref, end, *(x for s in spans.values() for span in s for x in span)})
        piece = {instant: i for i, instant in enumerate(self.cuts)}
        self.masks: dict[WindowKey, int] = {None: (1 << (len(self.cuts) - 1)) - 1}
        for key, intervals in spans.items():
            self.masks[key] = sum((1 << piece[hi]) - (1 << piece[lo]) for lo, hi in intervals)

    def meet(self, first: WindowKey, second: WindowKey) -> bool:
        """Whether both windows hold at some instant of the sampled weeks."""
        return self.masks[first] & self.masks[second] != 0

    def when(self, first: WindowKey, second: WindowKey) -> str:
        """When both windows hold at once (they `meet`): "at any time" without windows,
        else "(e.g. Mon 2026-01-05 09:30 Zone)" in the zone of `first` (the earlier
        rule's) if it has one."""
        if first is None and second is None:
            return "at any time"
        common = self.masks[first] & self.masks[second]
        start = self.cuts[(common & -common).bit_length() - 1]
        tz = self.windows[first if first is not None else second].calendar.tz
        local = start.astimezone(tz)
        return f"(e.g. {local.strftime('%a %Y-%m-%d %H:%M')} {tz.key})"


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


def _calendars(ruleset: Ruleset, ref: datetime) -> Iterator[Finding]:
    used = {rule.window.calendar.name for rule in ruleset.rules if rule.window is not None}
    for name, calendar in ruleset.calendars.items():
        if _never_open(calendar, ref):
            yield ("calendars", name), f"calendar '{name}' is never open within a year", True
        if name not in used:
            yield ("calendars", name), f"calendar '{name}' is not used by any rule", True


def _never_open(calendar: Calendar, ref: datetime) -> bool:
    """Whether `calendar` stays closed for a year from `ref`. Without a range on any day
    there is nothing to search for: a file of many empty calendars must not cost a year's
    search each."""
    if not any(calendar.weekly) and not any(calendar.special.values()):
        return True
    return calendar.next_change(ref, horizon=_YEAR) is None and not calendar.is_open(ref)
