"""`timeline()`: every decision over a period, by stepping `plan()` from one instant to the next.

Purely computational, like `plan()`: no I/O, no clock. It starts from the campaigns and
history as observed and evaluates `plan()` at `start`, then at each next instant at which
something could change: the plan's `next_wakeup`, or Exotel's own next move (`send_at`,
`end_at`). What it assumes, so that the future is a function of the present:

- every enforced step succeeds at the instant it is planned (the status becomes the
  last step's target, and the steps join the history, so ownership, cooldowns, time in
  status and the flap guard evolve as they do over real ticks); dry-run changes nothing;
- Exotel moves campaigns by itself only at `send_at` and `end_at` (`ExotelMoves`);
- no campaign appears or disappears, and stats do not advance (a failure rate stays as
  observed, and no campaign completes by running out of numbers);
- an intent open at `start` is resolved by the next tick, as the cycle does;
- a campaign the history has never observed is first seen at `start`, already in its
  status, as the daemon's first tick would record it (time in status counts from there,
  unless the rules file trusts `date_updated`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Literal

from lifecycle.engine.planner import plan
from lifecycle.instant import format_instant
from lifecycle.model import (
    TRANSITIONS,
    Action,
    ActionRecord,
    Campaign,
    Decision,
    History,
    Mode,
    Plan,
    Skip,
    Status,
)
from lifecycle.rules import Ruleset

EntryKind = Literal["action", "skipped", "exotel"]
EndAtMove = Literal["completed", "paused"]

# When a tick leaves work for the next one (a per-tick limit, a follow-up rule, an Exotel
# move that our own step made due), the timeline shows that next tick this much later.
NEXT_TICK = timedelta(seconds=1)


@dataclass(frozen=True)
class ExotelMoves:
    """How the API moves campaigns by itself (the docs conflict on `end_at`: docs/exotel-api.md).

    At `send_at` a created campaign starts (in-progress). At `end_at` (+ `end_at_lag`, how
    late Exotel's scheduler acts) an in-progress one becomes `end_at` ("completed" or
    "paused"); when that is "completed", a paused one past its end is canceled.
    """

    end_at: EndAtMove = "completed"
    end_at_lag: timedelta = timedelta(0)


@dataclass(frozen=True)
class TimelineEntry:
    """One line of the timeline. `status_after` is the status the timeline carries on with:
    the last step's target for an enforced action, unchanged for dry-run and skipped."""

    at: datetime
    kind: EntryKind
    campaign_id: str
    campaign_name: str
    rule: str  # "" for Exotel's own moves
    action: Action | None  # None for Exotel's own moves
    steps: tuple[Action, ...]
    status_before: Status
    status_after: Status
    mode: Mode | None  # None for Exotel's own moves
    reason: str


@dataclass(frozen=True)
class Timeline:
    """Every entry in order of time; `truncated` when `max_steps` ran out before `end`."""

    start: datetime
    end: datetime
    ruleset: str
    entries: tuple[TimelineEntry, ...] = ()
    truncated: bool = False


@dataclass(frozen=True)
class World:
    """The campaigns and history as the timeline has evolved them so far."""

    campaigns: tuple[Campaign, ...]
    history: History
    trusted: bool = False  # the rules file's `trust_date_updated`


@dataclass(frozen=True)
class Move:
    """Exotel's next move on one campaign: due at `due`, to `target`, because its
    `cause` instant (send_at or end_at) is `mark`."""

    due: datetime
    target: Status
    cause: Literal["send_at", "end_at"]
    mark: datetime

    def describe(self, tz: tzinfo) -> str:
        mark = format_instant(self.mark, tz)
        if self.cause == "send_at":
            return f"send_at {mark} reached: Exotel starts dialling"
        if self.target == Status.CANCELED:
            return f"paused past end_at {mark}: Exotel cancels it"
        return f"end_at {mark} reached: Exotel moves it to {self.target}"


def timeline(
    campaigns: Sequence[Campaign],
    ruleset: Ruleset,
    history: History,
    start: datetime,
    end: datetime,
    *,
    campaign_ids: Collection[str] | None = None,
    dry_run: bool = False,
    exotel: ExotelMoves = ExotelMoves(),
    max_steps: int = 10_000,
) -> Timeline:
    """The entries from `start` to `end` inclusive, in order of time. Every campaign is
    evaluated (per-tick limits span campaigns); `campaign_ids` only chooses the entries
    returned. Skips and dry-run decisions that repeat unchanged from one evaluation to the
    next are listed once. Stops after `max_steps` evaluations (`truncated`)."""
    if start > end:
        raise ValueError(f"the period ends ({end.isoformat()}) before it starts")
    course = _Course(ruleset, dry_run, exotel)
    world = World(tuple(campaigns), seen_at(history, campaigns, start), ruleset.trust_date_updated)
    entries: list[TimelineEntry] = []
    previous: frozenset[_Key] = frozenset()
    at: datetime | None = start
    for _ in range(max_steps):
        if at is None or at > end:
            break
        world, found, at = _step(world, course, at)
        entries += [e for e in found if _repeat_key(e) not in previous]
        previous = frozenset(k for e in found if (k := _repeat_key(e)) is not None)
    wanted = set(campaign_ids) if campaign_ids is not None else None
    chosen = tuple(e for e in entries if wanted is None or e.campaign_id in wanted)
    truncated = at is not None and at <= end
    return Timeline(start, end, ruleset.hash, chosen, truncated)


@dataclass(frozen=True)
class _Course:
    """What stays the same over the whole period."""

    ruleset: Ruleset
    dry_run: bool
    exotel: ExotelMoves

    def plan(self, world: World, at: datetime) -> Plan:
        return plan(world.campaigns, self.ruleset, world.history, at, dry_run=self.dry_run)


_Key = tuple[str, str, str, tuple[Action, ...], Status, Mode | None, str]


def seen_at(history: History, campaigns: Sequence[Campaign], at: datetime) -> History:
    """`history`, with every campaign it has not observed first seen at `at`."""
    unseen = frozenset(c.id for c in campaigns if c.id not in history.status_since)
    if not unseen:
        return history
    since = {**history.status_since, **dict.fromkeys(unseen, at)}
    first_seen = history.first_seen_in_status | unseen
    return dataclasses.replace(history, status_since=since, first_seen_in_status=first_seen)


def _repeat_key(entry: TimelineEntry) -> _Key | None:
    """What a repeat of a skip or a dry-run decision looks like; None for entries that change
    the world (Exotel's moves, enforced actions), which are always listed."""
    if entry.kind == "exotel" or (entry.kind == "action" and entry.mode == Mode.ENFORCE):
        return None
    return (entry.kind, entry.campaign_id, entry.rule, entry.steps, entry.status_before,
            entry.mode, entry.reason)  # fmt: skip


def _step(
    world: World, course: _Course, at: datetime
) -> tuple[World, list[TimelineEntry], datetime | None]:
    """One tick at `at`: Exotel's moves due by then, the plan, its enforced steps applied;
    and the next instant worth evaluating."""
    world, moved = exotel_moves_until(world, at, course.exotel, course.ruleset.timezone)
    result = course.plan(world, at)
    entries = moved + _plan_entries(result, world, course)
    after = _resolved(_enforce(world, result, at))
    if after is world:
        return world, entries, _next_instant(world, result, course.exotel)
    # Our steps (or the intents the next tick resolves) changed the world: the next tick
    # decides on what it left, and it comes at once if anything is due there already.
    follow = course.plan(after, at)
    if follow.decisions:
        return after, entries, at + NEXT_TICK
    return after, entries, _next_instant(after, follow, course.exotel)


def _resolved(world: World) -> World:
    """The cycle re-reads a campaign with an open intent on the next tick and closes it."""
    if not world.history.open_intents:
        return world
    history = dataclasses.replace(world.history, open_intents=frozenset())
    return dataclasses.replace(world, history=history)


def _next_instant(world: World, result: Plan, exotel: ExotelMoves) -> datetime | None:
    """The plan's wake-up or Exotel's next move, whichever comes first (the next tick when
    a move is already due: our own step can make one due, a pause after `end_at`)."""
    due = [m.due for c in world.campaigns if (m := next_move(c, exotel, world)) is not None]
    move = min(due, default=None)
    if move is not None and move <= result.at:
        move = result.at + NEXT_TICK
    return min((t for t in (result.next_wakeup, move) if t is not None), default=None)


def next_move(campaign: Campaign, exotel: ExotelMoves, world: World) -> Move | None:
    """Exotel's next move on the campaign as it is, mirroring the simulator's state machine.
    A created campaign without `send_at` is left alone: when it would start is unknown.
    When it was paused is read on the same basis as `in_status_for` (`world.trusted`)."""
    status, send_at, end_at = campaign.status, campaign.send_at, campaign.end_at
    if status == Status.CREATED and send_at is not None:
        return Move(send_at, Status.IN_PROGRESS, "send_at", send_at)
    if end_at is None:
        return None
    ends = end_at + exotel.end_at_lag
    if status == Status.IN_PROGRESS:
        return Move(ends, Status(exotel.end_at), "end_at", end_at)
    if status == Status.PAUSED and exotel.end_at == "completed":
        # Paused after its end, it is canceled at once (as the simulator does).
        start = world.history.status_start(campaign, trust_date_updated=world.trusted)
        due = max(ends, start.at) if start is not None else ends
        return Move(due, Status.CANCELED, "end_at", end_at)
    return None


def exotel_moves_until(
    world: World, at: datetime, exotel: ExotelMoves, tz: tzinfo
) -> tuple[World, list[TimelineEntry]]:
    """Every Exotel move due by `at`, applied at `at` (one campaign may move twice: a
    created campaign whose send_at and end_at both passed); `tz` writes the reasons."""
    entries: list[TimelineEntry] = []
    for _ in Status:  # Exotel never moves a campaign back: this bounds the cascade
        found = list(_due_moves(world, at, exotel))
        if not found:
            break
        world = _moved(world, {campaign.id: move.target for campaign, move in found}, at)
        entries += [_exotel_entry(campaign, move, at, tz) for campaign, move in found]
    return world, entries


def _due_moves(world: World, at: datetime, exotel: ExotelMoves) -> Iterator[tuple[Campaign, Move]]:
    for campaign in world.campaigns:
        move = next_move(campaign, exotel, world)
        if move is not None and move.due <= at:
            yield campaign, move


def _exotel_entry(campaign: Campaign, move: Move, at: datetime, tz: tzinfo) -> TimelineEntry:
    return TimelineEntry(
        at=at,
        kind="exotel",
        campaign_id=campaign.id,
        campaign_name=campaign.name,
        rule="",
        action=None,
        steps=(),
        status_before=campaign.status,
        status_after=move.target,
        mode=None,
        reason=move.describe(tz),
    )


def _plan_entries(result: Plan, world: World, course: _Course) -> list[TimelineEntry]:
    status = {c.id: c.status for c in world.campaigns}
    acted = [_decision_entry(d, result.at) for d in result.decisions]
    held = [_skip_entry(s, result.at, status[s.campaign_id], course) for s in result.skipped]
    return acted + held


def _decision_entry(decision: Decision, at: datetime) -> TimelineEntry:
    enforced = decision.mode == Mode.ENFORCE
    return TimelineEntry(
        at=at,
        kind="action",
        campaign_id=decision.campaign_id,
        campaign_name=decision.campaign_name,
        rule=decision.rule,
        action=decision.action,
        steps=decision.steps,
        status_before=decision.status,
        status_after=TRANSITIONS[decision.steps[-1]].target if enforced else decision.status,
        mode=decision.mode,
        reason=decision.reason,
    )


def _skip_entry(skip: Skip, at: datetime, status: Status, course: _Course) -> TimelineEntry:
    rule = course.ruleset.rule(skip.rule)
    mode = Mode.DRY_RUN if course.dry_run or rule is None else rule.mode
    return TimelineEntry(
        at=at,
        kind="skipped",
        campaign_id=skip.campaign_id,
        campaign_name=skip.campaign_name,
        rule=skip.rule,
        action=skip.action,
        steps=(),
        status_before=status,
        status_after=status,
        mode=mode,
        reason=skip.reason,
    )


def _enforce(world: World, result: Plan, at: datetime) -> World:
    """The world after every enforced decision's steps succeeded at `at`: all of them
    applied at once (one copy of the fleet per instant, not one per decision)."""
    done: dict[str, tuple[ActionRecord, ...]] = {}
    targets: dict[str, Status] = {}
    for decision in result.decisions:
        if decision.mode != Mode.ENFORCE:
            continue
        cid = decision.campaign_id
        steps = tuple(
            ActionRecord(cid, decision.rule, s, at, result.ruleset) for s in decision.steps
        )
        done[cid] = (*done.get(cid, ()), *steps)
        targets[cid] = TRANSITIONS[decision.steps[-1]].target
    if not targets:
        return world
    actions = dict(world.history.actions)
    for cid, steps in done.items():
        actions[cid] = (*actions.get(cid, ()), *steps)
    history = dataclasses.replace(world.history, actions=actions)
    return _moved(World(world.campaigns, history, world.trusted), targets, at)


def _moved(world: World, targets: Mapping[str, Status], at: datetime) -> World:
    """The world with each campaign of `targets` in its status there, since `at`."""
    if not targets:
        return world
    campaigns = tuple(
        c if (status := targets.get(c.id)) is None
        else dataclasses.replace(c, status=status, raw_status=status.to_api(), date_updated=at)
        for c in world.campaigns
    )  # fmt: skip
    since = {**world.history.status_since, **dict.fromkeys(targets, at)}
    first_seen = world.history.first_seen_in_status - frozenset(targets)
    history = dataclasses.replace(
        world.history, status_since=since, first_seen_in_status=first_seen
    )
    return World(campaigns, history, world.trusted)
