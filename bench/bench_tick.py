"""What one reconcile tick costs, lifecycle's way against the usual ways, side by side.

    .venv/bin/python bench/bench_tick.py [--campaigns 100,1000,5000] [--act-share 0.1]

For each fleet size, the same seeded fleet is reconciled three ways against the simulator
on loopback (its rate limiter off, so we count requests instead of waiting for them):

- lifecycle: paged list (limit=500) → plan → one PUT per step, intents and outcomes in
  SQLite (and in PostgreSQL when one answers at LIFECYCLE_TEST_POSTGRES_URL or localhost).
- get-before-put: the paged list, then a GET of each campaign before each PUT, as
  docs/exotel-api.md suggests for a careful client.
- per-campaign poll: one GET per campaign per tick (what a per-resource scheduler does),
  then the same PUTs.

It prints, for the tick that acts and for the steady tick after it (nothing left to do),
requests and wall time, the ratios against lifecycle on SQLite, and the shortest poll
interval each way could keep within Exotel's 30 requests/minute.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

from lifecycle import engine
from lifecycle.client import ExotelClient, RateLimiter
from lifecycle.clock import FixedClock
from lifecycle.cycle import Reconciler
from lifecycle.errors import StoreUnavailable
from lifecycle.model import History, Status
from lifecycle.rules import load_rules
from lifecycle.simulator import Simulator, SimulatorConfig, running
from lifecycle.store import Store

ROOT = Path(__file__).parents[1]
RULES = load_rules(ROOT / "rules.yaml")
FRIDAY_EVENING = datetime(2026, 11, 27, 13, 30, tzinfo=UTC)  # 19:00 in Mumbai
POSTGRES = os.environ.get(
    "LIFECYCLE_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)


@dataclass(frozen=True)
class Ticks:
    """Seconds, requests and PUTs of the acting tick and of the steady tick after it."""

    seconds: float
    requests: int
    puts: int
    steady_seconds: float
    steady_requests: int
    steady_puts: int


def seed(sim: Simulator, n: int, act_share: float) -> None:
    """`n` campaigns, `act_share` of them running at 19:00 (so paused by the rules)."""
    now = sim.clock.now()
    acting = round(n * act_share)
    for i in range(n):
        if i < acting:
            sim.add_campaign(
                name=f"run-{i}", status=Status.IN_PROGRESS, send_at=now - timedelta(hours=9),
                end_at=now + timedelta(days=5), numbers=100_000,
            )  # fmt: skip
        else:
            sim.add_campaign(
                name=f"done-{i}", status=Status.COMPLETED, numbers=10, done=10,
                date_updated=now - timedelta(days=1),
            )  # fmt: skip


def client_for(sim: Simulator, url: str) -> ExotelClient:
    return ExotelClient(
        base_url=url,
        account_sid=sim.config.account_sid,
        api_key=sim.config.api_key,
        api_token=sim.config.api_token,
        limiter=RateLimiter(1e9),
    )


async def lifecycle_way(sim: Simulator, url: str, db_url: str) -> Ticks:
    store = await Store.connect(db_url)
    await store.upgrade()
    try:
        async with client_for(sim, url) as client:
            reconciler = Reconciler(
                client=client, store=store, ruleset=lambda: RULES, clock=sim.clock,
            )  # fmt: skip
            return await two_ticks(sim, reconciler.tick)
    finally:
        await store.close()


async def two_ticks(sim: Simulator, tick: Callable[[], Awaitable[object]]) -> Ticks:
    """The acting tick, then a steady one with nothing left to do; requests of each."""
    timings: list[tuple[float, int, int]] = []
    for _ in range(2):
        sim.requests.clear()
        started = time.perf_counter()
        report = await tick()
        elapsed = time.perf_counter() - started
        assert getattr(report, "ok", True), getattr(report, "error", "")
        puts = sum(1 for r in sim.requests if r.method == "PUT")
        timings.append((elapsed, len(sim.requests), puts))
    return Ticks(*timings[0], *timings[1])


async def get_before_put_way(sim: Simulator, url: str) -> Ticks:
    async with client_for(sim, url) as client:

        async def tick() -> None:
            campaigns = await client.list_campaigns()
            plan = engine.plan(campaigns, RULES, History(), sim.clock.now())
            for decision in plan.decisions:
                for step in decision.steps:
                    await client.get_campaign(decision.campaign_id)
                    await client.act(decision.campaign_id, step)

        return await two_ticks(sim, tick)


async def per_campaign_way(sim: Simulator, url: str) -> Ticks:
    ids = [c.id for c in sim.campaigns()]
    async with client_for(sim, url) as client:

        async def tick() -> None:
            campaigns = [await client.get_campaign(i) for i in ids]
            plan = engine.plan(campaigns, RULES, History(), sim.clock.now())
            for decision in plan.decisions:
                for step in decision.steps:
                    await client.act(decision.campaign_id, step)

        return await two_ticks(sim, tick)


async def measure(
    n: int, act_share: float, run: Callable[[Simulator, str], Awaitable[Ticks]]
) -> Ticks:
    sim = Simulator(SimulatorConfig(rate_per_minute=None), clock=FixedClock(FRIDAY_EVENING))
    seed(sim, n, act_share)
    async with running(sim) as url:
        return await run(sim, url)


async def postgres_url() -> str | None:
    store = await Store.connect(POSTGRES)
    try:
        await store.ping()
    except StoreUnavailable:
        return None
    finally:
        await store.close()
    return POSTGRES


@asynccontextmanager
async def fresh_schema(url: str) -> AsyncIterator[str]:
    """An empty PostgreSQL schema for one run, dropped afterwards."""
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'CREATE SCHEMA "{schema}"')
        yield f"{url}?schema={schema}"
    finally:
        await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await conn.close()


async def bench(sizes: list[int], act_share: float) -> None:
    pg = await postgres_url()
    print(f"rules: {RULES.source}, {act_share:.0%} of campaigns running at Friday 19:00 IST")
    print(
        f"{'campaigns':>9}  {'way':<22} {'acting tick: req':>16} {'PUT':>4} {'s':>7}"
        f"   {'steady tick: req':>16} {'s':>7}  {'steady req ratio':>16} {'steady time ratio':>17}"
    )
    for n in sizes:
        rows: list[tuple[str, Ticks]] = []
        with tempfile.TemporaryDirectory() as tmp:
            sqlite = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
            rows.append(("lifecycle (SQLite)", await measure(n, act_share, _on(sqlite))))
        if pg:
            async with fresh_schema(pg) as url:
                rows.append(("lifecycle (PostgreSQL)", await measure(n, act_share, _on(url))))
        rows.append(("get-before-put", await measure(n, act_share, get_before_put_way)))
        rows.append(("per-campaign poll", await measure(n, act_share, per_campaign_way)))
        base = rows[0][1]
        for way, t in rows:
            print(
                f"{n:>9}  {way:<22} {t.requests:>16} {t.puts:>4} {t.seconds:>7.3f}"
                f"   {t.steady_requests:>16} {t.steady_seconds:>7.3f}"
                f"  {t.steady_requests / base.steady_requests:>15.1f}x"
                f" {t.steady_seconds / base.steady_seconds:>16.2f}x"
            )
        # 30 requests/minute is one request every 2 s, shared by reads and actions.
        budget = ", ".join(f"{w} {t.steady_requests * 2:,}s" for w, t in rows[-2:])
        print(f"{'':>11}shortest steady poll interval within 30 req/min: lifecycle "
              f"{base.steady_requests * 2:,}s, {budget}")  # fmt: skip
    if not pg:
        print("PostgreSQL not reachable: its rows were skipped")


def _on(db_url: str) -> Callable[[Simulator, str], Awaitable[Ticks]]:
    return lambda sim, url: lifecycle_way(sim, url, db_url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--campaigns", default="100,1000,5000")
    parser.add_argument("--act-share", type=float, default=0.1)
    args = parser.parse_args()
    sizes = [int(x) for x in args.campaigns.split(",")]
    assert all(n > 0 for n in sizes) and 0 <= args.act_share <= 1
    asyncio.run(bench(sizes, args.act_share))


if __name__ == "__main__":
    main()
