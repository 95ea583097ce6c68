"""One reconcile tick: resolve → fetch → observe → plan → execute → record.

Names: a *tick* is one pass of the reconcile loop, `Reconciler.tick()`; this module is
what a tick does, `daemon.TickJob` is when ticks run, and `lease.Lease` is whether this
process may act at all (asked through `TickOptions.may_act` before the tick and
`TickOptions.may_go` before each step, and checked by the database in the INSERT of each
intent, `TickOptions.fence`).

Every tick is level-triggered: it decides from what it observes now and from the audit
trail, never from process memory, so a restart, a missed tick or a duplicate tick is
harmless. This module holds the one catch-all of the program: a tick that fails is
recorded and the next one runs.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from lifecycle import engine
from lifecycle.client import PAGE_LIMIT, ExotelClient, Slot
from lifecycle.client.poll import Poll, Poller
from lifecycle.clock import Clock, wall_now
from lifecycle.engine.edge import EdgePlan, merged, moved, plan_edge
from lifecycle.errors import (
    ActionRejected,
    ApiError,
    ApiUnavailable,
    Interrupted,
    LifecycleError,
    NotFound,
    NotSent,
    OutcomeUnknown,
    RateLimited,
    StoreUnavailable,
)
from lifecycle.instant import format_instant
from lifecycle.metrics import Metrics
from lifecycle.model import (
    TRANSITIONS,
    Action,
    Campaign,
    Decision,
    History,
    Mode,
    Outcome,
    Plan,
    Skip,
)
from lifecycle.records import IntentState
from lifecycle.rules import Ruleset
from lifecycle.settings import SEND_WINDOW
from lifecycle.store import (
    CampaignHeld,
    IntentConflict,
    IntentNotOpen,
    LeaseFence,
    LeaseLost,
    OpenIntent,
    Store,
    Tick,
)

log = logging.getLogger("lifecycle.cycle")

# 429s in a row on one step before the tick leaves the rest to the next one. Each try
# first waits out the Retry-After, so a server that keeps refusing costs minutes, not a loop.
_RATE_LIMITED_TRIES = 3
# An edge tick plans and records its first campaigns this many at a time, then twice as
# many each time (`_run_edge`): the first PUT waits for few, a large edge costs few rounds.
_EDGE_CHUNK = 8


@dataclass(frozen=True)
class StepEvent:
    """One step as it happened, for the console (`demo`, `run` in a terminal)."""

    at: datetime
    decision: Decision
    step: Action
    outcome: Outcome
    detail: str = ""


@dataclass(frozen=True)
class TickReport:
    at: datetime
    campaigns: int = 0
    plan: Plan | None = None
    sent: int = 0
    failed: int = 0
    error: str | None = None
    standby: bool = False
    leader: str | None = None  # when standby: who holds the lease, and until when
    warning: str | None = None  # the tick worked, on less than it should have: e.g. a short list
    # The campaigns this tick read, for the status page (which never asks Exotel itself).
    observed: tuple[Campaign, ...] = ()
    # The tick failed because the database did not answer (`error` says how): not a standby,
    # not a bug, and not ready until it answers again.
    database_unreachable: bool = False
    # The tick failed because Exotel did not answer (timeouts, 5xx, 429s past the retries).
    api_unreachable: bool = False
    tick_id: int | None = None  # the tick's row, when one was written
    edge: bool = False  # an edge tick: only the campaigns the edge plan named (`edge_tick`)

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class TickOptions:
    """How a Reconciler behaves; the daemon builds one from Settings."""

    dry_run: bool = False
    # Asked before the tick: may this process act? (The daemon's leader lease,
    # `Lease.hold`.) None: always, a single process.
    may_act: Callable[[], Awaitable[bool]] | None = None
    # Asked before each step; None: `may_act` again. The daemon's renews the lease only
    # when it nears expiry (`Lease.keep`): the fence below is the guarantee.
    may_go: Callable[[], Awaitable[bool]] | None = None
    # When `may_act` says no: who leads instead, as the lease last answered (`Lease.leader`).
    leader: Callable[[], str | None] | None = None
    # Checked by the database in the INSERT of every intent: the lease is ours for
    # `fence.bound` more. None: no lease (a single process, tests).
    fence: LeaseFence | None = None
    # How long an open or unknown intent is left alone before re-reading decides it, by
    # the database's clock from when it was opened: longer than any request can live.
    grace: timedelta = timedelta(0)
    # The most time from an intent's lease check to handing its PUT to the HTTP client:
    # part of the bound the lease is checked for (settings.SEND_WINDOW; tests shorten it).
    send_window: timedelta = SEND_WINDOW
    on_step: Callable[[StepEvent], None] | None = None
    on_skip: Callable[[Skip], None] | None = None
    # Called once per tick after its rows are written (the notifier): the report and every
    # step outcome of the tick. Must return at once; it must not wait on anything.
    after_tick: Callable[[TickReport, tuple[StepEvent, ...]], None] | None = None
    # When a tick's next wake-up comes within this long, plan it in advance (`edge_plan`)
    # so that `edge_tick` acts at it before the full reconcile. None: never (a full tick
    # at the wake-up, as `run --once` and a bare Reconciler do). The daemon: the poll.
    edge_horizon: timedelta | None = None


@dataclass
class Progress:
    """How far the tick in progress has come, for readiness: a tick that keeps moving is
    healthy however long it runs, and one that stopped moving is not, however recently it
    began. Instants are on the reconciler's clock."""

    started: datetime | None = None  # when the tick in progress began; None between ticks
    at: datetime | None = None  # the last sign of life: a tick began or ended, a page, a step

    def begin(self, now: datetime) -> None:
        self.started = self.at = now

    def mark(self, now: datetime) -> None:
        """Something moved: a page was read, a step was sent, an intent resolved."""
        self.at = now

    def end(self, now: datetime) -> None:
        self.started, self.at = None, now


@dataclass(frozen=True)
class _Work:
    """What carrying out one tick's plan needs to know."""

    tick: Tick
    plan: Plan
    ruleset: Ruleset
    campaigns: Mapping[str, Campaign]
    history: History = field(default_factory=History)  # what the plan was made from


@dataclass
class _Tally:
    sent: int = 0
    failed: int = 0


class _Halt(Exception):
    """The remaining decisions of this tick wait for the next one (the message says why)."""


@dataclass
class Reconciler:
    """Carries out ticks. `ruleset` is read at the start of each tick, so a reload between
    ticks takes effect atomically and never half-applies."""

    client: ExotelClient
    store: Store
    ruleset: Callable[[], Ruleset]
    clock: Clock
    options: TickOptions = field(default_factory=TickOptions)
    metrics: Metrics = field(default_factory=Metrics)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    last: TickReport | None = None
    # Shared with the client's observer in the daemon, which marks each page read.
    progress: Progress = field(default_factory=Progress)
    # Since when ticks have found the database unreachable: it is logged once per outage.
    _unreachable_since: datetime | None = None
    # Unknown intents whose re-read could not decide them, already logged (for the log only).
    _undecided: set[int] = field(default_factory=set)
    # The step outcomes of the tick in progress, for `options.after_tick`.
    _steps: list[StepEvent] = field(default_factory=list)
    # What each tick lists (README, Configure: LIFECYCLE_SETTLED_POLL). None: every
    # campaign, every tick.
    poller: Poller | None = None
    # What the next wake-up will do, planned by the last full tick (`options.edge_horizon`).
    edge_plan: EdgePlan | None = None
    # A list filtered by status answered with other statuses: the server ignores the
    # filter, so edge ticks read campaign by campaign from then on.
    _filter_ignored: bool = False

    async def tick(self) -> TickReport:
        """Run one tick. Never raises (but for cancellation): failures land in the report."""
        self.edge_plan = None  # a newer tick: it plans the next edge afresh, or not at all
        return await self._ticked(self._run)

    async def _ticked(
        self, run: Callable[[Tick, Ruleset], Awaitable[TickReport]], *, edge: bool = False
    ) -> TickReport:
        started = time.monotonic()
        now = self.clock.now()
        self.progress.begin(now)
        self._steps = []
        try:
            report = replace(await self._guarded(now, run), edge=edge)
        finally:
            self.progress.end(self.clock.now())
        self._watch_database(report)
        if not edge:  # the status page shows the last full reading, not a part of it
            self.last = report
        if self.options.after_tick:  # every row of the tick is committed by now
            self.options.after_tick(report, tuple(self._steps))
        self.metrics.tick_seconds.observe(time.monotonic() - started)
        result = "standby" if report.standby else ("ok" if report.ok else "error")
        self.metrics.ticks.labels(result=result).inc()
        if report.ok and not report.standby:
            self.metrics.last_success.set(wall_now().timestamp())
        return report

    async def _guarded(
        self, now: datetime, run: Callable[[Tick, Ruleset], Awaitable[TickReport]]
    ) -> TickReport:
        ruleset = self.ruleset()
        tick: Tick | None = None
        try:
            if not await self._may_act():
                if self.poller is not None:  # another process leads: what it did is unseen
                    self.poller.forget()
                self.edge_plan = None  # planned under a lease this process no longer holds
                leader = self.options.leader() if self.options.leader else None
                return TickReport(at=now, standby=True, leader=leader)
            tick = await self.store.start_tick(
                at=now, ruleset=ruleset.hash, dry_run=self.options.dry_run
            )
            report = await run(tick, ruleset)
        except Interrupted as exc:
            log.info("tick cut short: %s", exc)
            report = TickReport(at=now, error=_describe(exc))
        except StoreUnavailable as exc:  # logged once per outage, by `_watch_database`
            report = TickReport(at=now, error=str(exc), database_unreachable=True)
        except Exception as exc:  # the one catch-all: record, go on with the next tick
            error = _describe(exc)
            log.error("tick failed: %s", error, exc_info=not isinstance(exc, LifecycleError))
            report = TickReport(
                at=now, error=error, api_unreachable=isinstance(exc, ApiUnavailable)
            )
        await self._finish(tick, report)
        return report if tick is None else replace(report, tick_id=tick.id)

    async def _may_act(self) -> bool:
        """StoreUnavailable when the lease cannot be asked: that is no standby."""
        return self.options.may_act is None or await self.options.may_act()

    def _watch_database(self, report: TickReport) -> None:
        """One ERROR when ticks start finding the database unreachable, one line when it
        answers again: an outage of an hour is two log lines, not one per tick."""
        since = self._unreachable_since
        if report.database_unreachable and since is None:
            self._unreachable_since = report.at
            log.error("database unreachable: %s; not acting until it answers", report.error)
        elif report.database_unreachable:
            log.debug("database still unreachable: %s", report.error)
        elif since is not None:
            self._unreachable_since = None
            lasted = int((report.at - since).total_seconds())
            log.warning("database reachable again, after %ds unreachable", lasted)

    async def _finish(self, tick: Tick | None, report: TickReport) -> None:
        if tick is None:
            return
        try:
            await self.store.finish_tick(
                tick,
                at=self.clock.now(),
                campaigns=report.campaigns,
                actions=report.sent,
                error=report.error,
            )
        except StoreUnavailable as exc:
            log.error("could not record the end of tick %s: %s", tick.id, exc)

    async def _run(self, tick: Tick, ruleset: Ruleset) -> TickReport:
        now = tick.at
        await self.resolve_open_intents(now, trust_date_updated=ruleset.trust_date_updated)
        polled = await self._poll(now)
        campaigns = polled.listing
        self.progress.mark(self.clock.now())
        if not campaigns.complete:  # the client logged it; act on those read, count it
            self.metrics.incomplete_lists.inc()
        if campaigns.unreadable:  # the client logged each row it set aside
            self.metrics.set_aside.labels(reason="unreadable").inc(campaigns.unreadable)
        self.metrics.observe_campaigns(campaigns)
        # Carried campaigns were not seen now: only what was read goes to the status history.
        ids = [c.id for c in campaigns]
        history = await self.store.poll(polled.fresh, at=now, campaign_ids=ids)
        plan = engine.plan(campaigns, ruleset, history, now, dry_run=self.options.dry_run)
        self._set_aside(plan)
        await self.store.record_plan(tick, plan)
        for skip in plan.skipped:
            self.metrics.skipped.labels(rule=skip.rule).inc()
            if self.options.on_skip:
                self.options.on_skip(skip)
        campaigns_by_id = {c.id: c for c in campaigns}
        sent, failed = await self._execute(_Work(tick, plan, ruleset, campaigns_by_id, history))
        self.edge_plan = await self._plan_edge(ruleset, campaigns, history, plan)
        log.info(
            "tick done: %d campaigns, %d decisions, %d skipped, %d steps sent, %d failed; "
            "next wake-up %s",
            len(campaigns),
            len(plan.decisions),
            len(plan.skipped),
            sent,
            failed,
            format_instant(plan.next_wakeup, ruleset.timezone) if plan.next_wakeup else "none",
        )
        return TickReport(
            at=now,
            campaigns=len(campaigns),
            plan=plan,
            sent=sent,
            failed=failed,
            warning=campaigns.shortfall,
            observed=tuple(campaigns),
        )

    async def _poll(self, now: datetime) -> Poll:
        poller = self.poller
        if poller is None:
            listing = await self.client.list_campaigns()
            return Poll(listing, listing)
        try:
            return await poller.poll(now)
        finally:  # a filter refused or ignored is given up within the poll: say so at once
            in_use = poller.period is not None and poller.broken is None
            self.metrics.settled_poll.set(1 if in_use else 0)

    def _set_aside(self, plan: Plan) -> None:
        for aside in plan.set_aside:
            log.warning("%s %r set aside: %s", aside.campaign_id, aside.campaign_name, aside.reason)
            self.metrics.set_aside.labels(reason="unplannable").inc()

    # --- The edge: plan it in advance, act on it first, reconcile after -------------------

    async def edge_tick(self) -> TickReport | None:
        """Act at a wake-up on what the last full tick planned for it (`edge_plan`), before
        the full reconcile, which the caller runs right after. None when there is nothing
        to do this way: no edge plan, its instant not reached yet, or the rules or the
        dry-run mode it was planned under no longer in force (then the full tick decides).

        Only the edge plan's campaigns are read again (`_edge_by_list`), with their audit
        trail; they are planned anew at now and the decisions the edge plan made too are
        carried out through the same audited steps as any tick's, under a tick row of
        their own. A manual change, a hold or a step in flight since the plan drops the
        decision: the full tick that follows sees the whole fleet and decides."""
        edge, self.edge_plan = self.edge_plan, None  # used once
        if edge is None or not self._edge_stands(edge):
            return None
        return await self._ticked(
            lambda tick, ruleset: self._run_edge(tick, ruleset, edge), edge=True
        )

    def _edge_stands(self, edge: EdgePlan) -> bool:
        now, horizon = self.clock.now(), self.options.edge_horizon
        return (
            bool(edge.decisions)
            and horizon is not None
            and edge.at <= now <= edge.at + horizon
            and edge.ruleset == self.ruleset().hash
            and edge.dry_run == self.options.dry_run
        )

    async def _plan_edge(
        self, ruleset: Ruleset, campaigns: Sequence[Campaign], history: History, plan: Plan
    ) -> EdgePlan | None:
        """After a full tick: what its next wake-up will do, when it comes within
        `options.edge_horizon`. Planned from the tick's observation and history, brought
        up to date with the tick's own steps (the statuses they led to, and the audit
        trail of the campaigns they moved: ownership, cooldowns)."""
        at, horizon = plan.next_wakeup, self.options.edge_horizon
        if at is None or horizon is None or at > plan.at + horizon:
            return None
        moves = {
            e.decision.campaign_id: TRANSITIONS[e.step].target
            for e in self._steps
            if e.outcome == Outcome.SUCCEEDED
        }
        if moves:
            fresh = await self.store.history(at=plan.at, campaign_ids=list(moves))
            history = merged(history, fresh, moves)
            campaigns = moved(campaigns, moves)
        edge = plan_edge(campaigns, ruleset, history, at, dry_run=self.options.dry_run)
        if edge.decisions:
            log.info(
                "edge at %s planned: %d decisions",
                format_instant(at, ruleset.timezone),
                len(edge.decisions),
            )
        return edge

    async def _run_edge(self, tick: Tick, ruleset: Ruleset, edge: EdgePlan) -> TickReport:
        now, tally, read = tick.at, _Tally(), 0
        listed = await self._edge_list(edge) if self._edge_by_list(edge) else None
        ids = [d.campaign_id for d in edge.decisions]
        # A few campaigns at a time, so the first PUT waits for the trail and the plan of
        # its own few, not of every campaign of the edge; one by one when read one by one.
        for chunk in _chunks(ids, 1 if listed is None else _EDGE_CHUNK, grow=listed is not None):
            if self.stop.is_set() or not await self._may_act():
                break  # the rest waits for the full tick, which looks again
            if listed is None:
                campaigns = await self._edge_get(chunk[0])
            else:
                campaigns = [listed[i] for i in chunk if i in listed]
            read += len(campaigns)
            history = await self.store.history(at=now, campaign_ids=[c.id for c in campaigns])
            again = engine.plan(campaigns, ruleset, history, now, dry_run=self.options.dry_run)
            plan = replace(again, decisions=edge.still_wanted(again), next_wakeup=None)
            self._set_aside(plan)
            await self.store.record_plan(tick, plan)
            work = _Work(tick, plan, ruleset, {c.id: c for c in campaigns}, history)
            sent, failed = await self._execute(work)
            tally.sent, tally.failed = tally.sent + sent, tally.failed + failed
        log.info(
            "edge tick at %s done: %d of %d planned campaigns read again, %d steps sent, "
            "%d failed; the full reconcile follows",
            format_instant(now, ruleset.timezone),
            read,
            len(edge.decisions),
            tally.sent,
            tally.failed,
        )
        return TickReport(at=now, campaigns=read, sent=tally.sent, failed=tally.failed)

    def _edge_by_list(self, edge: EdgePlan) -> bool:
        """Whether the edge's campaigns are read by one list filtered by status: when that
        takes fewer requests than one GET per campaign (and the server honours the
        filter). Else each is read by itself, just before its steps."""
        pages = max(1, -(-edge.filtered_rows() // PAGE_LIMIT))
        return not self._filter_ignored and len(edge.decisions) > pages

    async def _edge_get(self, campaign_id: str) -> list[Campaign]:
        """The campaign as Exotel has it now; none when it is gone."""
        try:
            return [await self.client.get_campaign(campaign_id)]
        except NotFound:
            log.info("%s is gone since the edge was planned", campaign_id)
            return []

    async def _edge_list(self, edge: EdgePlan) -> dict[str, Campaign]:
        """The edge's campaigns as Exotel has them now, by one list filtered by status; a
        campaign not in it (gone, or in another status by now) is left to the full tick."""
        statuses = edge.statuses
        try:
            listing = await self.client.list_campaigns(statuses=statuses)
        except (ApiUnavailable, RateLimited):
            raise
        except ApiError:  # a server that refuses the filter: this edge fails, not the next
            self._filter_ignored = True
            raise
        if any(c.status not in statuses for c in listing):
            self._filter_ignored = True
            log.warning(
                "the campaign list ignores its status filter: edge ticks read each "
                "campaign by itself from now on"
            )
        return {c.id: c for c in listing if c.id in edge.observed}

    async def resolve_open_intents(
        self, now: datetime, *, trust_date_updated: bool = False
    ) -> None:
        """Decide every intent left open or unknown by re-reading its campaign (invariant 1),
        once it is older than the grace by the database's clock: a request still on the
        wire (ours from a tick that timed out, or a previous lease holder's) may yet land,
        and reading before it does would call a step failed that then takes effect.

        An intent of another owner is only met here after its lease expired (this process
        holds the lease), so its owner has stopped waiting for an answer. After the grace:
        the campaign in the step's target status -> succeeded; still in a status the step
        starts from -> failed; anything else -> unknown, and the campaign stays blocked.

        The target status alone cannot tell our step from someone else's change made before
        it (a person, or Exotel pausing at `end_at`): with `trust_date_updated` (the rules
        file's opt-in) a campaign whose `date_updated` is well before the intent was opened
        was already there, so the step is failed, not credited (`_already_there`)."""
        pending = await self.store.unresolved_intents()
        if not pending:
            return
        db_now = await self.store.db_now()
        for intent in pending:
            if intent.state == IntentState.OPEN and self._orphaned(intent):
                await self._record(
                    intent.id,
                    outcome=Outcome.UNKNOWN,
                    http_status=None,
                    request_id=None,
                    error=f"opened by {intent.owner}, whose lease ended before it recorded an "
                    "outcome: unknown until re-read after the grace",
                )
                intent = replace(intent, state=IntentState.UNKNOWN)
            if (
                intent.opened_db_at is not None
                and db_now < intent.opened_db_at + self.options.grace
            ):
                left = (intent.opened_db_at + self.options.grace - db_now).total_seconds()
                log.info(
                    "intent %s (%s %s, opened by %s) is left for %.1fs more before re-reading",
                    intent.id,
                    intent.step.value,
                    intent.campaign_id,
                    intent.owner or "?",
                    left,
                )
                continue
            try:
                campaign = await self.client.get_campaign(intent.campaign_id)
            except ApiError as exc:
                log.warning(
                    "cannot re-read %s to resolve intent %s: %s", intent.campaign_id, intent.id, exc
                )
                continue
            await self._decide(intent, campaign, now, trust_date_updated=trust_date_updated)
            self.progress.mark(self.clock.now())

    def _orphaned(self, intent: OpenIntent) -> bool:
        """Opened under another owner's lease, which has ended: this process holds it now.
        Its owner may yet record the answer (by id, from unknown); never failed on sight."""
        fence = self.options.fence
        return fence is not None and intent.owner is not None and intent.owner != fence.owner

    async def _decide(
        self, intent: OpenIntent, campaign: Campaign, now: datetime, *, trust_date_updated: bool
    ) -> None:
        """Close (or mark unknown) one intent, by id, from its campaign re-read after grace."""
        status = campaign.status.value
        earlier = _already_there(intent, campaign) if trust_date_updated else None
        if campaign.status == intent.expected and earlier is not None:
            outcome, found = Outcome.FAILED, earlier
        elif campaign.status == intent.expected:
            outcome, found = Outcome.SUCCEEDED, f"campaign is {status}"
        elif campaign.status in TRANSITIONS[intent.step].sources:
            outcome, found = (
                Outcome.FAILED,
                f"not applied (re-read after grace): campaign is {status}",
            )
        else:
            why = (
                f"campaign is {status}, neither what {intent.step.value} leads to nor "
                "starts from: the step may or may not have taken effect"
            )
            if intent.id not in self._undecided:  # said once per process, not every tick
                self._undecided.add(intent.id)
                log.warning("intent %s on %s stays unknown: %s", intent.id, campaign.id, why)
            if intent.state == IntentState.OPEN:
                await self._record(
                    intent.id, outcome=Outcome.UNKNOWN, http_status=None, request_id=None, error=why
                )
            return
        try:
            await self.store.resolve_intent(intent.id, outcome=outcome, at=now, error=found)
        except IntentNotOpen:  # its own process answered it meanwhile, by id: nothing to do
            log.info("intent %s was closed by its own process meanwhile", intent.id)

    async def _execute(self, work: _Work) -> tuple[int, int]:
        """Record the dry runs in one transaction, then send the enforced steps in order."""
        tally = _Tally()
        dry_runs = [d for d in work.plan.decisions if d.mode == Mode.DRY_RUN]
        for decision in await self.store.record_dry_runs(work.tick, dry_runs):
            for step in decision.steps:
                self._emit(decision, step, Outcome.DRY_RUN)
        decisions = [d for d in work.plan.decisions if d.mode != Mode.DRY_RUN]
        for done, decision in enumerate(decisions):
            try:
                await self._carry_out(work, decision, tally)
            except IntentConflict:
                # Another process has a step in flight on it: never send beside it.
                log.warning("%s has a step in flight elsewhere; left alone", decision.campaign_id)
            except (_Halt, Interrupted) as why:
                level = logging.INFO if self.stop.is_set() else logging.WARNING
                left = len(decisions) - done
                log.log(level, "%s: %d decisions left for the next tick", why, left)
                break
        return tally.sent, tally.failed

    async def _carry_out(self, work: _Work, decision: Decision, tally: _Tally) -> None:
        """Send the decision's steps in order; stop at the first one that does not succeed."""
        for index, step in enumerate(decision.steps):
            if await self._step(work, decision, step, tally, first=index == 0) != Outcome.SUCCEEDED:
                return

    async def _step(
        self, work: _Work, decision: Decision, step: Action, tally: _Tally, *, first: bool
    ) -> Outcome | None:
        """One step, sent again (after its Retry-After) when Exotel answers 429.

        Every wait (a rate slot, a Retry-After) happens before the intent is written, and
        after it the stop, the lease and (before a first step) the decision are checked
        again: nothing waits between an intent and its PUT. None: the step was not sent.
        """
        for _ in range(_RATE_LIMITED_TRIES):
            async with self.client.slot() as slot:
                if not await self._may_go(work, decision, first=first):
                    return None
                try:
                    outcome = await self._send(work.tick, decision, step, slot, first=first)
                except CampaignHeld:
                    at = format_instant(self.clock.now(), work.ruleset.timezone)
                    log.info("%s: held since the plan; %s not sent at %s",
                             decision.campaign_id, decision.rule, at)  # fmt: skip
                    return None
                except RateLimited as exc:
                    tally.failed += 1
                    log.warning("rate limited by Exotel for %gs; then again", exc.retry_after)
                    continue
            tally.sent += 1
            self.progress.mark(self.clock.now())
            if outcome != Outcome.SUCCEEDED:
                tally.failed += 1
            return outcome
        raise _Halt(f"rate limited {_RATE_LIMITED_TRIES} times in a row")

    async def _may_go(self, work: _Work, decision: Decision, *, first: bool) -> bool:
        """Whether the step may be sent now; raises _Halt when no later step may be either."""
        if self.stop.is_set():
            raise _Halt("stopping")
        # A long tick (a rate-limited burst of actions) must not outlive its lease, or a
        # standby could start acting beside it: renew when due before each step, stop if
        # lost. (The fence in the intent's INSERT refuses a lease lost meanwhile.)
        may_go = self.options.may_go or self.options.may_act
        if may_go is not None and not await may_go():
            raise _Halt("lost the lease mid-tick")
        return not first or self._still_wanted(work, decision)

    def _still_wanted(self, work: _Work, decision: Decision) -> bool:
        """After time has passed since the plan (waits for the rate), is the decision still
        what the rules say? Only time can have changed the answer here: the observation is
        the same, this process's own steps touch other campaigns, a step in flight elsewhere
        is refused by the INSERT (one unresolved intent per campaign), and so is a hold
        placed since the plan (the first step's INSERT checks for one). So nothing is read:
        before the plan's `next_wakeup` the answer cannot have changed, and after it this
        campaign is planned again from the plan's history at the new time (a window edge
        drops the decision until the next poll)."""
        now = self.clock.now()
        campaign = work.campaigns.get(decision.campaign_id)
        wakeup = work.plan.next_wakeup
        if now == work.plan.at or campaign is None or wakeup is None or now < wakeup:
            return True
        history = work.history
        again = engine.plan([campaign], work.ruleset, history, now, dry_run=self.options.dry_run)
        wanted = (decision.rule, decision.steps, decision.mode)
        if any((d.rule, d.steps, d.mode) == wanted for d in again.decisions):
            return True
        at = format_instant(now, work.ruleset.timezone)
        log.info("%s: %s no longer wanted at %s", decision.campaign_id, decision.rule, at)
        return False

    async def _send(
        self, tick: Tick, decision: Decision, step: Action, slot: Slot, *, first: bool
    ) -> Outcome:
        # Invariant 1: the intent is committed before the PUT leaves, and nothing waits
        # between them: the rate slot was taken before. The INSERT itself checks the lease
        # (the fence), and the PUT leaves within SEND_WINDOW of that check or not at all:
        # the monotonic clock runs from before the INSERT, so the window is never longer.
        # (CLOCK_MONOTONIC counts through a SIGSTOP: a frozen process sends nothing on waking.)
        checked = time.monotonic()
        try:
            intent_id = await self.store.open_intent(
                tick,
                decision=decision,
                step=step,
                at=self.clock.now(),
                fence=self.options.fence,
                unless_held=first,
            )
        except LeaseLost as exc:
            raise _Halt(f"lost the lease: {exc}") from None
        send_by = checked + self.options.send_window.total_seconds()
        try:
            result = await self.client.act(decision.campaign_id, step, slot=slot, send_by=send_by)
        except NotSent as exc:
            await self._close(intent_id, decision, step, Outcome.FAILED, exc)
            raise _Halt(f"frozen between the lease check and the send: {exc}") from None
        except RateLimited as exc:
            await self._close(intent_id, decision, step, Outcome.FAILED, exc)
            raise
        except OutcomeUnknown as exc:
            await self._close(intent_id, decision, step, Outcome.UNKNOWN, exc)
            return Outcome.UNKNOWN
        except ApiError as exc:
            await self._close(intent_id, decision, step, Outcome.FAILED, exc)
            if isinstance(exc, ActionRejected):
                await self._reread(decision.campaign_id)
            return Outcome.FAILED
        except BaseException as exc:
            # Anything else (a bug, cancellation at shutdown): we cannot know whether the
            # PUT left.
            await asyncio.shield(self._close(intent_id, decision, step, Outcome.UNKNOWN, exc))
            raise
        # Accepted, but the answer names another status: kept in the audit row's error text.
        surprise = result.surprise
        await asyncio.shield(
            self._record(
                intent_id,
                outcome=Outcome.SUCCEEDED,
                http_status=result.http_status,
                request_id=result.request_id,
                error=surprise,
            )
        )
        self.metrics.steps.labels(action=step.value, outcome=Outcome.SUCCEEDED.value).inc()
        self._emit(decision, step, Outcome.SUCCEEDED, surprise or "")
        return Outcome.SUCCEEDED

    async def _close(
        self, intent_id: int, decision: Decision, step: Action, outcome: Outcome, exc: BaseException
    ) -> None:
        error = _describe(exc)
        http_status = exc.http_status if isinstance(exc, ApiError) else None
        request_id = exc.request_id if isinstance(exc, ApiError) else None
        await self._record(
            intent_id, outcome=outcome, http_status=http_status, request_id=request_id, error=error
        )
        self.metrics.steps.labels(action=step.value, outcome=outcome.value).inc()
        self._emit(decision, step, outcome, error)

    async def _record(
        self,
        intent_id: int,
        *,
        outcome: Outcome,
        http_status: int | None,
        request_id: str | None,
        error: str | None,
    ) -> None:
        """The answer to our own request, recorded on its intent by id. When the intent was
        decided meanwhile (this process was frozen past its lease, and the next holder
        re-read the campaign after the grace), that decision stands: say so, change nothing."""
        try:
            await self.store.record_outcome(
                intent_id,
                outcome=outcome,
                at=self.clock.now(),
                http_status=http_status,
                request_id=request_id,
                error=error,
            )
        except IntentNotOpen:
            log.warning(
                "intent %s was decided by another process meanwhile; our answer (%s%s) is "
                "only logged",
                intent_id,
                outcome.value,
                f": {error}" if error else "",
            )

    async def _reread(self, campaign_id: str) -> None:
        """After a state conflict, observe the one campaign so the next plan starts from truth."""
        try:
            campaign = await self.client.get_campaign(campaign_id)
        except ApiError as exc:
            log.warning("cannot re-read %s after a rejected action: %s", campaign_id, exc)
            return
        await self.store.observe([campaign], at=self.clock.now(), listing=False)

    def _emit(self, decision: Decision, step: Action, outcome: Outcome, detail: str = "") -> None:
        """Tell the log (and the console, when one listens) what happened to a step."""
        quiet = outcome in (Outcome.SUCCEEDED, Outcome.DRY_RUN) and not detail
        level = logging.INFO if quiet else logging.WARNING
        log.log(
            level,
            "%s %s %r by rule %s: %s%s (%s)",
            step.value,
            decision.campaign_id,
            decision.campaign_name,
            decision.rule,
            outcome.value,
            f": {detail}" if detail else "",
            decision.reason,
        )
        event = StepEvent(self.clock.now(), decision, step, outcome, detail)
        self._steps.append(event)
        if self.options.on_step:
            self.options.on_step(event)


# Exotel's clock against ours: a `date_updated` this much before an intent was opened is
# taken to be someone else's change, not one our PUT made.
_CLOCK_SKEW = timedelta(seconds=10)


def _already_there(intent: OpenIntent, campaign: Campaign) -> str | None:
    """Why the campaign's target status predates the step, by its `date_updated`; None when
    it does not (or there is no `date_updated`). Only for a rules file that trusts it:
    Exotel may leave `date_updated` unmoved on a status change (docs/exotel-api.md §0)."""
    updated = campaign.date_updated
    if updated is None or updated + _CLOCK_SKEW >= intent.created_at:
        return None
    return (
        f"not applied by this step: campaign was already {campaign.status.value} "
        f"(date_updated {updated.isoformat()}, before the intent was opened at "
        f"{intent.created_at.isoformat()}; date_updated trusted by the rules file)"
    )


def _chunks(ids: Sequence[str], size: int, *, grow: bool) -> Iterator[Sequence[str]]:
    """`ids` in order, `size` at a time, the size doubling after each when `grow`."""
    start = 0
    while start < len(ids):
        yield ids[start : start + size]
        start += size
        size = size * 2 if grow else size


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"
