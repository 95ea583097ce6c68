"""One daemon, many accounts: each account's failures stay its own."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from lifecycle.clock import FixedClock
from lifecycle.daemon import DaemonOptions, run_daemon
from lifecycle.errors import ConfigError
from lifecycle.model import Outcome, Status
from lifecycle.settings import Settings
from lifecycle.simulator import Fault, Simulator, SimulatorConfig, running
from lifecycle.store import Store
from tests.test_daemon import RULES_FILE, free_port, running_campaign, serving, until

EDGE = datetime(2026, 11, 27, 13, 30, tzinfo=UTC)  # Friday 19:00 in Mumbai: hours close


def simulated(sid: str, clock: FixedClock) -> Simulator:
    config = SimulatorConfig(
        account_sid=sid, api_key=f"{sid}-key", api_token=f"{sid}-token", rate_per_minute=None
    )
    return Simulator(config, clock=clock)


def accounts_file(folder: Path, entries: list[tuple[Simulator, str, str]]) -> Path:
    """An accounts file naming each simulator by its URL, credentials in files."""
    lines = ["accounts:"]
    for sim, url, token in entries:
        sid = sim.config.account_sid
        (folder / f"{sid}.key").write_text(sim.config.api_key)
        (folder / f"{sid}.token").write_text(token)
        lines += [
            f"  - sid: {sid}",
            f"    base_url: {url}",
            f"    key_file: {sid}.key",
            f"    token_file: {sid}.token",
        ]
    path = folder / "accounts.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def settings_for(accounts: Path, db: str, **extra: Any) -> Settings:
    return Settings(  # type: ignore[call-arg]
        LIFECYCLE_ACCOUNTS=accounts,
        LIFECYCLE_DATABASE_URL=db,
        LIFECYCLE_RULES=RULES_FILE,
        LIFECYCLE_POLL_SECONDS=3600,  # the first tick runs at start; wake-ups do the rest
        LIFECYCLE_API_RATE_PER_MINUTE=6000,
        LIFECYCLE_HTTP=f"127.0.0.1:{free_port()}",
        **extra,
    )


@asynccontextmanager
async def served(sims: list[Simulator]) -> AsyncIterator[list[str]]:
    async with AsyncExitStack() as stack:
        yield [await stack.enter_async_context(running(sim)) for sim in sims]


async def readyz(http: aiohttp.ClientSession, base: str) -> tuple[int, dict[str, Any]]:
    """The answer of /readyz; (0, {}) while the daemon is not listening yet."""
    try:
        async with http.get(f"{base}/readyz") as answer:
            return answer.status, await answer.json()
    except aiohttp.ClientConnectionError:
        return 0, {}


@pytest.fixture
async def db(tmp_path: Path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'accounts.db'}"
    store = await Store.connect(url)
    await store.upgrade()
    await store.close()
    return url


async def test_a_401_and_a_429_storm_never_delay_another_accounts_window_edge(
    tmp_path: Path, db: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="lifecycle")
    # The clock moves only when the test moves it: the first ticks see 18:59:58 (open).
    clock = FixedClock(EDGE - timedelta(seconds=2))
    good, refused, throttled = (simulated(sid, clock) for sid in ("good", "refused", "busy"))
    campaigns = {
        sim.config.account_sid: running_campaign(sim) for sim in (good, refused, throttled)
    }
    # "busy" answers every request 429 with a long Retry-After, for as long as the test runs.
    throttled.inject(Fault(kind="429", times=1_000_000, seconds=60))
    async with served([good, refused, throttled]) as urls:
        accounts = accounts_file(
            tmp_path,
            [
                (good, urls[0], good.config.api_token),
                (refused, urls[1], "a-wrong-token"),  # every request: 401
                (throttled, urls[2], throttled.config.api_token),
            ],
        )
        settings = settings_for(accounts, db)
        async with serving(settings, clock) as base, aiohttp.ClientSession() as http:

            async def states() -> dict[str, str]:
                _, body = await readyz(http, base)
                return {sid: s["state"] for sid, s in body.get("accounts", {}).items()}

            async def settled() -> bool:
                return (
                    (await states()).get("good") == "leading"
                    and bool(throttled.requests)
                    and (await states()).get("refused") == "failing"
                )

            await until(settled)
            assert good.campaign(campaigns["good"]).status == Status.IN_PROGRESS  # still open
            clock.set(EDGE)  # 19:00: the good account's wake-up, set by its first tick, is due
            await until(lambda: _status_is(good, campaigns["good"], Status.PAUSED))
            sent = 'lifecycle_steps_total{account="good",action="pause",outcome="succeeded"} 1.0'

            async def exposition() -> str:
                async with http.get(f"{base}/metrics") as answer:
                    return await answer.text()

            await until(lambda: _has(exposition(), sent))  # the step's outcome is counted
            status, body = await readyz(http, base)
            metrics = await exposition()
    # Acted at the edge by the simulated clock: its own wake-up, while "busy" was still
    # waiting out a 429 and "refused" had failed its tick.
    store = await Store.connect(db, account="good")
    try:
        (intent,) = [r for r in await store.audit() if r.outcome == Outcome.INTENT]
        assert intent.at == EDGE and intent.campaign_id == campaigns["good"]
        assert [r.outcome for r in await store.for_account("refused").audit()] == []
        assert [r.outcome for r in await store.for_account("busy").audit()] == []
    finally:
        await store.close()
    assert status == 503 and body["ready"] is False
    assert body["accounts"]["good"]["state"] == "leading"
    assert body["accounts"]["refused"]["state"] == "failing"
    assert "refused: " in body["reason"]
    assert {r.status for r in refused.requests} == {401}
    assert throttled.requests and {r.status for r in throttled.requests} == {429}
    assert refused.campaign(campaigns["refused"]).status == Status.IN_PROGRESS
    assert throttled.campaign(campaigns["busy"]).status == Status.IN_PROGRESS
    for sid in ("good", "refused", "busy"):
        assert f'lifecycle_leader{{account="{sid}"}} 1.0' in metrics
    assert 'account="refused",action=' not in metrics and 'account="busy",action=' not in metrics
    # Every line logged for an account's tick says which account.
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("lifecycle.cycle")]
    assert any(line.startswith("[refused] tick failed: AuthFailed: ") for line in lines), lines
    assert any(line.startswith("[good] pause ") for line in lines), lines
    assert all(line.startswith(("[good] ", "[refused] ", "[busy] ")) for line in lines), lines


async def _answers(http: aiohttp.ClientSession, base: str) -> bool:
    return (await readyz(http, base))[0] != 0


async def _has(text: Awaitable[str], line: str) -> bool:
    return line in await text


async def _status_is(sim: Simulator, campaign: str, status: Status) -> bool:
    return sim.campaign(campaign).status == status


async def test_a_second_daemon_on_one_sqlite_file_says_so_and_refuses(
    tmp_path: Path, db: str, sim: Simulator, sim_url: str, sim_clock: FixedClock
) -> None:
    accounts = accounts_file(tmp_path, [(sim, sim_url, sim.config.api_token)])
    first = settings_for(accounts, db)
    async with serving(first, sim_clock) as base, aiohttp.ClientSession() as http:
        await until(lambda: _answers(http, base))  # the first daemon is up, its lock taken
        second = settings_for(accounts, db, LIFECYCLE_INSTANCE="second")
        options = DaemonOptions(clock=sim_clock, install_signal_handlers=False)
        with pytest.raises(ConfigError) as caught:
            await asyncio.wait_for(run_daemon(second, options), 10)
    assert str(caught.value).startswith("another daemon (pid ")
    assert "SQLite serves one daemon; to share accounts between daemons use PostgreSQL" in str(
        caught.value
    )


async def test_two_accounts_pages_readyz_and_metrics(tmp_path: Path, db: str) -> None:
    """`/` lists the accounts; each has its own status and campaign pages under
    /accounts/SID/ (reading its own rows); /readyz gives each account the fields one
    account has at the top; the process is described once on /metrics."""
    clock = FixedClock(EDGE + timedelta(minutes=1))  # 19:01: running campaigns get paused
    north, south = simulated("north", clock), simulated("south", clock)
    campaigns = {sim.config.account_sid: running_campaign(sim) for sim in (north, south)}
    # Seeded alike, the simulators give both campaigns one id: the names tell them apart.
    for sim in (north, south):
        sim.campaign(campaigns[sim.config.account_sid]).name = f"evening-{sim.config.account_sid}"
    async with served([north, south]) as urls:
        accounts = accounts_file(
            tmp_path,
            [
                (sim, url, sim.config.api_token)
                for sim, url in zip((north, south), urls, strict=True)
            ],
        )
        async with serving(settings_for(accounts, db), clock) as base, aiohttp.ClientSession(
        ) as http:  # fmt: skip

            async def both_led() -> bool:
                status, body = await readyz(http, base)
                return status == 200 and all(
                    s["last_tick"] for s in body.get("accounts", {}).values()
                )

            await until(both_led)
            _, body = await readyz(http, base)
            async with http.get(f"{base}/") as answer:
                index = await answer.text()
            pages = {}
            for sid in ("north", "south"):
                async with http.get(f"{base}/accounts/{sid}/") as answer:
                    assert answer.status == 200
                    pages[sid] = await answer.text()
            async with http.get(f"{base}/accounts/north/campaigns/{campaigns['north']}") as a:
                campaign_page = await a.text()
            async with http.get(f"{base}/accounts/nobody/") as answer:
                assert answer.status == 404
            async with http.get(f"{base}/metrics") as answer:
                metrics = await answer.text()
    assert '<a href="/accounts/north/">north</a>' in index
    assert '<a href="/accounts/south/">south</a>' in index
    for sid, other in (("north", "south"), ("south", "north")):
        assert f"lifecycle · {sid}" in pages[sid]
        assert f"/accounts/{sid}/campaigns/{campaigns[sid]}" in pages[sid]  # its own rows
        assert f"evening-{sid}" in pages[sid] and f"evening-{other}" not in pages[sid]
    assert "Audit trail" in campaign_page and 'href="/accounts/north/"' in campaign_page
    for sid in ("north", "south"):
        entry = body["accounts"][sid]
        assert entry["state"] == "leading" and entry["leader"] == "this process"
        assert entry["rules_rejected"] is None and entry["ruleset"] == body["ruleset"]
        assert {"last_tick", "next_tick", "tick_in_progress_since"} <= set(entry)
    assert metrics.count("\nlifecycle_build_info{") == 1
    assert metrics.count("\nprocess_cpu_seconds_total ") == 1
    assert 'lifecycle_ticks_total{account="north",result="ok"}' in metrics
