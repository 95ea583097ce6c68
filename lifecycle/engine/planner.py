"""`plan()`: what one tick at `now` will do to each campaign, and when to look again.

Purely computational: no I/O, no clock, no awaiting. The same inputs give the same plan.
Per campaign, rules are tried in file order and the first match wins (like firewall
rules); later matches are recorded as shadowed. A first match whose goal the campaign
already has produces nothing at all (invariant 3: no action when already satisfied).

What is the same for every campaign is worked out once per tick (`engine.tick`), rules
are tested with their compiled predicates, and reason text is written only for what the
plan returns; `explain` (for `why`) still evaluates every rule with its full reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from lifecycle.engine.budget import Budget
from lifecycle.engine.guards import Situation, objection
from lifecycle.engine.tick import PATHS, Tick
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
)
from lifecycle.rules import Rule, Ruleset
from lifecycle.rules.conditions import Facts


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
    tick = Tick.at(ruleset, history, now)
    budget = Budget(ruleset.max_actions_per_tick)
    decisions: list[Decision] = []
    skipped: list[Skip] = []
    set_aside: list[SetAside] = []
    matching = tick.matching
    for campaign in campaigns:
        try:
            # A status that is not a Status (a hand-made campaign) fails here: set aside.
            rules = matching[campaign.status]
            if not rules:
                continue  # most of a large fleet (archived, finished): no rule can match
            judged = _judge(campaign, rules, tick, dry_run=dry_run)
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
    kept = [c for c in campaigns if c.id not in aside] if aside else campaigns
    wakeup = next_wakeup(kept, ruleset, history, now, tick=tick)
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
    facts = Tick.at(ruleset, history, now).facts(campaign)
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


def _judge(
    campaign: Campaign, rules: tuple[Rule, ...], tick: Tick, *, dry_run: bool
) -> list[Decision | Skip]:
    """First match wins among `rules` (already admitted by status and window this tick).

    Every candidate is tested, not only up to the first match: a later rule whose data
    cannot be judged sets the campaign aside, as evaluating every rule always did. Words
    are written only for what is returned: the winner's reason, a guard's, a shadowing.
    """
    glance = tick.glance
    matched = [rule for rule in rules if rule.test(campaign, glance) is True]
    if not matched:
        return []
    first = matched[0]
    steps = PATHS[campaign.status, first.action]
    if steps == ():
        return []
    shadowed = [
        _skip(campaign, rule, f"shadowed by {first.name}", SkipKind.SHADOWED)
        for rule in matched[1:]
    ]
    if steps is None:
        return [_skip(campaign, first, _no_path(campaign, first)), *shadowed]
    facts = tick.facts(campaign)
    reason = objection(Situation(first, facts, tick.ruleset))
    if reason is not None:
        return [_skip(campaign, first, reason), *shadowed]
    return [_decide(first, steps, facts, dry_run=dry_run), *shadowed]


def _decide(rule: Rule, steps: tuple[Action, ...], facts: Facts, *, dry_run: bool) -> Decision:
    campaign = facts.campaign
    return Decision(
        campaign_id=campaign.id,
        campaign_name=campaign.name,
        status=campaign.status,
        rule=rule.name,
        action=rule.action,
        steps=steps,
        mode=Mode.DRY_RUN if dry_run else rule.mode,
        reason=rule.condition.evaluate(facts).reason,  # the one rule whose words are read
    )


def _skip(campaign: Campaign, rule: Rule, reason: str, kind: SkipKind = SkipKind.SKIPPED) -> Skip:
    return Skip(campaign.id, campaign.name, rule.name, rule.action, reason, kind)


def _no_path(campaign: Campaign, rule: Rule) -> str:
    if campaign.status == Status.UNKNOWN:
        raw = f" (API said {campaign.raw_status!r})" if campaign.raw_status else ""
        return f"status unknown{raw}; never acted on"
    return f"no legal path from {campaign.status} to {ACTION_GOAL[rule.action]}"
