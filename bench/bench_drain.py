"""Draining a backlog of actions under a strict rate limit: lifecycle against a naive client.

    .venv/bin/python bench/bench_drain.py [--actions 150] [--rate 120] [--seed 1]

`--actions` campaigns are running at Friday 19:00 in Mumbai, so rules.yaml pauses every
one. Each way drains them through a strict gateway (strict_server.py) in front of the
simulator (its own limiter off): at most `--rate` requests admitted in any 60 s, counted
on arrival, 429 with `Retry-After` beyond, 50 ms ± 40 ms latency per round trip. The
gateway is a proxy, not the simulator's limiter, so the rule that judges the client is
independent of both the client's limiter and the simulator's.

- lifecycle: the real daemon path. One Reconciler tick (paged list, plan, and for each
  decision rate slot → intent → PUT → outcome) on a real SQLite store, with the client
  set to the same rate as the gateway.
- naive: the list, then one PUT after another; after a 429 it sleeps `Retry-After` and
  sends the same PUT again.

For each way it prints the 429s drawn, the admitted requests per minute (counted from
the first arrival), the drain time, and the fraction of the rate reached: the gateway
admits `rate` requests per 60 s at most, so after k full windows the ideal client's
request k·rate+1 arrives k·60 s after the first; the fraction is k·60 s over the time
it really took (1.0: each window was used the moment it opened). No figure here is
asserted anywhere: timings belong to this machine and this run.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import logging
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
from strict_server import StrictServer

from lifecycle.client import ExotelClient, RateLimiter
from lifecycle.clock import ScaledClock
from lifecycle.cycle import Reconciler
from lifecycle.model import Status
from lifecycle.rules import load_rules
from lifecycle.simulator import Simulator, SimulatorConfig, running
from lifecycle.store import Store

ROOT = Path(__file__).parents[1]
RULES = load_rules(ROOT / "rules.yaml")
FRIDAY_EVENING = datetime(2026, 11, 27, 13, 30, tzinfo=UTC)  # 19:00 in Mumbai
WINDOW = 60.0


@dataclass(frozen=True)
class Drain:
    way: str
    refused: int
    admitted: list[float]
    most_in_any_window: int
    paused: int

    def per_minute(self) -> list[int]:
        first = self.admitted[0]
        counts = [0] * (int((self.admitted[-1] - first) // WINDOW) + 1)
        for t in self.admitted:
            counts[int((t - first) // WINDOW)] += 1
        return counts

    def seconds(self) -> float:
        return self.admitted[-1] - self.admitted[0]

    def fraction(self, rate: int) -> float | None:
        k = (len(self.admitted) - 1) // rate
        if k == 0:
            return None  # everything fitted in one window: nothing to measure
        return k * WINDOW / (self.admitted[k * rate] - self.admitted[0])


def seed(sim: Simulator, n: int) -> None:
    now = sim.clock.now()
    for i in range(n):
        sim.add_campaign(
            name=f"reminders-{i}", status=Status.IN_PROGRESS, send_at=now - timedelta(hours=9),
            end_at=now + timedelta(days=5), numbers=100_000,
        )  # fmt: skip


async def lifecycle_way(sim: Simulator, url: str, rate: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = await Store.connect(f"sqlite+aiosqlite:///{Path(tmp) / 'drain.db'}")
        await store.upgrade()
        try:
            async with ExotelClient(
                base_url=url, account_sid=sim.config.account_sid, api_key=sim.config.api_key,
                api_token=sim.config.api_token, limiter=RateLimiter(rate),
            ) as client:  # fmt: skip
                reconciler = Reconciler(
                    client=client, store=store, ruleset=lambda: RULES, clock=sim.clock,
                )  # fmt: skip
                report = await reconciler.tick()
                assert report.ok, report.error
        finally:
            await store.close()


async def naive_way(sim: Simulator, url: str, rate: int) -> None:
    del rate  # the naive client does not know it
    config = sim.config
    token = base64.b64encode(f"{config.api_key}:{config.api_token}".encode()).decode()
    base = f"{url}/v2/accounts/{config.account_sid}/campaigns"
    async with aiohttp.ClientSession(headers={"Authorization": f"Basic {token}"}) as http:

        async def send(method: str, path: str, body: object = None) -> object:
            while True:
                async with http.request(method, base + path, json=body) as response:
                    if response.status != 429:
                        return await response.json()
                    await asyncio.sleep(float(response.headers["Retry-After"]))

        listed = await send("GET", "?limit=500&status=in-progress")
        ids = [item["data"]["id"] for item in listed["response"]]  # type: ignore[index]
        for campaign_id in ids:
            await send("PUT", f"/{campaign_id}", {"campaigns": [{"action": "pause"}]})


async def drain(way: str, n: int, rate: int, seed_value: int) -> Drain:
    clock = ScaledClock(FRIDAY_EVENING)
    sim = Simulator(SimulatorConfig(rate_per_minute=None), clock=clock)
    seed(sim, n)
    gateway = StrictServer("", limit=rate, window=WINDOW, seed=seed_value)
    async with running(sim) as upstream:
        gateway.upstream = upstream
        async with gateway.serving() as url:
            run = lifecycle_way if way == "lifecycle" else naive_way
            await run(sim, url, rate)
    paused = sum(1 for c in sim.campaigns() if c.status == Status.PAUSED)
    return Drain(way, len(gateway.refused), gateway.admitted, gateway.most_in_any_window(), paused)


async def bench(n: int, rate: int, seed_value: int) -> None:
    print(
        f"draining {n} pauses (+ the list) through a gateway admitting {rate} requests in any "
        f"60 s, 50±40 ms latency; clients set to {rate}/min"
    )
    print(
        f"{'way':<10} {'429s':>5} {'admitted per minute':<22} {'most in 60 s':>12} "
        f"{'drain':>8} {'fraction of rate':>17} {'paused':>7}"
    )
    for way in ("lifecycle", "naive"):
        started = time.monotonic()
        d = await drain(way, n, rate, seed_value)
        fraction = d.fraction(rate)
        shown = f"{fraction:.3f}" if fraction is not None else "n/a"
        print(
            f"{d.way:<10} {d.refused:>5} {d.per_minute()!s:<22} {d.most_in_any_window:>12} "
            f"{d.seconds():>7.1f}s {shown:>17} {d.paused:>7}"
            f"   ({time.monotonic() - started:.0f}s wall)",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--actions", type=int, default=150)
    parser.add_argument("--rate", type=int, default=120)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    assert args.actions > 0 and args.rate > 0
    logging.basicConfig(level=logging.ERROR)
    asyncio.run(bench(args.actions, args.rate, args.seed))


if __name__ == "__main__":
    main()
