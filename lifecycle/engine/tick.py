"""`Tick`: everything about one tick that is the same for every campaign, computed once.

`plan()` and `next_wakeup` ask, per campaign, only what depends on that campaign. Each
calendar's state at `now`, its next and previous change and the reason text of being
inside or outside it are worked out here, once; so are the rules a campaign in each
status could match *now* (its status listed, its window in the wanted state) and the
rules that could ever act on it (for wake-ups). A Tick is a pure value built from its
arguments; nothing is kept from one tick to the next.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from lifecycle.model import Action, Campaign, History, Status, path_to
from lifecycle.rules import Rule, Ruleset
from lifecycle.rules.conditions import Facts, Moment, Window
from lifecycle.rules.predicate import Glance

# The legal path from each status to each action's goal: a small table, the same always.
PATHS: Mapping[tuple[Status, Action], tuple[Action, ...] | None] = {
    (status, action): path_to(status, action) for status in Status for action in Action
}


@dataclass(frozen=True)
class Tick:
    """One tick's shared answers. `matching[s]`: the rules, in file order, whose status
    and window admit a campaign in status `s` at `now` (the rest of each rule is still
    to test). `acting[s]`: the rules that could ever act on such a campaign (its status
    listed, a legal path to the goal that is not already reached). `edge`: the earliest
    next change of a calendar some rule's window uses, if any."""

    ruleset: Ruleset
    glance: Glance
    windows: Mapping[str, str]
    matching: Mapping[Status, tuple[Rule, ...]]
    acting: Mapping[Status, tuple[Rule, ...]]
    edge: datetime | None

    @classmethod
    def at(cls, ruleset: Ruleset, history: History, now: datetime) -> Tick:
        """The tick at `now`, which must be aware UTC (plan() converts it)."""
        moments = moments_at(ruleset, now)
        edges = [moments[r.window.calendar.name].next for r in ruleset.rules if r.window]
        return cls(
            ruleset=ruleset,
            glance=Glance(now, history, ruleset.timezone, moments),
            windows=_window_texts(ruleset, moments, now),
            matching={s: _matching(ruleset, s, moments) for s in Status},
            acting={s: _acting(ruleset, s) for s in Status},
            edge=min((e for e in edges if e is not None), default=None),
        )

    def facts(self, campaign: Campaign) -> Facts:
        """What the conditions' `evaluate` and the guards look at, for one campaign."""
        g = self.glance
        return Facts(campaign, g.history, g.now, g.tz, g.moments, self.windows)


def moments_at(ruleset: Ruleset, now: datetime) -> Mapping[str, Moment]:
    """Each calendar's state at `now`, computed once per tick rather than per campaign."""
    return {name: Moment.of(cal, now) for name, cal in ruleset.calendars.items()}


def _window_texts(
    ruleset: Ruleset, moments: Mapping[str, Moment], now: datetime
) -> Mapping[str, str]:
    # strftime per campaign was a fifth of plan(); the words are the same all tick long
    # (and the same for `inside:` and `outside:`: they say where the calendar stands).
    return {
        name: Window(cal, inside=True).describe(moments[name], now)
        for name, cal in ruleset.calendars.items()
    }


def _matching(ruleset: Ruleset, status: Status, moments: Mapping[str, Moment]) -> tuple[Rule, ...]:
    # An empty status list adds no status condition, so it admits every status.
    return tuple(
        rule
        for rule in ruleset.rules
        if (not rule.statuses or status in rule.statuses) and _window_admits(rule, moments)
    )


def _window_admits(rule: Rule, moments: Mapping[str, Moment]) -> bool:
    window = rule.window
    return window is None or moments[window.calendar.name].is_open == window.inside


def _acting(ruleset: Ruleset, status: Status) -> tuple[Rule, ...]:
    return tuple(
        rule
        for rule in ruleset.rules
        if (rule.statuses is None or status in rule.statuses)
        and PATHS[status, rule.action] not in (None, ())
    )
