"""`/readyz` tells the truth: an unreachable database is not ready (and no standby), a long
tick that keeps moving is ready, and a stalled one is not.

The database outage is real: the store talks to PostgreSQL through a TCP proxy that the
test stops and starts again. Time is the FixedClock's, moved by the test.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import make_url

from lifecycle.client import ExotelClient, RateLimiter
from lifecycle.clock import FixedClock
from lifecycle.cycle import Progress, Reconciler, StepEvent, TickOptions, TickReport
from lifecycle.lease import Lease
from lifecycle.metrics import Metrics
from lifecycle.model import Status
from lifecycle.rules import load_rules
from lifecycle.simulator import Fault, Simulator
from lifecycle.store import Store
from lifecycle.web import WebState, judge_readiness, make_app
from tests.fixtures.sim import serve

RULES = load_rules(Path(__file__).parents[1] / "rules.yaml")
POLL = 60.0
T0 = datetime(2026, 11, 27, 13, 30, tzinfo=UTC)
STALL = timedelta(seconds=3 * POLL)
OK = TickReport(at=T0, campaigns=3)
DOWN = "database at postgresql://postgres@127.0.0.1:5999/test is unavailable (OSError: …)"


def moved(at: datetime | None, started: datetime | None = None) -> Progress:
    return Progress(started=started, at=at)


@pytest.mark.parametrize(
    ("last", "progress", "now", "expected"),
    [
        (None, moved(None), T0, (False, "no tick has run yet")),
        (None, moved(T0, started=T0), T0 + STALL, (False, "no tick has run yet")),
        (OK, moved(T0), T0 + STALL, (True, "ok")),
        (OK, moved(T0), T0 + STALL + timedelta(seconds=1),
         (False, "no progress for 181s since the last tick")),
        # A tick in progress for ten polls that sent a step a minute ago: ready.
        (OK, moved(T0 + timedelta(minutes=9), started=T0), T0 + timedelta(minutes=10),
         (True, "ok")),
        (OK, moved(T0 + timedelta(minutes=1), started=T0), T0 + timedelta(minutes=10),
         (False, "no progress for 540s in the tick in progress")),
        (TickReport(at=T0, error=DOWN, database_unreachable=True), moved(T0), T0,
         (False, f"database unreachable: {DOWN}")),
        (TickReport(at=T0, error="ApiUnavailable: 503"), moved(T0), T0,
         (False, "last tick failed: ApiUnavailable: 503")),
        (TickReport(at=T0, standby=True), moved(T0), T0,
         (True, "standby: another process holds the lease")),
        (TickReport(at=T0, standby=True, leader="db1:default holds lease tick:x until 10:05"),
         moved(T0), T0, (True, "standby: db1:default holds lease tick:x until 10:05")),
        (TickReport(at=T0, warning="read 20 of 45"), moved(T0), T0,
         (True, "degraded: read 20 of 45")),
    ],
)  # fmt: skip
def test_readiness_table(
    last: TickReport | None, progress: Progress, now: datetime, expected: tuple[bool, str]
) -> None:
    assert judge_readiness(last, progress, now=now, stall=STALL) == expected


@dataclass
class Proxy:
    """A TCP proxy to PostgreSQL: `stop()` is an outage (listener and every connection
    closed), `start()` the recovery, on the same port."""

    target: tuple[str, int]
    port: int = 0
    _server: asyncio.Server | None = None
    _open: set[asyncio.StreamWriter] = field(default_factory=set)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._pipe, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._open):
            writer.transport.abort()
        await self._server.wait_closed()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._open |= {writer, up_writer}
        await asyncio.gather(
            _copy(reader, up_writer), _copy(up_reader, writer), return_exceptions=True
        )
        self._open -= {writer, up_writer}


async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        writer.transport.abort()


@pytest.fixture
async def proxied(db_url: str) -> AsyncIterator[tuple[Proxy, str]]:
    """The Postgres `db_url` reached through a Proxy; (proxy, url through it)."""
    url = make_url(db_url)
    proxy = Proxy((url.host or "127.0.0.1", url.port or 5432))
    await proxy.start()
    try:
        yield proxy, url.set(port=proxy.port).render_as_string(hide_password=False)
    finally:
        if proxy._server is not None and proxy._server.is_serving():
            await proxy.stop()


async def until(check: Callable[[], bool], seconds: float = 10.0) -> None:
    """Wait for something the code under test does on its own (bounded, polled)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


async def readyz(http: aiohttp.ClientSession, base: str) -> tuple[int, str]:
    async with http.get(f"{base}/readyz") as answer:
        return answer.status, str((await answer.json())["reason"])


def web_state(reconciler: Reconciler, clock: FixedClock) -> WebState:
    return WebState(
        reconciler=reconciler, clock=clock, poll_seconds=POLL, nudge=lambda _: None,
        started_at=clock.now(),
    )  # fmt: skip


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_an_unreachable_database_is_not_ready_and_no_standby(
    proxied: tuple[Proxy, str],
    client: ExotelClient,
    sim: Simulator,
    sim_clock: FixedClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    proxy, url = proxied
    store = await Store.connect(url)
    await store.upgrade()
    metrics = Metrics()
    lease = Lease.for_account(
        sim.config.account_sid, store=store, instance="readiness", ttl=STALL,
        bound=timedelta(seconds=5), metrics=metrics, zone=UTC,
    )  # fmt: skip
    reconciler = Reconciler(
        client=client, store=store, ruleset=lambda: RULES, clock=sim_clock,
        options=TickOptions(may_act=lease.hold, fence=lease.fence), metrics=metrics,
    )  # fmt: skip
    try:
        async with (
            serve(make_app(web_state(reconciler, sim_clock))) as base,
            aiohttp.ClientSession() as http,
        ):
            assert (await reconciler.tick()).ok
            assert await readyz(http, base) == (200, "ok")

            await proxy.stop()
            caplog.clear()
            for _ in range(3):
                sim_clock.advance(timedelta(seconds=POLL))
                report = await reconciler.tick()
                assert report.database_unreachable and not report.standby
            status, reason = await readyz(http, base)
            assert status == 503
            assert reason.startswith(f"database unreachable: database at {url[:20]}")
            assert f":{proxy.port}/" in reason and "standby" not in caplog.text
            errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
            assert len(errors) == 1 and errors[0].startswith("database unreachable: ")

            await proxy.start()
            sim_clock.advance(timedelta(seconds=POLL))
            assert (await reconciler.tick()).ok
            assert await readyz(http, base) == (200, "ok")
            assert "database reachable again, after 180s unreachable" in caplog.text
    finally:
        await store.close()


def running_campaigns(sim: Simulator, count: int) -> list[str]:
    now = sim.clock.now()
    return [
        sim.add_campaign(
            name=f"evening {n}", status=Status.IN_PROGRESS, send_at=now - timedelta(hours=8),
            end_at=now + timedelta(days=2), numbers=1_000,
        )
        for n in range(count)
    ]  # fmt: skip


async def test_a_long_tick_that_keeps_sending_steps_stays_ready(
    sim: Simulator, client: ExotelClient, store: Store, sim_clock: FixedClock
) -> None:
    seen: list[tuple[bool, str]] = []

    def each_step(_: StepEvent) -> None:
        sim_clock.advance(timedelta(seconds=2 * POLL))  # a step every two polls
        seen.append(state.readiness())

    reconciler = Reconciler(
        client=client, store=store, ruleset=lambda: RULES, clock=sim_clock,
        options=TickOptions(on_step=each_step),
    )  # fmt: skip
    state = web_state(reconciler, sim_clock)
    assert (await reconciler.tick()).ok  # nothing to do yet
    running_campaigns(sim, 5)  # Friday 19:00 in Mumbai: each one is paused

    long = await reconciler.tick()
    assert long.sent == 5 and sim_clock.now() - long.at == 10 * timedelta(seconds=POLL)
    assert seen == [(True, "ok")] * 5
    async with serve(make_app(state)) as base, aiohttp.ClientSession() as http:
        assert await readyz(http, base) == (200, "ok")  # it ended just now


async def test_a_stalled_tick_is_not_ready(
    sim: Simulator, sim_url: str, store: Store, sim_clock: FixedClock
) -> None:
    async with ExotelClient(
        base_url=sim_url, account_sid=sim.config.account_sid, api_key=sim.config.api_key,
        api_token=sim.config.api_token, limiter=RateLimiter(6000), timeout=120.0,
    ) as client:  # fmt: skip
        reconciler = Reconciler(client=client, store=store, ruleset=lambda: RULES, clock=sim_clock)
        assert (await reconciler.tick()).ok
        sim.inject(Fault(kind="latency", method="GET", seconds=60))  # the list hangs
        tick = asyncio.create_task(reconciler.tick())
        async with (
            serve(make_app(web_state(reconciler, sim_clock))) as base,
            aiohttp.ClientSession() as http,
        ):
            await until(lambda: not sim.faults)  # the hanging request reached the server
            sim_clock.advance(timedelta(seconds=3 * POLL))
            assert await readyz(http, base) == (200, "ok")  # three polls: not yet
            sim_clock.advance(timedelta(seconds=1))
            assert await readyz(http, base) == (
                503,
                "no progress for 181s in the tick in progress",
            )
        tick.cancel()
        await asyncio.gather(tick, return_exceptions=True)
