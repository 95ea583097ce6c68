"""One reconcile tick: resolve → fetch → observe → plan → execute → record.

Every tick is level-triggered: it decides from what it observes now and from the audit
trail, never from process memory, so a restart, a missed tick or a duplicate tick is
harmless. This module holds the one catch-all of the program: a tick that fails is
recorded and the next one runs.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from lifecycle import engine
from lifecycle.client import ExotelClient, Slot
from lifecycle.clock import Clock, wall_now
from lifecycle.errors import (
    ActionRejected,
    ApiError,
    Interrupted,
    LifecycleError,
    OutcomeUnknown,
    RateLimited,
    StoreUnavailable,
)
from lifecycle.metrics import Metrics
from lifecycle.model import Action, Campaign, Decision, Mode, Outcome, Plan, Skip
from lifecycle.rules import Ruleset
from lifecycle.store import IntentConflict, Store

log = logging.getLogger("lifecycle.cycle")

# 429s in a row on one step before the tick leaves the rest to the next one. Each try
# first waits out the Retry-After, so a server that keeps refusing costs minutes, not a loop.
_RATE_LIMITED_TRIES = 3


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
    warning: str | None = None  # the tick worked, on less than it should have: e.g. a short list

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class TickOptions:
    """How a Reconciler behaves; the daemon builds one from Settings."""

    dry_run: bool = False
    lease_owner: str | None = None  # None: no leader election (single process, `--once`)
    lease_ttl: timedelta = timedelta(minutes=3)
    on_step: Callable[[StepEvent], None] | None = None
    on_skip: Callable[[Skip], None] | None = None


@dataclass(frozen=True)
class _Tick:
    """What executing one tick's plan needs to know."""

    id: int
    plan: Plan
    ruleset: Ruleset
    campaigns: Mapping[str, Campaign]


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
    account_sid: str
    options: TickOptions = field(default_factory=TickOptions)
    metrics: Metrics = field(default_factory=Metrics)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    last: TickReport | None = None

    async def tick(self) -> TickReport:
        """Run one tick. Never raises (but for cancellation): failures land in the report."""
        started = time.monotonic()
        now = self.clock.now()
        report = await self._guarded(now)
        self.last = report
        self.metrics.tick_seconds.observe(time.monotonic() - started)
        result = "standby" if report.standby else ("ok" if report.ok else "error")
        self.metrics.ticks.labels(result=result).inc()
        if report.ok and not report.standby:
            self.metrics.last_success.set(wall_now().timestamp())
        return report

    async def _guarded(self, now: datetime) -> TickReport:
        ruleset = self.ruleset()
        if not await self._lead(now):
            return TickReport(at=now, standby=True)
        tick_id: int | None = None
        try:
            tick_id = await self.store.start_tick(
                at=now, ruleset=ruleset.hash, dry_run=self.options.dry_run
            )
            report = await self._run(tick_id, ruleset, now)
        except Interrupted as exc:
            log.info("tick cut short: %s", exc)
            report = TickReport(at=now, error=_describe(exc))
        except Exception as exc:  # the one catch-all: record, go on with the next tick
            error = _describe(exc)
            log.error("tick failed: %s", error, exc_info=not isinstance(exc, LifecycleError))
            report = TickReport(at=now, error=error)
        await self._finish(tick_id, report)
        return report

    @property
    def _lease(self) -> str:
        return f"tick:{self.account_sid}"

    async def release(self) -> None:
        """Give up the lease on the way out, so a standby takes over without waiting."""
        if self.options.lease_owner is None:
            return
        try:
            await self.store.release_lease(name=self._lease, owner=self.options.lease_owner)
        except StoreUnavailable as exc:
            log.warning("could not release the lease (it expires by itself): %s", exc)

    async def _lead(self, now: datetime) -> bool:
        owner = self.options.lease_owner
        if owner is None:
            return True
        try:
            leading = await self.store.acquire_lease(
                name=self._lease, owner=owner, at=now, ttl=self.options.lease_ttl
            )
        except StoreUnavailable as exc:
            log.error("cannot reach the database for the leader lease: %s", exc)
            leading = False
        self.metrics.leader.set(1 if leading else 0)
        if not leading:
            log.info(
                "another lifecycle process holds the lease for %s; standing by", self.account_sid
            )
        return leading

    async def _finish(self, tick_id: int | None, report: TickReport) -> None:
        if tick_id is None:
            return
        try:
            await self.store.finish_tick(
                tick_id,
                at=self.clock.now(),
                campaigns=report.campaigns,
                actions=report.sent,
                error=report.error,
            )
        except StoreUnavailable as exc:
            log.error("could not record the end of tick %s: %s", tick_id, exc)

    async def _run(self, tick_id: int, ruleset: Ruleset, now: datetime) -> TickReport:
        await self.resolve_open_intents(now)
        campaigns = await self.client.list_campaigns()
        if not campaigns.complete:  # the client logged it; act on those read, count it
            self.metrics.incomplete_lists.inc()
        self.metrics.observe_campaigns(campaigns)
        await self.store.observe(campaigns, at=now)
        history = await self.store.history(at=now, campaign_ids=[c.id for c in campaigns])
        plan = engine.plan(campaigns, ruleset, history, now, dry_run=self.options.dry_run)
        await self.store.record_plan(tick_id, plan)
        for skip in plan.skipped:
            self.metrics.skipped.labels(rule=skip.rule).inc()
            if self.options.on_skip:
                self.options.on_skip(skip)
        campaigns_by_id = {c.id: c for c in campaigns}
        sent, failed = await self._execute(_Tick(tick_id, plan, ruleset, campaigns_by_id))
        log.info(
            "tick done: %d campaigns, %d decisions, %d skipped, %d steps sent, %d failed; "
            "next wake-up %s",
            len(campaigns),
            len(plan.decisions),
            len(plan.skipped),
            sent,
            failed,
            plan.next_wakeup.isoformat() if plan.next_wakeup else "none",
        )
        return TickReport(
            at=now,
            campaigns=len(campaigns),
            plan=plan,
            sent=sent,
            failed=failed,
            warning=campaigns.shortfall,
        )

    async def resolve_open_intents(self, now: datetime) -> None:
        """Close every intent left open or unknown, by re-reading its campaign (invariant 1)."""
        for intent in await self.store.unresolved_intents():
            try:
                campaign = await self.client.get_campaign(intent.campaign_id)
            except ApiError as exc:
                log.warning(
                    "cannot re-read %s to resolve intent %s: %s", intent.campaign_id, intent.id, exc
                )
                continue
            applied = campaign.status == intent.expected
            await self.store.resolve_intent(
                intent.id,
                outcome=Outcome.SUCCEEDED if applied else Outcome.FAILED,
                at=now,
                error=f"resolved by re-reading: campaign is {campaign.status.value}",
            )

    async def _execute(self, tick: _Tick) -> tuple[int, int]:
        tally = _Tally()
        decisions = tick.plan.decisions
        for done, decision in enumerate(decisions):
            try:
                await self._carry_out(tick, decision, tally)
            except IntentConflict:
                # Another process has a step in flight on it: never send beside it.
                log.warning("%s has a step in flight elsewhere; left alone", decision.campaign_id)
            except (_Halt, Interrupted) as why:
                level = logging.INFO if self.stop.is_set() else logging.WARNING
                left = len(decisions) - done
                log.log(level, "%s: %d decisions left for the next tick", why, left)
                break
        return tally.sent, tally.failed

    async def _carry_out(self, tick: _Tick, decision: Decision, tally: _Tally) -> None:
        """Send the decision's steps in order; stop at the first one that does not succeed."""
        if decision.mode == Mode.DRY_RUN:
            if await self.store.record_dry_run(tick_id=tick.id, decision=decision, at=tick.plan.at):
                for step in decision.steps:
                    self._emit(decision, step, Outcome.DRY_RUN)
            return
        for index, step in enumerate(decision.steps):
            if await self._step(tick, decision, step, tally, first=index == 0) != Outcome.SUCCEEDED:
                return

    async def _step(
        self, tick: _Tick, decision: Decision, step: Action, tally: _Tally, *, first: bool
    ) -> Outcome | None:
        """One step, sent again (after its Retry-After) when Exotel answers 429.

        Every wait (a rate slot, a Retry-After) happens before the intent is written, and
        after it the stop, the lease and (before a first step) the decision are checked
        again: nothing waits between an intent and its PUT. None: the step was not sent.
        """
        for _ in range(_RATE_LIMITED_TRIES):
            async with self.client.slot() as slot:
                if not await self._may_go(tick, decision, first=first):
                    return None
                try:
                    outcome = await self._send(tick.id, decision, step, slot)
                except RateLimited as exc:
                    tally.failed += 1
                    log.warning("rate limited by Exotel for %gs; then again", exc.retry_after)
                    continue
            tally.sent += 1
            if outcome != Outcome.SUCCEEDED:
                tally.failed += 1
            return outcome
        raise _Halt(f"rate limited {_RATE_LIMITED_TRIES} times in a row")

    async def _may_go(self, tick: _Tick, decision: Decision, *, first: bool) -> bool:
        """Whether the step may be sent now; raises _Halt when no later step may be either."""
        if self.stop.is_set():
            raise _Halt("stopping")
        # A long tick (a rate-limited burst of actions) must not outlive its lease, or a
        # standby could start acting beside it: renew before each step, stop if lost.
        if not await self._lead(self.clock.now()):
            raise _Halt("lost the lease mid-tick")
        return not first or await self._still_wanted(tick, decision)

    async def _still_wanted(self, tick: _Tick, decision: Decision) -> bool:
        """After time has passed since the plan (waits for the rate), plan this campaign
        again, from the same observation and the audit trail as it is now: a window edge,
        a hold or a manual change since then drops the decision until the next poll."""
        now = self.clock.now()
        campaign = tick.campaigns.get(decision.campaign_id)
        if now == tick.plan.at or campaign is None:
            return True
        history = await self.store.history(at=now, campaign_ids=[campaign.id])
        again = engine.plan([campaign], tick.ruleset, history, now, dry_run=self.options.dry_run)
        wanted = (decision.rule, decision.steps, decision.mode)
        if any((d.rule, d.steps, d.mode) == wanted for d in again.decisions):
            return True
        log.info("%s: %s no longer wanted at %s", decision.campaign_id, decision.rule, now)
        return False

    async def _send(self, tick_id: int, decision: Decision, step: Action, slot: Slot) -> Outcome:
        # Invariant 1: the intent is committed before the PUT leaves, and nothing waits
        # between them: the rate slot was taken before.
        intent_id = await self.store.open_intent(
            tick_id=tick_id, decision=decision, step=step, at=self.clock.now()
        )
        try:
            result = await self.client.act(decision.campaign_id, step, slot=slot)
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
            self.store.record_outcome(
                intent_id,
                outcome=Outcome.SUCCEEDED,
                at=self.clock.now(),
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
        await self.store.record_outcome(
            intent_id,
            outcome=outcome,
            at=self.clock.now(),
            http_status=http_status,
            request_id=request_id,
            error=error,
        )
        self.metrics.steps.labels(action=step.value, outcome=outcome.value).inc()
        self._emit(decision, step, outcome, error)

    async def _reread(self, campaign_id: str) -> None:
        """After a state conflict, observe the one campaign so the next plan starts from truth."""
        try:
            campaign = await self.client.get_campaign(campaign_id)
        except ApiError as exc:
            log.warning("cannot re-read %s after a rejected action: %s", campaign_id, exc)
            return
        await self.store.observe([campaign], at=self.clock.now())

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
        if self.options.on_step:
            self.options.on_step(StepEvent(self.clock.now(), decision, step, outcome, detail))


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"
