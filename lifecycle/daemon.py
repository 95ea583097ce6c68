"""Process lifetime: resources, signals, the scheduler's jobs, hot reload of the rules.

Names: a *tick* is one pass of the reconcile loop (`cycle.Reconciler.tick()`). `TickJob`
is the scheduler's job that runs one account's ticks: after each tick it sets its own next
run to the earlier of the next poll and the plan's `next_wakeup`, and a webhook, SIGHUP or
a rules edit `nudge`s it. Watching the rules file and retention are jobs of their own. The
leader lease (`lease.Lease`) is taken before each tick and renewed before a step when due.

Many accounts (LIFECYCLE_ACCOUNTS): one `AccountRunner` per account, each with its own
client and rate limiter, rules in force, lease, reconciler and tick job (id `tick:SID`).
Nothing is shared but the process, the database pool and the HTTP side, so a 401, a 429
storm, a bad rules edit or a slow API on one account never holds another's tick back.

One way to stop: an `asyncio.Event`, set by SIGTERM/SIGINT, and one path from it for the
daemon and `run --once` alike (`tick_until_stopped`): no new tick starts, every wait (rate
slot, `Retry-After`, read back-off) ends at once through the client's stop-aware sleep,
the step in flight gets `_STOP_GRACE` seconds to finish with its audit row (past that it
is cancelled and recorded unknown), and the process exits 0: within seconds, well inside
systemd's TimeoutStopSec. One way to clean up: an `AsyncExitStack` that unwinds in reverse.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import signal
import socket
import threading
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import AsyncExitStack
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from lifecycle import web
from lifecycle.accounts import Account, configured_accounts
from lifecycle.client import ExotelClient, RequestOutcome
from lifecycle.client.poll import Poller
from lifecycle.clock import Clock, SystemClock, stoppable_sleep
from lifecycle.cycle import Progress, Reconciler, StepEvent, TickOptions, TickReport
from lifecycle.errors import ConfigError, RulesError
from lifecycle.instant import format_instant
from lifecycle.lease import Lease, owner_id
from lifecycle.metrics import Metrics, MetricsHub
from lifecycle.notify import Notifier, rules_rejected
from lifecycle.overview import Rejection, RulesState
from lifecycle.rules import (
    NO_OVERRIDES,
    Overrides,
    Ruleset,
    compile_rules,
    decode_rules,
    load_rules,
    rules_hash,
)
from lifecycle.settings import Settings, format_period
from lifecycle.sharing import Share
from lifecycle.store import Store, sqlite_path
from lifecycle.systemd import notify as sd_notify
from lifecycle.systemd import watchdog_interval

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
# The account whose work the current task does: each tick runs in a task of its own.
_ACCOUNT: ContextVar[str | None] = ContextVar("lifecycle_account", default=None)
# `run --once` that could not act because another process holds the lease (README, Commands).
EXIT_STANDBY = 3


@dataclass(frozen=True)
class RejectedEdit:
    """A saved rules file that did not validate, known by its hash so it is logged once."""

    hash: str
    error: RulesError


class RulesInForce:
    """The ruleset in force. `refresh()` swaps in a saved edit atomically when it validates;
    a bad edit is logged with its FILE:LINE:COL problems and the last good rules stay, and
    `state()` tells the status page and `/readyz` about it until a good edit replaces it."""

    def __init__(
        self,
        path: Path,
        metrics: Metrics,
        overrides: Overrides = NO_OVERRIDES,
        clock: Clock | None = None,
    ) -> None:
        self.path = path
        self._metrics = metrics
        self._overrides = overrides  # the account's zone and holidays (accounts file)
        self._clock = clock or SystemClock()
        # Told of each rejected edit once, after it is logged (the notifier).
        self.on_rejected: Callable[[RejectedEdit], None] | None = None
        self.current: Ruleset = load_rules(path, overrides)
        self.loaded_at = self._clock.now()
        self._rejected: str | None = None
        self.rejection: Rejection | None = None
        metrics.set_ruleset(self.current.hash)
        metrics.rules_reload_ok.set(1)

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
            return compile_rules(decode_rules(data, filename=str(self.path)), self._overrides)
        except RulesError as exc:
            return RejectedEdit(rules_hash(data), exc)

    def swap(self, found: Ruleset | RejectedEdit | None) -> bool:
        """Put what `read` found in force; True when new rules took effect."""
        if found is None or found.hash in (self.current.hash, self._rejected):
            return False
        if isinstance(found, RejectedEdit):
            self._rejected = found.hash
            problems = tuple(str(problem) for problem in found.error.problems)
            self.rejection = Rejection(found.hash, self._clock.now(), problems)
            self._metrics.rules_reloads.labels(result="rejected").inc()
            self._metrics.rules_reload_ok.set(0)
            log.error(
                "rejected edit of %s; keeping ruleset %s:\n%s",
                self.path,
                self.current.hash,
                found.error,
            )
            if self.on_rejected is not None:
                self.on_rejected(found)
            return False
        ruleset = found
        log.info("rules reloaded from %s: %s → %s", self.path, self.current.hash, ruleset.hash)
        self.current = ruleset
        self.loaded_at = self._clock.now()
        self._rejected = None
        self.rejection = None
        self._metrics.rules_reloads.labels(result="applied").inc()
        self._metrics.rules_reload_ok.set(1)
        self._metrics.set_ruleset(ruleset.hash)
        return True

    def state(self) -> RulesState:
        """The rules in force, the rejected edit if any, and the hash of the file as it is
        on disk now (a small local read; None when it cannot be read)."""
        try:
            on_disk: str | None = rules_hash(self.path.read_bytes())
        except OSError:
            on_disk = None
        return RulesState(
            path=str(self.path),
            hash=self.current.hash,
            loaded_at=self.loaded_at,
            rejected=self.rejection,
            on_disk=on_disk,
        )


@dataclass
class TickJob:
    """The scheduler's job that runs one account's ticks (`max_instances=1`: never two at
    once); `job_id` tells the accounts' jobs apart."""

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
    job_id: str = _TICK_JOB
    # Run after each tick (not cut short): a daemon sharing accounts hands over here an
    # account that moved away during the tick, its steps done.
    after: Callable[[], Awaitable[None]] | None = None
    account: str | None = None  # named in every log line of its ticks (several accounts)

    def add(self) -> None:
        """The first tick runs at once; each run then sets when the next one does."""
        self.scheduler.add_job(
            self.run,
            "interval",  # the poll, should a run ever end without setting its successor
            seconds=self.poll.total_seconds(),
            next_run_time=self._wall_in(timedelta(0)),
            id=self.job_id,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
        )

    async def run(self) -> None:
        """The job: one tick on the rules as saved, then the next run at the next poll, the
        plan's next wake-up or (when nudged meanwhile) soon, whichever comes first."""
        self._in_flight = asyncio.current_task()
        _ACCOUNT.set(self.account)  # this task's own context: no other account sees it
        self.started = self._wall_in(timedelta(0))
        self._nudged = self._hinted = False
        try:
            await self.rules.refresh_off_loop()  # an edit since the edge plan voids it
            # At a wake-up the last tick planned for: act on its campaigns first.
            await tick_until_stopped(self.reconciler, run=self.reconciler.edge_tick)
            report = await tick_until_stopped(self.reconciler)
        finally:
            self._in_flight = None
        if report is not None and not self.reconciler.stop.is_set():
            self._schedule_after(report)
            if self.after is not None:
                await self.after()

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

    def run_soon(self, delay: timedelta) -> None:
        """Run `delay` from now (real time), unless a run is in flight or due sooner."""
        if self.reconciler.stop.is_set() or self._in_flight is not None:
            return
        self._bring_forward(self._wall_in(delay))

    @property
    def in_flight(self) -> bool:
        return self._in_flight is not None

    def _hinted_at(self) -> datetime:
        soon = self._wall_in(_NUDGE_DELAY)
        return soon if self.started is None else max(soon, self.started + self.webhook_gap)

    def _bring_forward(self, at: datetime) -> None:
        job = self.scheduler.get_job(self.job_id)
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
        self.scheduler.get_job(self.job_id).modify(next_run_time=min(due))

    def _wall_in(self, delay: timedelta) -> datetime:
        clock = self.reconciler.clock
        return clock.to_wall(clock.now()) + delay


async def tick_until_stopped(
    reconciler: Reconciler,
    grace: float = _STOP_GRACE,
    *,
    run: Callable[[], Coroutine[Any, Any, TickReport | None]] | None = None,
) -> TickReport | None:
    """One tick, and the one way a tick meets a stop, for the daemon and `run --once`: once
    `reconciler.stop` is set its waits end at once and a step in flight gets `grace` seconds
    to answer; past that it is cancelled and recorded unknown. None: the tick was cut short
    (or `run`, default `reconciler.tick`, had nothing to do)."""
    stop = reconciler.stop
    if stop.is_set():
        return None
    tick = asyncio.create_task((run or reconciler.tick)())
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


@dataclass
class AccountRunner:
    """Everything one account has to itself in a daemon (see the module docstring)."""

    account: Account
    rules: RulesInForce
    lease: Lease
    reconciler: Reconciler
    ticks: TickJob | None = None  # once serving

    @property
    def sid(self) -> str:
        return self.account.sid


async def run_daemon(
    settings: Settings, options: DaemonOptions, stop: asyncio.Event | None = None
) -> int:
    """The daemon's whole life, for every configured account. Returns the exit code."""
    accounts = configured_accounts(settings)
    hub = MetricsHub()
    stop = stop or asyncio.Event()
    async with AsyncExitStack() as stack:
        store = await Store.connect(settings.database_url.get_secret_value())
        stack.push_async_callback(store.close)
        await store.ensure_current()
        share: Share | None = None
        if not options.once:  # `run --once` takes what it can, and is no daemon to share with
            _one_daemon_per_sqlite_file(stack, settings)
            share = Share.for_lease(
                store,
                owner_id(settings.instance),
                [account.sid for account in accounts],
                lease_ttl=settings.lease_ttl,
            )
            await share.heartbeat()
        # Messages name their account when there are several (`Notifier.account`).
        named = settings.accounts is not None
        runners = [
            await _runner(
                stack,
                account,
                store,
                hub.for_account(account.sid),
                options,
                stop,
                share=share,
                named=named,
            )
            for account in accounts
        ]
        if share is not None:
            stack.push_async_callback(share.leave)  # first on the way out, then the leases
        if named:
            _name_accounts_in_logs(stack)
        if options.install_signal_handlers:
            _install_signals(stack, stop)
        if share is None:
            return await _once_for_all(runners)
        await _serve(stack, settings, options, runners, hub, share)
    log.info("stopped cleanly")
    return 0


async def _runner(
    stack: AsyncExitStack,
    account: Account,
    root: Store,
    metrics: Metrics,
    options: DaemonOptions,
    stop: asyncio.Event,
    *,
    share: Share | None,
    named: bool = False,
) -> AccountRunner:
    """One account's client, rules, lease, notifier and reconciler, cleaned up by `stack`;
    `named`: its notifications say which account they are about (several accounts)."""
    settings = account.settings
    rules = RulesInForce(settings.rules, metrics, account.overrides, options.clock)
    progress = Progress()
    client = await stack.enter_async_context(
        _client(settings, metrics, stop, _marks(progress, options.clock))
    )
    store = root.for_account(account.sid)
    # Real seconds by the database's clock, whatever the speed of the daemon's clock.
    lease = Lease.for_account(
        account.sid,
        store=store,
        instance=settings.instance,
        ttl=settings.lease_ttl,
        bound=settings.send_bound,
        metrics=metrics,
        zone=rules.current.timezone,
    )
    stack.push_async_callback(lease.release)
    notifier = Notifier(
        store=store, ruleset=rules, clock=options.clock, account=account.sid if named else None
    )
    stack.push_async_callback(notifier.close)  # before the store closes: unwound first
    await notifier.resume()
    lease.on_notice = notifier.post
    rules.on_rejected = _teller(notifier, rules, options.clock)
    reconciler = Reconciler(
        client=client,
        store=store,
        ruleset=rules,
        clock=options.clock,
        options=TickOptions(
            dry_run=options.dry_run or settings.dry_run,
            may_act=_may_act(share, lease, account.sid, lease.hold),
            may_go=_may_act(share, lease, account.sid, lease.keep),
            leader=lease.leader,
            fence=lease.fence,
            grace=settings.unknown_grace,
            on_step=options.on_step,
            after_tick=notifier.on_tick,
            # A wake-up within the poll is planned in advance: the edge is acted on first.
            edge_horizon=None
            if options.once
            else timedelta(seconds=settings.poll_seconds * options.clock.speed),
        ),
        metrics=metrics,
        stop=stop,
        progress=progress,
        poller=_poller(client, settings),
    )
    return AccountRunner(account, rules, lease, reconciler)


def _poller(client: ExotelClient, settings: Settings) -> Poller:
    """LIFECYCLE_SETTLED_POLL (or the account's `settled_poll`)."""
    if settings.settled_poll is not None:
        log.info(
            "account %s: settled campaigns listed in full every %s (experimental)",
            settings.exotel_account_sid,
            format_period(settings.settled_poll),
        )
    return Poller(client, period=settings.settled_poll)


def _may_act(
    share: Share | None, lease: Lease, sid: str, ask: Callable[[], Awaitable[bool]]
) -> Callable[[], Awaitable[bool]]:
    """Asked before each tick (`ask` = `lease.hold`) and each step (`lease.keep`): the
    lease, if the account is this daemon's share. An account that moved to another daemon
    is released here, so after the step in flight and before the next one; the new owner
    takes it once released."""
    if share is None:
        return ask

    async def may_act() -> bool:
        if share.owns(sid):
            lease.elsewhere = None
            return await ask()
        await _hand_over(share, lease, sid)
        return False

    return may_act


async def _hand_over(share: Share, lease: Lease, sid: str) -> None:
    lease.elsewhere = share.owner(sid)
    if lease.leading:
        log.info("account %s moves to daemon %s: releasing its lease", sid, lease.elsewhere)
        await lease.release()


async def _beat(share: Share, runners: list[AccountRunner]) -> None:
    """The heartbeat job: say this daemon is alive, then hand over the idle accounts that
    moved away, and tick soon for those that moved here (at once, or just after the old
    holder's lease expires when that comes before the next beat)."""
    await share.heartbeat()
    for runner in runners:
        if runner.ticks is None or runner.ticks.in_flight:
            continue  # its own may_act sees the move before its next step
        if not share.owns(runner.sid):
            await _hand_over(share, runner.lease, runner.sid)
        elif not runner.lease.leading:
            runner.lease.elsewhere = None
            runner.ticks.run_soon(_takeover_delay(runner.lease, share.beat))


def _handing_over(share: Share, runner: AccountRunner) -> Callable[[], Awaitable[None]]:
    """After each tick: release the account if it moved away meanwhile (a heartbeat skips
    an account whose tick is in flight, and a tick with no step left never asks again)."""

    async def after_tick() -> None:
        if runner.lease.leading and not share.owns(runner.sid):
            await _hand_over(share, runner.lease, runner.sid)

    return after_tick


def _takeover_delay(lease: Lease, beat: timedelta) -> timedelta:
    """0, or when the holder's lease expires if that comes before the next beat."""
    row = lease.last
    if row is None:
        return timedelta(0)
    left = row.expires_at - row.db_now
    return left + _WAKEUP_MARGIN if timedelta(0) < left < beat else timedelta(0)


class _AccountInLogs(logging.Filter):
    """Prefixes each log line written for an account's tick with `[SID] `."""

    def filter(self, record: logging.LogRecord) -> bool:
        sid = _ACCOUNT.get()
        if sid is not None and not getattr(record, "account", None):
            record.account = sid
            record.msg = f"[{sid}] {record.msg}"
        return True


def _name_accounts_in_logs(stack: AsyncExitStack) -> None:
    """With an accounts file, every line logged for an account says which (the handlers
    are the CLI's; the filter goes when the daemon stops)."""
    named = _AccountInLogs()
    for handler in logging.getLogger().handlers:
        handler.addFilter(named)
        stack.callback(handler.removeFilter, named)


def _one_daemon_per_sqlite_file(stack: AsyncExitStack, settings: Settings) -> None:
    """SQLite serves one daemon: hold an exclusive lock beside the database file for the
    daemon's life (the kernel drops it when the process dies, kill -9 included), and
    refuse to start when another daemon holds it. PostgreSQL has no such limit."""
    path = sqlite_path(settings.database_url.get_secret_value())
    if path is None:
        return
    lock = path.with_name(path.name + ".daemon")
    handle = lock.open("a+", encoding="ascii")
    stack.callback(handle.close)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        holder = handle.read().strip() or "?"
        raise ConfigError(
            f"another daemon ({holder}) is running on the SQLite database {path}: SQLite "
            "serves one daemon; to share accounts between daemons use PostgreSQL"
        ) from None
    handle.truncate(0)
    handle.write(f"pid {os.getpid()} on {socket.gethostname()}")
    handle.flush()


async def _serve(
    stack: AsyncExitStack,
    settings: Settings,
    options: DaemonOptions,
    runners: list[AccountRunner],
    hub: MetricsHub,
    share: Share,
) -> None:
    scheduler = AsyncIOScheduler(timezone=UTC)
    scheduler.add_job(
        _beat,
        "interval",
        seconds=share.beat.total_seconds(),
        args=(share, runners),
        id="heartbeat",
        max_instances=1,
        coalesce=True,
    )
    for runner in runners:
        runner.ticks = _tick_job(runner, scheduler, settings, job_id=_job_id(runners, runner))
        runner.ticks.after = _handing_over(share, runner)
        runner.ticks.account = runner.sid if settings.accounts else None
        runner.ticks.add()
        scheduler.add_job(
            _watch_rules,
            "interval",
            seconds=options.rules_watch_seconds,
            args=(runner.rules, runner.ticks),
            id=f"rules:{runner.sid}",
        )
    first = runners[0].reconciler
    scheduler.add_job(
        _prune, "interval", hours=6, args=(first, settings), id="retention", coalesce=True
    )
    jobs = [runner.ticks for runner in runners if runner.ticks is not None]
    if options.install_signal_handlers:
        _on_sighup(stack, lambda: _each(jobs, TickJob.nudge, "SIGHUP"))
    interval = watchdog_interval()
    if interval is not None:
        stall = timedelta(seconds=3 * settings.poll_seconds)
        reconcilers = [runner.reconciler for runner in runners]
        scheduler.add_job(
            _feed_watchdog, "interval", seconds=interval, args=(reconcilers, stall), id="watchdog"
        )
    if options.serve_http:
        state = web.WebState(
            reconciler=first,
            clock=options.clock,
            poll_seconds=settings.poll_seconds,
            # A callback does not say which account it is about: each account looks.
            nudge=lambda reason: _each(jobs, TickJob.hint, reason),
            started_at=options.clock.now(),
            token=settings.webhook_token.get_secret_value(),
            body_timeout=settings.http_idle_timeout,
            accounts={r.sid: r.reconciler for r in runners} if settings.accounts else {},
            exposition=hub.exposition,
            rules=runners[0].rules.state,
            account_rules={r.sid: r.rules.state for r in runners} if settings.accounts else {},
        )
        listen = web.Listen(
            settings.http_host,
            settings.http_port,
            max_connections=settings.http_max_connections,
            idle_timeout=settings.http_idle_timeout,
        )
        site = await web.start(state, listen)
        stack.push_async_callback(site.cleanup)
    scheduler.start()
    sd_notify("READY=1")  # Type=notify: the unit is started once the loops run
    for each in runners:
        log.info(
            "running account %s: polling every %gs, rules %s (%s)%s",
            each.sid,
            settings.poll_seconds,
            each.rules.path,
            each.rules.current.hash,
            ", dry-run" if each.reconciler.options.dry_run else "",
        )
    await first.stop.wait()
    sd_notify("STOPPING=1")
    log.info("stop requested: finishing the steps in flight")
    scheduler.pause()  # no job starts from here on
    await asyncio.gather(*(job.stopped() for job in jobs))
    scheduler.shutdown(wait=False)


def _job_id(runners: list[AccountRunner], runner: AccountRunner) -> str:
    """`tick` for the one account of a daemon without an accounts file; else `tick:SID`."""
    return _TICK_JOB if len(runners) == 1 else f"{_TICK_JOB}:{runner.sid}"


def _tick_job(
    runner: AccountRunner, scheduler: AsyncIOScheduler, settings: Settings, *, job_id: str
) -> TickJob:
    return TickJob(
        runner.reconciler,
        runner.rules,
        scheduler,
        poll=timedelta(seconds=settings.poll_seconds),
        webhook_gap=timedelta(seconds=settings.webhook_gap),
        job_id=job_id,
    )


def _each(jobs: list[TickJob], call: Callable[[TickJob, str], None], reason: str) -> None:
    for job in jobs:
        call(job, reason)


async def _feed_watchdog(reconcilers: list[Reconciler], stall: timedelta) -> None:
    """WATCHDOG=1 while every account's tick loop moves: a job on the same event loop, so
    a blocked loop feeds nothing, and it holds back while any account's tick (or the wait
    between its ticks) has shown no progress for `stall` (as readiness judges it): systemd
    then restarts a daemon that is stuck, never one that is merely failing (a restart
    cannot fix an outage). Each tick's result goes in STATUS=, for `systemctl status`."""
    for reconciler in reconcilers:
        progress, now = reconciler.progress, reconciler.clock.now()
        if progress.at is not None and now - progress.at > stall * reconciler.clock.speed:
            log.error("tick loop stuck: no progress since %s; not feeding the watchdog",
                      format_instant(progress.at, reconciler.ruleset().timezone))  # fmt: skip
            return
    named = len(reconcilers) > 1
    status = "; ".join(_status_of(reconciler, named=named) for reconciler in reconcilers)
    sd_notify("WATCHDOG=1\nSTATUS=" + " ".join(status.split()))  # one line: no other keys


def _status_of(reconciler: Reconciler, *, named: bool) -> str:
    last = reconciler.last
    line = "no tick yet" if last is None else _status_line(last, reconciler.ruleset())
    return f"{reconciler.store.account}: {line}" if named else line


def _status_line(report: TickReport, ruleset: Ruleset) -> str:
    at = format_instant(report.at, ruleset.timezone)
    if report.standby:
        return f"standby at {at}: {report.leader or 'another process leads'}"
    if not report.ok:
        return f"tick at {at} failed: {report.error}"
    return f"tick at {at}: {report.campaigns} campaigns, {report.sent} steps sent"


async def _watch_rules(rules: RulesInForce, ticks: TickJob) -> None:
    """Pick up a saved edit within seconds: a good one ticks early, a bad one is logged."""
    _ACCOUNT.set(ticks.account)  # a job's own task: logged as its account's
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


async def _once_for_all(runners: list[AccountRunner]) -> int:
    """`run --once` for every account at once: 1 when any tick failed, else EXIT_STANDBY
    when any account was led by another process, else 0."""

    async def once(runner: AccountRunner) -> int:  # a task of its own: its own context
        if len(runners) > 1:
            _ACCOUNT.set(runner.sid)
        return await _once(runner.reconciler, runner.lease)

    codes = await asyncio.gather(*(once(r) for r in runners))
    for worst in (1, EXIT_STANDBY):
        if worst in codes:
            return worst
    return 0


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


def _teller(
    notifier: Notifier, rules: RulesInForce, clock: Clock
) -> Callable[[RejectedEdit], None]:
    def tell(edit: RejectedEdit) -> None:
        problems = "\n".join(str(problem) for problem in edit.error.problems)
        at = clock.now().astimezone(rules.current.timezone)
        keeping = rules.current.hash
        notifier.post(
            rules_rejected(
                str(rules.path), edit=edit.hash, keeping=keeping, problems=problems, at=at
            )
        )

    return tell


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
