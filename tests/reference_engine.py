"""A straightforward reference evaluator for `plan()`, kept in tests to check the engine.

For each campaign, every rule in file order evaluates every condition (with its reason
text), exactly as the engine did before it was made fast: the first match wins, later
matches are shadowed, guards hold back, limits defer, and `next_wakeup` walks every
(campaign, rule) pair. Slow on purpose: it is the meaning, not the implementation.
`bench/bench_plan.py` runs it beside the engine to report the speed-up.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime

from lifecycle.engine.budget import Budget
from lifecycle.engine.guards import Situation, guard_wakeups, objection
from lifecycle.engine.planner import set_aside_for
from lifecycle.instant import to_utc
from lifecycle.model import (
    ACTION_GOAL,
    Campaign,
    Decision,
    History,
    Mode,
    Plan,
    SetAside,
    Skip,
    SkipKind,
    Status,
    path_to,
)
from lifecycle.rules import Rule, Ruleset
from lifecycle.rules.conditions import Facts, Moment, StatusIn, Window


def reference_plan(
    campaigns: Sequence[Campaign],
    ruleset: Ruleset,
    history: History,
    now: datetime,
    *,
    dry_run: bool = False,
) -> Plan:
    """What `lifecycle.engine.plan` must answer, computed the long way."""
    now = to_utc(now)
    moments = {name: Moment.of(cal, now) for name, cal in ruleset.calendars.items()}
    budget = Budget(ruleset.max_actions_per_tick)
    decisions: list[Decision] = []
    skipped: list[Skip] = []
    set_aside: list[SetAside] = []
    for campaign in campaigns:
        facts = Facts(campaign, history, now, ruleset.timezone, moments)
        try:
            judged = _judge(facts, ruleset, dry_run=dry_run)
        except Exception as exc:
            set_aside.append(set_aside_for(campaign, exc))
            continue
        for item in judged:
            admitted = budget.admit(item, ruleset) if isinstance(item, Decision) else item
            (decisions if isinstance(admitted, Decision) else skipped).append(admitted)  # type: ignore[arg-type]
    aside = {s.campaign_id for s in set_aside}
    kept = [c for c in campaigns if c.id not in aside]
    wakeup = reference_wakeup(kept, ruleset, history, now, moments)
    return Plan(now, ruleset.hash, tuple(decisions), tuple(skipped), wakeup, tuple(set_aside))


def _judge(facts: Facts, ruleset: Ruleset, *, dry_run: bool) -> list[Decision | Skip]:
    matches = [(r, f) for r in ruleset.rules if (f := r.condition.evaluate(facts)).matched]
    if not matches:
        return []
    (first, verdict), campaign = matches[0], facts.campaign
    steps = path_to(campaign.status, first.action)
    if steps == ():
        return []
    shadowed = [
        _skip(campaign, rule, f"shadowed by {first.name}", SkipKind.SHADOWED)
        for rule, _ in matches[1:]
    ]
    if steps is None:
        return [_skip(campaign, first, _no_path(campaign, first)), *shadowed]
    reason = objection(Situation(first, facts, ruleset))
    if reason is not None:
        return [_skip(campaign, first, reason), *shadowed]
    mode = Mode.DRY_RUN if dry_run else first.mode
    decision = Decision(
        campaign.id, campaign.name, campaign.status, first.name, first.action, steps, mode,
        verdict.reason,
    )  # fmt: skip
    return [decision, *shadowed]


def _skip(campaign: Campaign, rule: Rule, reason: str, kind: SkipKind = SkipKind.SKIPPED) -> Skip:
    return Skip(campaign.id, campaign.name, rule.name, rule.action, reason, kind)


def _no_path(campaign: Campaign, rule: Rule) -> str:
    if campaign.status == Status.UNKNOWN:
        raw = f" (API said {campaign.raw_status!r})" if campaign.raw_status else ""
        return f"status unknown{raw}; never acted on"
    return f"no legal path from {campaign.status} to {ACTION_GOAL[rule.action]}"


def reference_wakeup(
    campaigns: Sequence[Campaign],
    ruleset: Ruleset,
    history: History,
    now: datetime,
    moments: Mapping[str, Moment],
) -> datetime | None:
    """The earliest candidate after `now`: every windowed rule's calendar edge, and for
    each (campaign, rule that could act on it) its timed conditions and guard lapses."""
    later = [at for at in _candidates(campaigns, ruleset, history, now, moments) if at > now]
    return min(later, default=None)


def _candidates(
    campaigns: Sequence[Campaign],
    ruleset: Ruleset,
    history: History,
    now: datetime,
    moments: Mapping[str, Moment],
) -> Iterator[datetime]:
    for rule in ruleset.rules:
        if rule.window is not None:
            edge = moments[rule.window.calendar.name].next
            if edge is not None:
                yield edge
    for campaign in campaigns:
        facts = Facts(campaign, history, now, ruleset.timezone, moments)
        try:
            found = [at for rule in ruleset.rules for at in _rule_wakeups(rule, facts, ruleset)]
        except (ArithmeticError, ValueError):  # odd data: plan() sets the campaign aside
            continue
        yield from found


def _rule_wakeups(rule: Rule, facts: Facts, ruleset: Ruleset) -> Iterator[datetime]:
    status = facts.campaign.status
    if rule.statuses is not None and status not in rule.statuses:
        return
    if path_to(status, rule.action) in (None, ()):
        return
    for part in rule.condition.parts:
        if not isinstance(part, Window | StatusIn):
            yield from part.wakeups(facts)
    yield from guard_wakeups(Situation(rule, facts, ruleset))
