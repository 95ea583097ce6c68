"""Process lifetime: resources, signals, the scheduler, hot reload of the rules.

One way to stop: an `asyncio.Event`, set by SIGTERM/SIGINT. One way to clean up: an
`AsyncExitStack` that unwinds in reverse. On stop, no new tick starts, every wait (rate
slot, `Retry-After`, read back-off) ends at once through the client's stop-aware sleep,
the in-flight step gets `_STOP_GRACE` seconds to finish with its audit row (past that it
is cancelled and recorded unknown), and the process exits 0: within seconds, well inside
systemd's TimeoutStopSec.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import threading
import uuid
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, timedelta
from pathlib import Path

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from lifecycle import web
from lifecycle.client import ExotelClient, RequestOutcome
from lifecycle.clock import Clock, SystemClock, stoppable_sleep, wall_now
from lifecycle.cycle import Reconciler, StepEvent, TickOptions, TickReport
from lifecycle.errors import RulesError
from lifecycle.metrics import Metrics
from lifecycle.rules import Ruleset, compile_rules, decode_rules, load_rules, rules_hash
from lifecycle.settings import Settings
from lifecycle.store import Store

log = logging.getLogger("lifecycle.daemon")

# Act just after a window edge, never a hair before it.
_WAKEUP_MARGIN = timedelta(milliseconds=200)
_EARLY_TICK_DELAY = timedelta(seconds=2)
# How long a step already sent may take to answer after SIGTERM before it is recorded
# unknown (resolved by re-reading on the next start): exit well within 5 s.
_STOP_GRACE = 2.5


class RulesFile:
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
        try:
            data = self.path.read_bytes()
        except OSError as exc:
            log.error(
                "cannot read %s (%s); keeping ruleset %s",
                self.path,
                exc.strerror,
                self.current.hash,
            )
            return False
        digest = rules_hash(data)
        if digest in (self.current.hash, self._rejected):
            return False
        try:
            ruleset = compile_rules(decode_rules(data, filename=str(self.path)))
        except RulesError as exc:
            self._rejected = digest
            self._metrics.rules_reloads.labels(result="rejected").inc()
            log.error(
                "rejected edit of %s; keeping ruleset %s:\n%s", self.path, self.current.hash, exc
            )
            return False
        log.info("rules reloaded from %s: %s → %s", self.path, self.current.hash, ruleset.hash)
        self.current = ruleset
        self._rejected = None
        self._metrics.rules_reloads.labels(result="applied").inc()
        self._metrics.set_ruleset(ruleset.hash)
        return True


@dataclass
class Ticker:
    """Runs ticks for the scheduler: never two at once, and again at each `next_wakeup`."""

    reconciler: Reconciler
    rules: RulesFile
    scheduler: AsyncIOScheduler
    clock: Clock
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _running: asyncio.Task[TickReport] | None = None

    async def tick(self) -> TickReport | None:
        if self._lock.locked() or self.reconciler.stop.is_set():
            return None  # a tick is running; it observes the same world
        async with self._lock:
            self.rules.refresh()
            self._running = asyncio.create_task(self.reconciler.tick())
            try:
                report = await self._running
            except asyncio.CancelledError:
                if not self.reconciler.stop.is_set():
                    raise
                return None  # cut short by `drain` at shutdown
            finally:
                self._running = None
        if report.plan is not None and report.plan.next_wakeup is not None:
            self._schedule("wakeup", report.plan.next_wakeup - self.clock.now() + _WAKEUP_MARGIN)
        return report

    async def watch_rules(self) -> None:
        """Pick up a saved edit within seconds: a good one ticks early, a bad one is logged."""
        if self.rules.refresh():
            self.request_tick("rules changed")

    def request_tick(self, reason: str) -> None:
        """An early tick soon (webhooks, SIGHUP); repeated requests coalesce into one."""
        if self.scheduler.get_job("early") is not None:
            return  # one is coming; a stream of callbacks must not postpone it forever
        log.debug("early tick requested: %s", reason)
        self._schedule("early", _EARLY_TICK_DELAY * self.clock.speed)

    def _schedule(self, job_id: str, clock_delay: timedelta) -> None:
        real_delay = max(clock_delay / self.clock.speed, timedelta(0))
        if self.reconciler.stop.is_set():
            return
        self.scheduler.add_job(
            self.tick,
            "date",
            run_date=wall_now() + real_delay,
            id=job_id,
            replace_existing=True,
            misfire_grace_time=None,
        )

    async def drain(self, grace: float = _STOP_GRACE) -> None:
        """Wait for the in-flight tick (and its audit rows) to finish; past `grace` seconds
        (a step whose answer is slow to come), cancel it: its step is recorded unknown."""
        if self._running is not None:
            await _settle(self._running, grace)
        async with self._lock:
            pass


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
    rules = RulesFile(settings.rules, metrics)
    stop = stop or asyncio.Event()
    async with AsyncExitStack() as stack:
        store = await Store.connect(settings.database_url.get_secret_value())
        stack.push_async_callback(store.close)
        await store.ensure_current()
        client = await stack.enter_async_context(_client(settings, metrics, stop))
        reconciler = Reconciler(
            client=client,
            store=store,
            ruleset=rules,
            clock=options.clock,
            account_sid=settings.exotel_account_sid,
            options=TickOptions(
                dry_run=options.dry_run or settings.dry_run,
                lease_owner=_owner_id(),
                lease_ttl=timedelta(seconds=max(3 * settings.poll_seconds, 60))
                * options.clock.speed,
                on_step=options.on_step,
            ),
            metrics=metrics,
            stop=stop,
        )
        stack.push_async_callback(reconciler.release)
        if options.install_signal_handlers:
            _install_signals(stack, stop)
        if options.once:
            return await _once(reconciler, stop)
        await _serve(stack, settings, options, reconciler, rules, stop)
    log.info("stopped cleanly")
    return 0


async def _serve(
    stack: AsyncExitStack,
    settings: Settings,
    options: DaemonOptions,
    reconciler: Reconciler,
    rules: RulesFile,
    stop: asyncio.Event,
) -> None:
    scheduler = AsyncIOScheduler(timezone=UTC)
    ticker = Ticker(reconciler=reconciler, rules=rules, scheduler=scheduler, clock=options.clock)
    if options.install_signal_handlers:
        _on_sighup(stack, lambda: ticker.request_tick("SIGHUP"))
    if options.serve_http:
        state = web.WebState(
            reconciler=reconciler,
            clock=options.clock,
            poll_seconds=settings.poll_seconds,
            request_tick=ticker.request_tick,
            started_at=options.clock.now(),
        )
        runner = await web.start(state, settings.http_host, settings.http_port)
        stack.push_async_callback(runner.cleanup)
    scheduler.add_job(
        ticker.tick,
        "interval",
        seconds=settings.poll_seconds,
        next_run_time=wall_now(),
        id="poll",
        max_instances=1,
        coalesce=True,
    )
    scheduler.add_job(
        ticker.watch_rules, "interval", seconds=options.rules_watch_seconds, id="rules"
    )
    scheduler.add_job(
        _prune, "interval", hours=6, args=(reconciler, settings), id="retention", coalesce=True
    )
    scheduler.start()
    log.info(
        "running: polling every %gs, rules %s (%s)%s",
        settings.poll_seconds,
        rules.path,
        rules.current.hash,
        ", dry-run" if reconciler.options.dry_run else "",
    )
    await stop.wait()
    log.info("stop requested: finishing the step in flight")
    # Pause first: shutting the scheduler down would cancel the running tick mid-step.
    scheduler.pause()
    await ticker.drain()
    scheduler.shutdown(wait=False)


async def _prune(reconciler: Reconciler, settings: Settings) -> None:
    before = reconciler.clock.now() - timedelta(days=settings.retention_days)
    try:
        removed = await reconciler.store.prune(before=before)
    except Exception as exc:  # retention must never take the daemon down
        log.error("retention pass failed: %s", exc)
        return
    if removed:
        log.info("retention: removed %d rows older than %s", removed, before.isoformat())


async def _once(reconciler: Reconciler, stop: asyncio.Event) -> int:
    """`run --once`: one tick; a stop ends its waits at once and gives a step in flight
    `_STOP_GRACE` seconds, as the daemon does. Exit 1 when the tick failed; 0 when it
    worked, or when SIGTERM/SIGINT stopped it (what was left waits for the next run)."""
    tick = asyncio.create_task(reconciler.tick())
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait([tick, stopping], return_when=asyncio.FIRST_COMPLETED)
        if not tick.done():
            await _settle(tick, _STOP_GRACE)
        report = await tick
    except asyncio.CancelledError:
        if not stop.is_set():
            raise
        log.info("stopped with the tick cut short; its step in flight is recorded unknown")
        return 0
    finally:
        stopping.cancel()
    if report.standby:
        log.warning("another lifecycle process is acting for this account: nothing done")
    if stop.is_set():  # asked to stop: a tick cut short is no failure of the run
        log.info("stopped cleanly; what was left waits for the next run")
        return 0
    return 0 if report.ok else 1


async def _settle(tick: asyncio.Task[TickReport], grace: float) -> None:
    """Give a stopping tick `grace` seconds (its waits end at once; a step whose answer is
    slow to come may need a moment), then cancel it: its step is then recorded unknown."""
    await asyncio.wait([tick], timeout=grace)
    if not tick.done():
        log.warning("the tick did not finish within %gs of stop: cancelling it", grace)
        tick.cancel()


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


def _client(settings: Settings, metrics: Metrics, stop: asyncio.Event) -> ExotelClient:
    def observe(outcome: RequestOutcome) -> None:
        code = str(outcome.http_status or 0)
        metrics.api_requests.labels(endpoint=outcome.endpoint, code=code).inc()
        metrics.api_seconds.labels(endpoint=outcome.endpoint).observe(outcome.seconds)

    return ExotelClient.from_settings(settings, observer=observe, sleep=stoppable_sleep(stop))


def _owner_id() -> str:
    """Who holds the lease, as an operator reads it; unique even for two runs in one process."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
