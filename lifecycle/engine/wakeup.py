"""`next_wakeup`: the earliest instant after `now` at which time alone could change a plan.

Collected from every calendar a rule's window uses (their next edges, once per tick),
and, for each campaign a rule could act on, the instants where that rule needs one: its
time conditions flip (send_at, end_at, age, time in status) and its guards lapse (holds,
cooldowns, the flap window). Over-collecting costs a harmless extra tick; missing one
would delay an action.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from lifecycle.engine.guards import last_under, swings
from lifecycle.engine.tick import Tick
from lifecycle.instant import to_utc
from lifecycle.model import Campaign, History
from lifecycle.rules import Rule, Ruleset


def next_wakeup(
    campaigns: Sequence[Campaign],
    ruleset: Ruleset,
    history: History,
    now: datetime,
    *,
    tick: Tick | None = None,
) -> datetime | None:
    """The earliest candidate strictly after `now`, or None when nothing is time-bound.

    `tick` is the one `plan()` already built at `now`, if any. A campaign whose instants
    break the arithmetic contributes nothing (plan() sets such a campaign aside).
    """
    now = to_utc(now)
    tick = tick if tick is not None else Tick.at(ruleset, history, now)
    earliest = tick.edge  # a calendar's next change is after now by definition
    acting = tick.acting
    for campaign in campaigns:
        rules = acting.get(campaign.status, ())  # not a Status: plan() set it aside
        if not rules:
            continue
        try:
            found = _thresholds(campaign, rules, tick)
        except (ArithmeticError, ValueError):  # odd data: plan() sets the campaign aside
            continue
        for at in found:
            if at > now and (earliest is None or at < earliest):
                earliest = at
    return earliest


def _thresholds(campaign: Campaign, rules: tuple[Rule, ...], tick: Tick) -> list[datetime]:
    """The instants at which `rules` (those that could act on the campaign) may change."""
    glance, found = tick.glance, list[datetime]()
    history = glance.history
    for rule in rules:
        if rule.timed is not None:
            found.extend(rule.timed(campaign, glance))
    hold = history.holds.get(campaign.id)
    if hold is not None:
        found.append(hold.until)
    done = history.actions.get(campaign.id)
    if done:  # guards that lapse by time all count the campaign's own past steps
        for rule in rules:
            last = last_under(done, rule.name)
            if last is not None and rule.cooldown is not None:
                found.append(last.at + rule.cooldown)
        guard = tick.ruleset.flap_guard
        if guard is not None:
            found.extend(at + guard.within for at in swings(done, glance.now, guard))
    return found
