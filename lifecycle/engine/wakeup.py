"""`next_wakeup`: the earliest instant after `now` at which time alone could change a plan.

Collected from every calendar a rule uses (window edges), and, for each campaign a rule
could act on, the instants its time conditions flip (send_at, end_at, age, time in
status) and the instants its guards lapse (holds, cooldowns, the flap window).
Over-collecting costs a harmless extra tick; missing one would delay an action.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime

from lifecycle.engine.guards import Situation, guard_wakeups
from lifecycle.model import Campaign, History, path_to
from lifecycle.rules import Rule, Ruleset
from lifecycle.rules.conditions import Facts, Moment, StatusIn, Window


def next_wakeup(
    campaigns: Sequence[Campaign],
    ruleset: Ruleset,
    history: History,
    now: datetime,
    moments: Mapping[str, Moment],
) -> datetime | None:
    """The earliest candidate strictly after `now`, or None when nothing is time-bound."""
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
    if _could_act(rule, facts):
        yield from _timed_parts(rule, facts)
        yield from guard_wakeups(Situation(rule, facts, ruleset))


def _could_act(rule: Rule, facts: Facts) -> bool:
    """Whether the campaign, as it is, could ever get this rule's action."""
    status = facts.campaign.status
    if rule.statuses is not None and status not in rule.statuses:
        return False
    return path_to(status, rule.action) not in (None, ())


def _timed_parts(rule: Rule, facts: Facts) -> Iterator[datetime]:
    for part in rule.condition.parts:
        # Window edges came from the calendars above; status needs no time.
        if not isinstance(part, Window | StatusIn):
            yield from part.wakeups(facts)
