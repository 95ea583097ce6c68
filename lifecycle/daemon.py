"""Process lifetime: resources, signals, the scheduler's jobs, hot reload of the rules.

Names: a *tick* is one pass of the reconcile loop (`cycle.Reconciler.tick()`). `TickJob`
is the scheduler's one job that runs ticks: after each tick it sets its own next run to
the earlier of the next poll and the plan's `next_wakeup`, and a webhook, SIGHUP or a
rules edit `nudge`s it. Watching the rules file and retention are jobs of their own. The
leader lease (`lease.Lease`) is taken before each tick and renewed before each step.

One way to stop: an `asyncio.Event`, set by SIGTERM/SIGINT, and one path from it for the
daemon and `run --once` alike (`tick_until_stopped`): no new tick starts, every wait (rate
slot, `Retry-After`, read back-off) ends at once through the client's stop-aware sleep,
the step in flight gets `_STOP_GRACE` seconds to finish with its audit row (past that it
is cancelled and recorded unknown), and the process exits 0: within seconds, well inside
systemd's TimeoutStopSec. One way to clean up: an `AsyncExitStack` that unwinds in reverse.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from lifecycle import web
from lifecycle.client import ExotelClient, RequestOutcome
from lifecycle.clock import Clock, SystemClock, stoppable_sleep
from lifecycle.cycle import Progress, Reconciler, StepEvent, TickOptions, TickReport
from lifecycle.errors import RulesError
from lifecycle.instant import format_instant
from lifecycle.lease import Lease
from lifecycle.metrics import Metrics
from lifecycle.rules import Ruleset, compile_rules, decode_rules, load_rules, rules_hash
from lifecycle.settings import Settings
from lifecycle.store import Store

log = logging.getLogger("lifecycle.daemon")

# Act just after a window edge, never a hair before it.
_WAKEUP_MARGIN = timedelta(milliseconds=200)
# A nudge runs the tick this long (real time) after the first request: a burst of callbacks
# becomes one tick, later requests never postpone it, and a steady stream costs at most one
# tick per tick-and-2-s (each one list call, within the rate limiter like any request).
_NUDGE_DELAY = timedelta(seconds=2)
# How long a step already sent may take to answer after SIGTERM before it is recorded
# unknown (resolved by re-reading on the next start): exit well within 5 s.
_STOP_GRACE = 2.5
_TICK_JOB = "tick"
# `run --once` that could not act because another process holds the lease (README, Commands).
EXIT_STANDBY = 3


@dataclass(frozen=True)
class RejectedEdit:
    """A saved rules file that did not validate, known by its hash so it is logged once."""

    hash: str
    error: RulesError


class RulesInForce:
    """The ruleset in force. `refresh()` swaps in a saved edit atomically when it validates;
    a bad edit is logged with its FILE:LINE:COL problems and the last good rules stay."""

    def __init__(self, path: Path, metrics: Metrics) -> None:
        self.path = path
        self._metrics = metrics
        self.current: Ruleset = load_rules(path)
        self._rejected: str | None = None
        metrics.set_ruleset(self.current.hash)

    def __call__(self) -> Ruleset:
        return self.current

    def refresh(self) -> bool:
        """Reload if the file's content changed; True when new rules took effect."""
        return self.swap(self.read())

    async def refresh_off_loop(self) -> bool:
        """`refresh`, with the file read and parsed in a worker thread: a large or
        hostile edit never stalls the ticks, the web server or the stop path. The swap
        itself stays on the loop."""
        return self.swap(await asyncio.to_thread(self.read))

    def read(self) -> Ruleset | RejectedEdit | None:
        """The file's rules, its problems, or None when there is nothing new to apply.
        Touches no state, so it may run in any thread."""
        current, rejected = self.current.hash, self._rejected
        try:
            data = self.path.read_bytes()
        except OSError as exc:
            log.error("cannot read %s (%s); keeping ruleset %s", self.path, exc.strerror, current)
            return None
        if rules_hash(data) in (current, rejected):
            return None
        try:
            return compile_rules(decode_rules(data, filename=str(self.path)))
        except RulesError as exc:
            return RejectedEdit(rules_hash(data), exc)

    def swap(self, found: Ruleset | RejectedEdit | None) -> bool:
        """Put what `read` found in force; True when new rules took effect."""
        if found is None or found.hash in (self.current.hash, self._rejected):
            return False
        if isinstance(found, RejectedEdit):
            self._rejected = found.hash
            self._metrics.rules_reloads.labels(result="rejected").inc()
            log.error(
                "rejected edit of %s; keeping ruleset %s:\n%s",
                self.path,
                self.current.hash,
                found.error,
            )
            return False
        ruleset = found
        log.info("rules reloaded from %s: %s → %s", self.path, self.current.hash, ruleset.hash)
        self.current = ruleset
        self._rejected = None
        self._metrics.rules_reloads.labels(result="applied").inc()
        self._metrics.set_ruleset(ruleset.hash)
        return True


@dataclass
class TickJob:
    """The scheduler's one job that runs ticks (`max_instances=1`: never two at once)."""

    reconciler: Reconciler
    rules: RulesInForce
    scheduler: AsyncIOScheduler
    poll: timedelta  # real time, as LIFECYCLE_POLL_SECONDS says
    # Webhooks bring a tick no sooner than this after the last one began (real time,
    # LIFECYCLE_WEBHOOK_MIN_INTERVAL): a flood costs one list call per gap, not per 2 s.
    webhook_gap: timedelta = timedelta(seconds=30)
    started: datetime | None = None  # when the last run began (the scheduler's real time)
    _in_flight: asyncio.Task[None] | None = None
    _nudged: bool = False  # while a run is in flight: run again soon after it
    _hinted: bool = False  # while a run is in flight: run again after the webhook gap

    def add(self) -> None:
        """The first tick runs at once; each run then sets when the next one does."""
        self.scheduler.add_job(
            self.run,
            "interval",  # the poll, should a run ever end without setting its successor
            seconds=self.poll.total_seconds(),
            next_run_time=self._wall_in(timedelta(0)),
            id=_TICK_JOB,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
        )

    async def run(self) -> None:
        """The job: one tick on the rules as saved, then the next run at the next poll, the
        plan's next wake-up or (when nudged meanwhile) soon, whichever comes first."""
        self._in_flight = asyncio.current_task()
        self.started = self._wall_in(timedelta(0))
        self._nudged = self._hinted = False
        try:
            await self.rules.refresh_off_loop()
            report = await tick_until_stopped(self.reconciler)
        finally:
            self._in_flight = None
        if report is not None and not self.reconciler.stop.is_set():
            self._schedule_after(report)

    def nudge(self, reason: str) -> None:
        """Tick soon: a webhook, SIGHUP or a rules edit says the world may have changed."""
        if self.reconciler.stop.is_set():
            return
        log.debug("early tick requested: %s", reason)
        if self._in_flight is not None:
            self._nudged = True  # the tick in flight may have read the campaigns before it
            return
        self._bring_forward(self._wall_in(_NUDGE_DELAY))

    def hint(self, reason: str) -> None:
        """A webhook's early tick: as `nudge`, but no sooner than `webhook_gap` after the
        last run began, so a flood of callbacks leaves the API budget to the steps. SIGHUP
        and rules edits `nudge`: the operator's own requests are never held back."""
        if self.reconciler.stop.is_set():
            return
        log.debug("early tick hinted: %s", reason)
        if self._in_flight is not None:
            self._hinted = True
            return
        self._bring_forward(self._hinted_at())

    def _hinted_at(self) -> datetime:
        soon = self._wall_in(_NUDGE_DELAY)
        return soon if self.started is None else max(soon, self.started + self.webhook_gap)

    def _bring_forward(self, at: datetime) -> None:
        job = self.scheduler.get_job(_TICK_JOB)
        if job.next_run_time is None or at < job.next_run_time:  # never postpone it
            job.modify(next_run_time=at)

    async def stopped(self) -> None:
        """Wait for the run in flight: once `stop` is set its tick ends within the grace."""
        if self._in_flight is not None:
            await asyncio.wait([self._in_flight])

    def _schedule_after(self, report: TickReport) -> None:
        due = [self._wall_in(self.poll)]
        if self._nudged:
            due.append(self._wall_in(_NUDGE_DELAY))
        if self._hinted:
            due.append(self._hinted_at())
        if report.plan is not None and report.plan.next_wakeup is not None:
            due.append(self.reconciler.clock.to_wall(report.plan.next_wakeup + _WAKEUP_MARGIN))
        self.scheduler.get_job(_TICK_JOB).modify(next_run_time=min(due))

    def _wall_in(self, delay: timedelta) -> datetime:
        clock = self.reconciler.clock
        return clock.to_wall(clock.now()) + delay


async def tick_until_stopped(
    reconciler: Reconciler, grace: float = _STOP_GRACE
) -> TickReport | None:
    """One tick, and the one way a tick meets a stop, for the daemon and `run --once`: once
    `reconciler.stop` is set its waits end at once and a step in flight gets `grace` seconds
    to answer; past that it is cancelled and recorded unknown. None: the tick was cut short."""
    stop = reconciler.stop
    if stop.is_set():
        return None
    tick = asyncio.create_task(reconciler.tick())
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait([tick, stopping], return_when=asyncio.FIRST_COMPLETED)
        if not tick.done():
            await asyncio.wait([tick], timeout=grace)
        if not tick.done():
            log.warning("the tick did not finish within %gs of stop: cancelling it", grace)
            tick.cancel()
            await asyncio.wait([tick])
    finally:
        stopping.cancel()
        tick.cancel()  # only if this wait itself was cancelled: never leave the tick behind
    return None if tick.cancelled() else tick.result()


@dataclass
class DaemonOptions:
    once: bool = False
    dry_run: bool = False
    clock: Clock = field(default_factory=SystemClock)
    on_step: Callable[[StepEvent], None] | None = None
    serve_http: bool = True
    install_signal_handlers: bool = True
    rules_watch_seconds: float = 5.0  # how soon a saved edit of the rules file is noticed


async def run_daemon(
    settings: Settings, options: DaemonOptions, stop: asyncio.Event | None = None
) -> int:
    """The daemon's whole life. Returns the process exit code."""
    metrics = Metrics()
    rules = RulesInForce(settings.rules, metrics)
    stop = stop or asyncio.Event()
    async with AsyncExitStack() as stack:
        store = await Store.connect(settings.database_url.get_secret_value())
        stack.push_async_callback(store.close)
        await store.ensure_current()
        progress = Progress()
        client = await stack.enter_async_context(
            _client(settings, metrics, stop, _marks(progress, options.clock))
        )
        # Real seconds by the database's clock, whatever the speed of the daemon's clock.
        lease = Lease.for_account(
            settings.exotel_account_sid,
            store=store,
            instance=settings.instance,
            ttl=settings.lease_ttl,
            bound=settings.send_bound,
            metrics=metrics,
            zone=rules.current.timezone,
        )
        stack.push_async_callback(lease.release)
        reconciler = Reconciler(
            client=client,
            store=store,
            ruleset=rules,
            clock=options.clock,
            options=TickOptions(
                dry_run=options.dry_run or settings.dry_run,
                may_act=lease.hold,
                leader=lease.leader,
                fence=lease.fence,
                grace=settings.unknown_grace,
                on_step=options.on_step,
            ),
            metrics=metrics,
            stop=stop,
            progress=progress,
        )
        if options.install_signal_handlers:
            _install_signals(stack, stop)
        if options.once:
            return await _once(reconciler, lease)
        await _serve(stack, settings, options, reconciler, rules)
    log.info("stopped cleanly")
    return 0


async def _serve(
    stack: AsyncExitStack,
    settings: Settings,
    options: DaemonOptions,
    reconciler: Reconciler,
    rules: RulesInForce,
) -> None:
    scheduler = AsyncIOScheduler(timezone=UTC)
    ticks = TickJob(
        reconciler,
        rules,
        scheduler,
        poll=timedelta(seconds=settings.poll_seconds),
        webhook_gap=timedelta(seconds=settings.webhook_gap),
    )
    ticks.add()
    scheduler.add_job(
        _watch_rules,
        "interval",
        seconds=options.rules_watch_seconds,
        args=(rules, ticks),
        id="rules",
    )
    scheduler.add_job(
        _prune, "interval", hours=6, args=(reconciler, settings), id="retention", coalesce=True
    )
    if options.install_signal_handlers:
        _on_sighup(stack, lambda: ticks.nudge("SIGHUP"))
    if options.serve_http:
        state = web.WebState(
            reconciler=reconciler,
            clock=options.clock,
            poll_seconds=settings.poll_seconds,
            nudge=ticks.hint,
            started_at=options.clock.now(),
            token=settings.webhook_token.get_secret_value(),
            body_timeout=settings.http_idle_timeout,
        )
        listen = web.Listen(
            settings.http_host,
            settings.http_port,
            max_connections=settings.http_max_connections,
            idle_timeout=settings.http_idle_timeout,
        )
        runner = await web.start(state, listen)
        stack.push_async_callback(runner.cleanup)
    scheduler.start()
    log.info(
        "running: polling every %gs, rules %s (%s)%s",
        settings.poll_seconds,
        rules.path,
        rules.current.hash,
        ", dry-run" if reconciler.options.dry_run else "",
    )
    await reconciler.stop.wait()
    log.info("stop requested: finishing the step in flight")
    scheduler.pause()  # no job starts from here on
    await ticks.stopped()
    scheduler.shutdown(wait=False)


async def _watch_rules(rules: RulesInForce, ticks: TickJob) -> None:
    """Pick up a saved edit within seconds: a good one ticks early, a bad one is logged."""
    if await rules.refresh_off_loop():
        ticks.nudge("rules changed")


async def _prune(reconciler: Reconciler, settings: Settings) -> None:
    before = reconciler.clock.now() - timedelta(days=settings.retention_days)
    try:
        removed = await reconciler.store.prune(before=before)
    except Exception as exc:  # retention must never take the daemon down
        log.error("retention pass failed: %s", exc)
        return
    if removed:
        older = format_instant(before, reconciler.ruleset().timezone)
        log.info("retention: removed %d rows older than %s", removed, older)


async def _once(reconciler: Reconciler, lease: Lease) -> int:
    """`run --once`: one tick, stopped as the daemon's are. Exit 1 when the tick failed;
    EXIT_STANDBY when another process holds the lease (it says who, and until when); 0 when
    it worked, or when SIGTERM/SIGINT stopped it (what was left waits for the next run)."""
    report = await tick_until_stopped(reconciler)
    if report is None:
        log.info("stopped with the tick cut short; its step in flight is recorded unknown")
        return 0
    if report.standby and not reconciler.stop.is_set():
        if lease.last is None:  # hold() logged why: the database did not answer
            return 1
        log.error("nothing done: %s", lease.describe(lease.last))
        return EXIT_STANDBY
    if reconciler.stop.is_set():  # asked to stop: a tick cut short is no failure of the run
        log.info("stopped cleanly; what was left waits for the next run")
        return 0
    return 0 if report.ok else 1


def _install_signals(stack: AsyncExitStack, stop: asyncio.Event) -> None:
    """SIGTERM and SIGINT set `stop`: the one way to stop, for the daemon and `--once`.
    The handlers go with the exit stack, so a caller's own handling comes back after."""
    if threading.current_thread() is not threading.main_thread():
        return
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
        stack.callback(loop.remove_signal_handler, sig)


def _on_sighup(stack: AsyncExitStack, handler: Callable[[], None]) -> None:
    if threading.current_thread() is not threading.main_thread():
        return
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGHUP, handler)
    stack.callback(loop.remove_signal_handler, signal.SIGHUP)


def _marks(progress: Progress, clock: Clock) -> Callable[[RequestOutcome], None]:
    """Each answered request is progress of the tick: a long list read page by page under
    the rate limit stays ready while the pages come."""

    def mark(outcome: RequestOutcome) -> None:
        if outcome.http_status is not None and outcome.http_status < 300:
            progress.mark(clock.now())

    return mark


def _client(
    settings: Settings,
    metrics: Metrics,
    stop: asyncio.Event,
    on_answer: Callable[[RequestOutcome], None],
) -> ExotelClient:
    def observe(outcome: RequestOutcome) -> None:
        on_answer(outcome)
        code = str(outcome.http_status or 0)
        metrics.api_requests.labels(endpoint=outcome.endpoint, code=code).inc()
        metrics.api_seconds.labels(endpoint=outcome.endpoint).observe(outcome.seconds)

    return ExotelClient.from_settings(settings, observer=observe, sleep=stoppable_sleep(stop))
