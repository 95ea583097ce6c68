"""The edge plan: what the next wake-up will do, worked out before it comes.

A tick whose plan names a `next_wakeup` (a window edge, an `end_at`, an age threshold)
plans again at that instant, from what it observed and the audit trail as the tick left
them. At the edge the daemon then reads only the campaigns this plan names, plans them
again at the edge from that fresh reading, and acts on those still wanted, before the
full reconcile. Pure data and pure functions, like the rest of the engine: no I/O, no
clock; `at` is an argument.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cached_property
from typing import TypeVar

from lifecycle.engine.planner import plan
from lifecycle.model import Action, Campaign, Decision, History, Mode, Plan, Status
from lifecycle.rules import Ruleset

V = TypeVar("V")


@dataclass(frozen=True)
class EdgePlan:
    """The decisions a tick at `at` would make, planned from an earlier observation.

    `observed`: the campaigns those decisions are about, as last seen. `in_status`: how
    many campaigns of the whole fleet were last seen in each status, which is what a list
    filtered by status would return (its cost in pages). `ruleset` and `dry_run`: what the
    plan was made under; the edge plan stands only while both are still in force.
    """

    at: datetime
    ruleset: str
    dry_run: bool
    decisions: tuple[Decision, ...]
    observed: Mapping[str, Campaign]
    in_status: Mapping[Status, int]

    @cached_property
    def statuses(self) -> frozenset[Status]:
        """The statuses the edge's campaigns were last seen in."""
        return frozenset(d.status for d in self.decisions)

    @cached_property
    def _wanted(self) -> frozenset[tuple[str, str, tuple[Action, ...], Mode]]:
        return frozenset((d.campaign_id, d.rule, d.steps, d.mode) for d in self.decisions)

    def filtered_rows(self) -> int:
        """How many rows a list filtered by `statuses` is expected to return."""
        return sum(self.in_status.get(status, 0) for status in self.statuses)

    def still_wanted(self, again: Plan) -> tuple[Decision, ...]:
        """The decisions of `again` (the edge's campaigns planned anew) that the edge plan
        made too: the same campaign, rule, steps and mode. Anything else (a manual change,
        a hold, a step in flight) is left to the full reconcile that follows."""
        wanted = self._wanted
        return tuple(
            d for d in again.decisions if (d.campaign_id, d.rule, d.steps, d.mode) in wanted
        )


def plan_edge(
    campaigns: Sequence[Campaign],
    ruleset: Ruleset,
    history: History,
    at: datetime,
    *,
    dry_run: bool = False,
) -> EdgePlan:
    """What a tick at `at` would do to `campaigns`, as observed, given `history`."""
    planned = plan(campaigns, ruleset, history, at, dry_run=dry_run)
    ids = {d.campaign_id for d in planned.decisions}
    return EdgePlan(
        at=planned.at,
        ruleset=ruleset.hash,
        dry_run=dry_run,
        decisions=planned.decisions,
        observed={c.id: c for c in campaigns if c.id in ids},
        in_status=Counter(c.status for c in campaigns),
    )


def moved(campaigns: Iterable[Campaign], statuses: Mapping[str, Status]) -> list[Campaign]:
    """`campaigns` with the statuses of `statuses` (those this tick's own steps moved)."""
    return [replace(c, status=statuses[c.id]) if c.id in statuses else c for c in campaigns]


def merged(history: History, fresh: History, ids: Iterable[str]) -> History:
    """`history`, with what `fresh` (read for `ids` only) says about `ids` in its place."""
    only = frozenset(ids)
    return History(
        status_since=_swapped(history.status_since, fresh.status_since, only),
        actions=_swapped(history.actions, fresh.actions, only),
        open_intents=(history.open_intents - only) | (fresh.open_intents & only),
        holds=_swapped(history.holds, fresh.holds, only),
        first_seen_in_status=(history.first_seen_in_status - only)
        | (fresh.first_seen_in_status & only),
    )


def _swapped(old: Mapping[str, V], new: Mapping[str, V], ids: frozenset[str]) -> dict[str, V]:
    kept = {k: v for k, v in old.items() if k not in ids}
    kept.update((k, v) for k, v in new.items() if k in ids)
    return kept
