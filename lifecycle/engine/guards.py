"""Reasons to hold back after a rule matched: each guard returns why, or None.

Guards run in a fixed order (hold, intent in flight, flapping, cooldown, manual change)
and the first that objects names the skip. All of them read only the audit history.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime

from lifecycle.instant import format_duration
from lifecycle.model import ACTION_GOAL, TRANSITIONS, Action, ActionRecord, Campaign
from lifecycle.rules import FlapGuard, ManualChange, Rule, Ruleset
from lifecycle.rules.conditions import Facts

_SWINGS = (Action.PAUSE, Action.RESUME)


@dataclass(frozen=True)
class Situation:
    """A rule that matched one campaign, and everything a guard may consult."""

    rule: Rule
    facts: Facts
    ruleset: Ruleset

    @property
    def campaign(self) -> Campaign:
        return self.facts.campaign

    @property
    def actions(self) -> tuple[ActionRecord, ...]:
        return self.facts.history.actions.get(self.campaign.id, ())


Guard = Callable[[Situation], str | None]


def held(s: Situation) -> str | None:
    hold = s.facts.history.holds.get(s.campaign.id)
    if hold is None or hold.until <= s.facts.now:
        return None
    return f"held until {s.facts.show(hold.until)}: {hold.reason}"


def in_flight(s: Situation) -> str | None:
    if s.campaign.id in s.facts.history.open_intents:
        return "an earlier step is still in flight (intent open)"
    return None


def swings(actions: tuple[ActionRecord, ...], now: datetime, guard: FlapGuard) -> list[datetime]:
    """When each pause/resume inside the flap window happened, oldest first."""
    return [a.at for a in actions if a.step in _SWINGS and now - guard.within <= a.at <= now]


def flapping(s: Situation) -> str | None:
    guard = s.ruleset.flap_guard
    if guard is None:
        return None
    # Between two of our pauses someone resumed: every swing after the first reverses one.
    reversals = max(len(swings(s.actions, s.facts.now, guard)) - 1, 0)
    if reversals <= guard.max_reversals:
        return None
    return f"flapping: {reversals} reversals in {format_duration(guard.within)}; left alone"


def last_under(actions: tuple[ActionRecord, ...], rule: str) -> ActionRecord | None:
    return next((a for a in reversed(actions) if a.rule == rule), None)


def cooling(s: Situation) -> str | None:
    last = last_under(s.actions, s.rule.name)
    if s.rule.cooldown is None or last is None:
        return None
    until = last.at + s.rule.cooldown
    if until <= s.facts.now:
        return None
    return f"cooldown until {s.facts.show(until)} (last {last.step} at {s.facts.show(last.at)})"


def overridden(s: Situation) -> str | None:
    """Someone undid our last step and this rule would redo it: respect that for a while.

    With a `when:` window, until the window next opens or closes after the change; without
    one, until the campaign's status changes again (nothing else marks an end).
    """
    if s.rule.on_manual_change == ManualChange.ENFORCE:
        return None
    change = manual_change(s)
    if change is None or ACTION_GOAL[s.rule.action] != TRANSITIONS[change.step].target:
        return None
    since = s.facts.history.status_since[s.campaign.id]
    if s.rule.window is None:
        return (
            f"manual change respected: {s.campaign.status} since {s.facts.show(since)} "
            f"after our {change.step}; until the status changes again"
        )
    moment = s.facts.moment(s.rule.window.calendar)
    if moment.previous is not None and moment.previous > since:
        return None  # the window opened or closed since the change: the rule applies again
    until = s.facts.show(moment.next) if moment.next else "the window next changes"
    return f"manual change respected until {until}"


def manual_change(s: Situation) -> ActionRecord | None:
    """Our last step on the campaign, if the status has since moved away from its target."""
    last = s.facts.history.last_action(s.campaign.id)
    since = s.facts.history.status_since.get(s.campaign.id)
    if last is None or since is None or since <= last.at:
        return None
    return last if s.campaign.status != TRANSITIONS[last.step].target else None


GUARDS: tuple[Guard, ...] = (held, in_flight, flapping, cooling, overridden)


def objection(s: Situation) -> str | None:
    """The first guard's reason to hold back, or None to go ahead."""
    return next((reason for guard in GUARDS if (reason := guard(s)) is not None), None)


def guard_wakeups(s: Situation) -> Iterator[datetime]:
    """Instants at which a guard may stop objecting by time alone."""
    hold = s.facts.history.holds.get(s.campaign.id)
    if hold is not None:
        yield hold.until
    last = last_under(s.actions, s.rule.name)
    if last is not None and s.rule.cooldown is not None:
        yield last.at + s.rule.cooldown
    guard = s.ruleset.flap_guard
    if guard is not None:
        yield from (at + guard.within for at in swings(s.actions, s.facts.now, guard))
