"""`plan()`: what one tick at `now` will do to each campaign, and when to look again.

Purely computational: no I/O, no clock, no awaiting. The same inputs give the same plan.
Per campaign, rules are tried in file order and the first match wins (like firewall
rules); later matches are recorded as shadowed. A first match whose goal the campaign
already has produces nothing at all (invariant 3: no action when already satisfied).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from lifecycle.engine.budget import Budget
from lifecycle.engine.guards import Situation, objection
from lifecycle.engine.wakeup import next_wakeup
from lifecycle.instant import to_utc
from lifecycle.model import (
    ACTION_GOAL,
    Action,
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
from lifecycle.rules.conditions import Facts, Finding, Moment


@dataclass(frozen=True)
class RuleVerdict:
    """One rule's answer for one campaign, for `lifecycle why`."""

    rule: str
    matched: bool
    reason: str


def plan(
    campaigns: Sequence[Campaign],
    ruleset: Ruleset,
    history: History,
    now: datetime,
    *,
    dry_run: bool = False,
) -> Plan:
    """Decisions and skips for every campaign, in the order given, and the next wake-up.

    `dry_run` turns every decision's mode to dry-run (the global `--dry-run`); limits
    still apply as they would when enforcing, so the plan shows what would happen.
    """
    now = to_utc(now)  # a naive `now` is refused
    moments = moments_at(ruleset, now)
    budget = Budget(ruleset.max_actions_per_tick)
    decisions: list[Decision] = []
    skipped: list[Skip] = []
    set_aside: list[SetAside] = []
    for campaign in campaigns:
        facts = Facts(campaign, history, now, ruleset.timezone, moments)
        try:
            judged = _judge(facts, ruleset, dry_run=dry_run)
        except Exception as exc:  # one campaign's odd data must not cost every other one
            set_aside.append(set_aside_for(campaign, exc))
            continue
        for item in judged:
            admitted = budget.admit(item, ruleset) if isinstance(item, Decision) else item
            if isinstance(admitted, Decision):
                decisions.append(admitted)
            else:
                skipped.append(admitted)
    aside = {s.campaign_id for s in set_aside}
    kept = [c for c in campaigns if c.id not in aside]
    wakeup = next_wakeup(kept, ruleset, history, now, moments)
    return Plan(now, ruleset.hash, tuple(decisions), tuple(skipped), wakeup, tuple(set_aside))


def set_aside_for(campaign: Campaign, exc: Exception) -> SetAside:
    """Why the rules could not be evaluated on `campaign`, as a value."""
    reason = f"rules cannot be evaluated on it: {type(exc).__name__}: {exc}"
    return SetAside(campaign.id, campaign.name, reason)


def explain(
    campaign: Campaign, ruleset: Ruleset, history: History, now: datetime
) -> list[RuleVerdict]:
    """Every rule's verdict on `campaign` at `now`, in file order; the reason names the
    first condition that failed, or what matched."""
    now = to_utc(now)  # a naive `now` is refused
    facts = Facts(campaign, history, now, ruleset.timezone, moments_at(ruleset, now))
    verdicts: list[RuleVerdict] = []
    for rule in ruleset.rules:
        try:
            found = rule.condition.evaluate(facts)
        except Exception as exc:  # as plan() does: the campaign is set aside, not the report
            verdicts.append(
                RuleVerdict(rule.name, False, f"set aside: {set_aside_for(campaign, exc).reason}")
            )
            continue
        verdicts.append(RuleVerdict(rule.name, found.matched, found.reason))
    return verdicts


def moments_at(ruleset: Ruleset, now: datetime) -> Mapping[str, Moment]:
    """Each calendar's state at `now`, computed once per tick rather than per campaign."""
    return {name: Moment.of(cal, now) for name, cal in ruleset.calendars.items()}


def _judge(facts: Facts, ruleset: Ruleset, *, dry_run: bool) -> list[Decision | Skip]:
    matches = [
        (rule, verdict)
        for rule in ruleset.rules
        if (verdict := rule.condition.evaluate(facts)).matched
    ]
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
    return [_decide(first, verdict, steps, facts, dry_run=dry_run), *shadowed]


def _decide(
    rule: Rule, verdict: Finding, steps: tuple[Action, ...], facts: Facts, *, dry_run: bool
) -> Decision:
    campaign = facts.campaign
    return Decision(
        campaign_id=campaign.id,
        campaign_name=campaign.name,
        status=campaign.status,
        rule=rule.name,
        action=rule.action,
        steps=steps,
        mode=Mode.DRY_RUN if dry_run else rule.mode,
        reason=verdict.reason,
    )


def _skip(campaign: Campaign, rule: Rule, reason: str, kind: SkipKind = SkipKind.SKIPPED) -> Skip:
    return Skip(campaign.id, campaign.name, rule.name, rule.action, reason, kind)


def _no_path(campaign: Campaign, rule: Rule) -> str:
    if campaign.status == Status.UNKNOWN:
        raw = f" (API said {campaign.raw_status!r})" if campaign.raw_status else ""
        return f"status unknown{raw}; never acted on"
    return f"no legal path from {campaign.status} to {ACTION_GOAL[rule.action]}"
