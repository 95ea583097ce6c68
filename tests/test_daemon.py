"""The daemon's lifetime: start, tick, serve HTTP, reload rules, stop with a step in flight."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import shutil
import signal
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import aiohttp
import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from lifecycle.client import ExotelClient
from lifecycle.clock import Clock, FixedClock
from lifecycle.cycle import Reconciler
from lifecycle.daemon import EXIT_STANDBY, DaemonOptions, RulesInForce, TickJob, run_daemon
from lifecycle.errors import RulesError, SchemaOutdated
from lifecycle.metrics import Metrics
from lifecycle.model import Outcome, Status
from lifecycle.rules import load_rules
from lifecycle.settings import Settings
from lifecycle.simulator import Fault, Simulator, SimulatorConfig, running
from lifecycle.store import Store
from tests.test_rules_poison import poisoned

RULES_FILE = Path(__file__).parents[1] / "rules.yaml"
RULES = load_rules(RULES_FILE)


# Webhooks may bring an early tick 2 s after the first of a burst, not 30 s after the last.
NO_GAP = {"LIFECYCLE_WEBHOOK_MIN_INTERVAL": 0}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def settings_for(
    sim: Simulator, url: str, db: str, rules: Path = RULES_FILE, **extra: object
) -> Settings:
    return Settings(
        EXOTEL_ACCOUNT_SID=sim.config.account_sid,
        EXOTEL_API_KEY=sim.config.api_key,
        EXOTEL_API_TOKEN=sim.config.api_token,
        EXOTEL_BASE_URL=url,
        LIFECYCLE_DATABASE_URL=db,
        LIFECYCLE_RULES=rules,
        LIFECYCLE_POLL_SECONDS=3600,  # the first tick runs at start; the test drives the rest
        LIFECYCLE_API_RATE_PER_MINUTE=6000,
        LIFECYCLE_HTTP=f"127.0.0.1:{free_port()}",
        **extra,  # type: ignore[arg-type]
    )


@pytest.fixture
async def db(tmp_path: Path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'daemon.db'}"
    store = await Store.connect(url)
    await store.upgrade()
    await store.close()
    return url


@asynccontextmanager
async def serving(settings: Settings, clock: Clock, **options: Any) -> AsyncIterator[str]:
    """The daemon running beside the test; yields its HTTP base URL. Leaving the block
    stops it the way SIGTERM does and checks that it exited 0."""
    stop = asyncio.Event()
    chosen = DaemonOptions(**{"clock": clock, "install_signal_handlers": False, **options})
    daemon = asyncio.create_task(run_daemon(settings, chosen, stop))
    try:
        yield f"http://{settings.http}"
    finally:
        stop.set()
        assert await asyncio.wait_for(daemon, 10) == 0


async def until(check: Callable[[], Awaitable[bool]], seconds: float = 10.0) -> None:
    """Wait for a condition the daemon reaches on its own (bounded, polled)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


def running_campaign(sim: Simulator) -> str:
    now = sim.clock.now()
    return sim.add_campaign(
        name="evening", status=Status.IN_PROGRESS, send_at=now - timedelta(hours=8),
        end_at=now + timedelta(days=2), numbers=50_000,
    )  # fmt: skip


async def test_stop_finishes_the_step_in_flight_and_its_audit_row(
    sim: Simulator, sim_url: str, sim_clock: FixedClock, db: str
) -> None:
    first = running_campaign(sim)
    second = running_campaign(sim)
    sim.inject(Fault(kind="latency", method="PUT", seconds=0.5, times=5))
    store = await Store.connect(db, account="acme1")
    try:
        async with serving(settings_for(sim, sim_url, db), sim_clock):
            await until(lambda: _has_open_intent(store))
        # Stopped while the first PUT was in flight: it finished, with its outcome row.
        assert await store.unresolved_intents() == []
        rows = await store.audit()
        assert [r.outcome for r in reversed(rows)] == [Outcome.INTENT, Outcome.SUCCEEDED]
        # The second campaign's step was not started after the stop.
        sent = [r.path.rsplit("/", 1)[-1] for r in sim.requests if r.method == "PUT"]
        assert len(sent) == 1 and sent[0] in {first, second}
    finally:
        await store.close()


async def _has_open_intent(store: Store) -> bool:
    return bool(await store.unresolved_intents())


async def test_http_endpoints_and_webhook(
    sim: Simulator, sim_url: str, sim_clock: FixedClock, db: str
) -> None:
    running_campaign(sim)
    async with (
        serving(settings_for(sim, sim_url, db, **NO_GAP), sim_clock) as base,
        aiohttp.ClientSession() as http,
    ):
        await until(lambda: _ready(http, base))
        async with http.get(f"{base}/healthz") as r:
            assert r.status == 200
        async with http.get(f"{base}/metrics") as r:
            text = await r.text()
        assert (
            'lifecycle_steps_total{account="acme1",action="pause",outcome="succeeded"} 1.0' in text
        )
        assert 'lifecycle_campaigns{account="acme1",status="in-progress"} 1.0' in text  # as polled
        assert 'lifecycle_ruleset_info{account="acme1",hash=' in text
        async with http.post(f"{base}/webhooks/exotel", data="{nope", headers={
            "Content-Type": "application/json"}) as r:  # fmt: skip
            assert r.status == 400
            assert "not valid JSON" in (await r.json())["error"]
        # A burst of callbacks (polling is hourly here) is one early tick, 2 s after the first.
        form = {"CampaignSid": "491dd6c97d64475ba0ce346a18530ce5", "Status": "Completed"}
        for _ in range(5):
            async with http.post(f"{base}/webhooks/exotel", data=form) as r:
                assert r.status == 202
        await until(
            lambda: _metric(http, base, 'lifecycle_ticks_total{account="acme1",result="ok"} 2.0')
        )
        await asyncio.sleep(2.5)
        assert await _metric(http, base, 'lifecycle_ticks_total{account="acme1",result="ok"} 2.0')


async def _ready(http: aiohttp.ClientSession, base: str) -> bool:
    try:
        async with http.get(f"{base}/readyz") as r:
            return r.status == 200
    except aiohttp.ClientConnectionError:
        return False


async def test_readyz_says_why_it_is_not_ready(
    sim: Simulator, sim_url: str, sim_clock: FixedClock, db: str
) -> None:
    sim.inject(Fault(kind="500", method="GET", times=100))

    async def failed_tick() -> bool:
        try:
            async with http.get(f"{base}/readyz") as r:
                body = await r.json()
        except aiohttp.ClientConnectionError:
            return False
        return r.status == 503 and str(body["reason"]).startswith("last tick failed")

    async with (
        serving(settings_for(sim, sim_url, db), sim_clock) as base,
        aiohttp.ClientSession() as http,
    ):
        await until(failed_tick, seconds=30)


async def test_a_webhook_during_a_tick_brings_another_tick_after_it(
    sim: Simulator, sim_url: str, sim_clock: FixedClock, db: str
) -> None:
    running_campaign(sim)
    sim.inject(Fault(kind="latency", method="GET", seconds=1.0))
    form = {"CampaignSid": "491dd6c97d64475ba0ce346a18530ce5", "Status": "Completed"}
    async with (
        serving(settings_for(sim, sim_url, db, **NO_GAP), sim_clock) as base,
        aiohttp.ClientSession() as http,
    ):
        await until(lambda: _no_faults(sim))  # the first tick's list is in flight
        async with http.post(f"{base}/webhooks/exotel", data=form) as r:
            assert r.status == 202
        # The first tick may have read the campaigns before the news: one more follows it.
        await until(
            lambda: _metric(http, base, 'lifecycle_ticks_total{account="acme1",result="ok"} 2.0')
        )


async def _no_faults(sim: Simulator) -> bool:
    return not sim.faults


async def test_a_stream_of_nudges_runs_one_tick_soon_and_never_postpones_it(
    now: datetime,
) -> None:
    clock = FixedClock(now)
    reconciler = Reconciler(
        client=cast(ExotelClient, None), store=cast(Store, None), ruleset=lambda: RULES,
        clock=clock,
    )  # fmt: skip
    scheduler = AsyncIOScheduler(timezone=UTC)  # not started: the test looks at the job only
    ticks = TickJob(reconciler, RulesInForce(RULES_FILE, Metrics()), scheduler, timedelta(hours=1))
    ticks.add()
    job = scheduler.get_job("tick")
    job.modify(next_run_time=clock.to_wall(now + timedelta(hours=1)))  # as a tick leaves it
    ticks.nudge("a callback")
    soon = job.next_run_time
    assert abs(soon - clock.to_wall(now) - timedelta(seconds=2)) < timedelta(milliseconds=200)
    await asyncio.sleep(0.1)
    ticks.nudge("another callback")
    ticks.nudge("SIGHUP")
    assert job.next_run_time == soon


async def test_run_refuses_an_old_schema(sim: Simulator, sim_url: str, tmp_path: Path) -> None:
    empty = f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    with pytest.raises(SchemaOutdated, match="run `lifecycle db upgrade`"):
        await run_daemon(settings_for(sim, sim_url, empty), DaemonOptions(once=True))


async def test_once_runs_one_tick(
    sim: Simulator, sim_url: str, sim_clock: FixedClock, db: str
) -> None:
    campaign = running_campaign(sim)
    code = await run_daemon(
        settings_for(sim, sim_url, db), DaemonOptions(once=True, clock=sim_clock)
    )
    assert code == 0
    assert sim.campaign(campaign).status == Status.PAUSED


def test_a_bad_edit_keeps_the_last_good_rules(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    shutil.copy(RULES_FILE, path)
    metrics = Metrics()
    rules = RulesInForce(path, metrics)
    good = rules.current

    path.write_text(path.read_text().replace('"09:30-13:00"', "9:30-13:00").replace(
        "action: archive", "action: archiv"))  # fmt: skip
    assert rules.refresh() is False
    assert rules.current is good

    path.write_text(RULES_FILE.read_text().replace("in_status_for: 7d", "in_status_for: 14d"))
    assert rules.refresh() is True
    assert rules.current.hash != good.hash
    assert rules().hash == rules.current.hash
    assert rules.refresh() is False  # unchanged content: nothing to do


@poisoned
async def test_a_poisoned_edit_is_read_off_the_loop_and_keeps_the_last_good_rules(
    tmp_path: Path, text: str, expected: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "rules.yaml"
    shutil.copy(RULES_FILE, path)
    rules = RulesInForce(path, Metrics())
    good = rules.current

    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    assert await rules.refresh_off_loop() is False
    assert rules.current is good
    assert f"{path}:{expected}" in caplog.text

    path.write_bytes(RULES_FILE.read_bytes() + b"# touched\n")
    assert await rules.refresh_off_loop() is True
    assert rules.current.hash != good.hash


def test_the_ruleset_is_known_by_the_sha256_of_the_files_bytes(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_bytes(RULES_FILE.read_bytes())
    rules = RulesInForce(path, Metrics())
    assert rules.current.hash == "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()

    path.write_bytes(RULES_FILE.read_bytes().replace(b"\n", b"\r\n"))  # saved on Windows
    assert rules.refresh() is True  # other bytes, another identity: what `check` shows
    crlf = rules.current.hash
    assert crlf == "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()

    path.write_bytes(b"timezone: Asia/Kolkata # caf\xe9\n")  # Latin-1, not UTF-8
    assert rules.refresh() is False
    assert rules.current.hash == crlf


def test_a_bad_file_at_start_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("timezone: IST\nrules: []\n")
    with pytest.raises(RulesError) as caught:
        RulesInForce(path, Metrics())
    assert all(str(p).startswith(f"{path}:") for p in caught.value.problems)


async def test_edits_while_running_bad_changes_nothing_good_applies_next_tick(
    sim: Simulator, sim_url: str, sim_clock: FixedClock, db: str, tmp_path: Path
) -> None:
    rules = tmp_path / "rules.yaml"
    shutil.copy(RULES_FILE, rules)
    campaign = running_campaign(sim)
    settings = settings_for(sim, sim_url, db, rules=rules)
    async with (
        serving(settings, sim_clock, rules_watch_seconds=0.05) as base,
        aiohttp.ClientSession() as http,
    ):
        await until(lambda: _ready(http, base))
        original = await _ruleset(http, base)
        assert sim.campaign(campaign).status == Status.PAUSED  # Friday 19:00: closed

        bad = rules.read_text().replace('"14:00-19:00"', '"14:00-21:00"')
        rules.write_text(bad.replace("action: archive", "action: archiv"))
        await until(
            lambda: _metric(
                http, base, 'lifecycle_rules_reloads_total{account="acme1",result="rejected"} 1.0'
            )
        )
        assert await _ruleset(http, base) == original
        assert sim.campaign(campaign).status == Status.PAUSED

        rules.write_text(RULES_FILE.read_text().replace('"14:00-19:00"', '"14:00-21:00"'))
        await until(
            lambda: _metric(
                http, base, 'lifecycle_rules_reloads_total{account="acme1",result="applied"} 1.0'
            )
        )
        changed = await _ruleset(http, base)
        assert changed != original
        # The early tick after the reload resumes the campaign: open until 21:00 now.
        await until(lambda: _status_is(sim, campaign, Status.IN_PROGRESS))
    store = await Store.connect(db, account="acme1")
    try:
        resumed = [r for r in await store.audit() if r.step == "resume"]
        assert resumed and {r.ruleset for r in resumed} == {changed}
    finally:
        await store.close()


async def _ruleset(http: aiohttp.ClientSession, base: str) -> str:
    async with http.get(f"{base}/readyz") as r:
        return str((await r.json())["ruleset"])


async def _metric(http: aiohttp.ClientSession, base: str, line: str) -> bool:
    async with http.get(f"{base}/metrics") as r:
        return line in await r.text()


async def _status_is(sim: Simulator, campaign: str, status: Status) -> bool:
    return sim.campaign(campaign).status == status


async def test_a_window_edge_is_acted_on_at_the_edge_not_a_poll_later(
    db: str, tmp_path: Path
) -> None:
    edge = datetime(2026, 11, 27, 13, 30, tzinfo=UTC)  # Friday 19:00 in Mumbai
    # The clock moves only when the test moves it: however long start-up takes, the first
    # tick sees 18:59:58 (open), and the edge comes when the test says so.
    clock = FixedClock(edge - timedelta(seconds=2))
    sim = Simulator(SimulatorConfig(rate_per_minute=None), clock=clock)
    campaign = running_campaign(sim)
    async with (
        running(sim) as url,
        serving(settings_for(sim, url, db), clock) as base,
        aiohttp.ClientSession() as http,
    ):
        await until(lambda: _ready(http, base))  # the first tick is done: nothing to do yet
        assert sim.campaign(campaign).status == Status.IN_PROGRESS
        before = len(sim.requests)
        clock.set(edge)
        await until(lambda: _status_is(sim, campaign, Status.PAUSED))
        # The first tick planned the edge: at it, the one campaign is read, then paused,
        # before any list of the whole fleet (the full reconcile comes after).
        acted = [(r.method, r.path.rsplit("/", 1)[-1]) for r in sim.requests[before:]][:2]
        assert acted == [("GET", campaign), ("PUT", campaign)]
    store = await Store.connect(db, account="acme1")
    try:
        (intent,) = [r for r in await store.audit() if r.outcome == Outcome.INTENT]
    finally:
        await store.close()
    # Polling is hourly here: only the wake-up job the first tick set for 19:00 can have
    # ticked again, and it acted at the edge.
    assert intent.at == edge


async def test_one_process_acts_per_account_and_the_lease_is_released_on_stop(
    sim: Simulator, sim_url: str, sim_clock: FixedClock, db: str
) -> None:
    running_campaign(sim)
    once = DaemonOptions(once=True, clock=sim_clock)
    async with (
        serving(settings_for(sim, sim_url, db), sim_clock) as base,
        aiohttp.ClientSession() as http,
    ):
        await until(lambda: _ready(http, base))
        late = running_campaign(sim)  # appears after the daemon's tick
        # the daemon holds the lease: a second run of its instance refuses, and says so
        assert await run_daemon(settings_for(sim, sim_url, db), once) == EXIT_STANDBY
        assert sim.campaign(late).status == Status.IN_PROGRESS

    assert await run_daemon(settings_for(sim, sim_url, db), once) == 0
    assert sim.campaign(late).status == Status.PAUSED  # released on stop: no wait for expiry


async def test_sighup_during_a_tick_brings_a_tick_on_the_new_rules_right_after_it(
    sim: Simulator, sim_url: str, sim_clock: FixedClock, db: str, tmp_path: Path
) -> None:
    rules = tmp_path / "rules.yaml"
    shutil.copy(RULES_FILE, rules)
    campaign = running_campaign(sim)
    settings = settings_for(sim, sim_url, db, rules=rules)
    # Polling is hourly and the file watcher too: only SIGHUP can bring the edit in soon.
    options = {"rules_watch_seconds": 3600, "install_signal_handlers": True}
    async with (
        serving(settings, sim_clock, **options) as base,
        aiohttp.ClientSession() as http,
    ):
        await until(lambda: _ready(http, base))
        assert sim.campaign(campaign).status == Status.PAUSED  # Friday 19:00: closed
        sim.inject(Fault(kind="latency", method="GET", seconds=1.0))
        os.kill(os.getpid(), signal.SIGHUP)  # an early tick, on the rules as they are
        await until(lambda: _no_faults(sim))  # its list is in flight: its rules were read
        rules.write_text(RULES_FILE.read_text().replace('"14:00-19:00"', '"14:00-21:00"'))
        os.kill(os.getpid(), signal.SIGHUP)
        # The tick in flight acts on the old rules; the SIGHUP brings another right after it
        # (the nudge delay, 2 s), which resumes the campaign: open until 21:00 now.
        await until(lambda: _status_is(sim, campaign, Status.IN_PROGRESS))
        new = await _ruleset(http, base)
    store = await Store.connect(db, account="acme1")
    try:
        resumed = [r for r in await store.audit() if r.step == "resume"]
        assert resumed and {r.ruleset for r in resumed} == {new}
    finally:
        await store.close()


async def test_webhooks_bring_a_tick_no_sooner_than_the_gap_after_the_last_one_began(
    client: ExotelClient, db: str, sim_clock: FixedClock
) -> None:
    store = await Store.connect(db)
    reconciler = Reconciler(client=client, store=store, ruleset=lambda: RULES, clock=sim_clock)
    scheduler = AsyncIOScheduler(timezone=UTC)  # not started: the test looks at the job only
    gap = timedelta(seconds=30)
    rules = RulesInForce(RULES_FILE, Metrics())
    ticks = TickJob(reconciler, rules, scheduler, timedelta(hours=1), webhook_gap=gap)
    ticks.add()
    job = scheduler.get_job("tick")
    try:
        await ticks.run()  # one tick; the next at the poll
        assert ticks.started is not None
        for n in range(500):
            ticks.hint(f"callback {n}")
        assert job.next_run_time == ticks.started + gap
        ticks.nudge("SIGHUP")  # the operator's own request: soon, whatever the webhooks did
        assert job.next_run_time < ticks.started + timedelta(seconds=5)
    finally:
        await store.close()


async def test_a_flood_of_webhooks_costs_no_list_call_before_the_gap_and_one_log_line(
    sim: Simulator, sim_url: str, sim_clock: FixedClock, db: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="lifecycle.web")
    form = {"CampaignSid": "491dd6c97d64475ba0ce346a18530ce5", "Status": "Completed"}
    settings = settings_for(sim, sim_url, db, LIFECYCLE_WEBHOOK_MIN_INTERVAL=60)
    async with (
        serving(settings, sim_clock) as base,
        aiohttp.ClientSession() as http,
    ):
        await until(lambda: _ready(http, base))
        assert _lists(sim) == 1

        async def post() -> int:
            async with http.post(f"{base}/webhooks/exotel", data=form) as r:
                return r.status

        for _ in range(10):
            assert set(await asyncio.gather(*(post() for _ in range(50)))) == {202}
        # Unthrottled, this flood brought a tick (a list call) 2 s after its first request.
        await asyncio.sleep(3)
        assert _lists(sim) == 1
    accepted = [r for r in caplog.records if "early tick requested" in r.getMessage()]
    assert len(accepted) == 1  # one INFO line per 30 s, not one per request


def _lists(sim: Simulator) -> int:
    return sum(1 for r in sim.requests if r.method == "GET" and r.path.endswith("/campaigns"))
