"""The scale bench's simulator: bench_plan's fleet, seeded into a Simulator, settled, served.

    .venv/bin/python bench/scale_fleet.py --campaigns N [--seed S] [--port 0]

Run by bench/bench_scale.py in a process of its own, so that the simulator's CPU (rendering
200 list pages at 100,000 campaigns) is not counted as the daemon's. It seeds the same
fleet as bench/bench_plan.py (same statuses, names, custom fields, end_at, counts; same
seed, same fleet), then *settles* it: every decision the rules (bench/rules_20.yaml) would
make on a first tick at NOW, or a minute later, is applied by hand, until a tick finds
nothing to do. What the daemon then meets is a steady fleet: a tick with no actions.

It prints one JSON line when it listens (url, credentials, seconds spent seeding, how many
campaigns settling changed) and serves, rate limiter off, on a clock fixed at NOW, until
its standard input closes (the parent exited) or it is terminated.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_plan import NOW, RULES, fleet_body  # noqa: E402
from lifecycle.client.answer import campaigns_from_body  # noqa: E402
from lifecycle.clock import FixedClock  # noqa: E402
from lifecycle.engine import plan  # noqa: E402
from lifecycle.instant import parse_iso  # noqa: E402
from lifecycle.model import ACTION_GOAL, Campaign, History, Status  # noqa: E402
from lifecycle.rules import Ruleset  # noqa: E402
from lifecycle.simulator import Simulator, SimulatorConfig, running  # noqa: E402
from lifecycle.simulator.campaign import SimCampaign  # noqa: E402
from lifecycle.simulator.wire import campaign_item, envelope  # noqa: E402

STEADY_AT = NOW + timedelta(minutes=1)  # the bench's second (steady) tick
_SETTLE_ROUNDS = 8


def bench_simulator() -> Simulator:
    """A simulator on a clock fixed at NOW, its rate limiter off (we measure, not wait)."""
    return Simulator(SimulatorConfig(rate_per_minute=None), clock=FixedClock(NOW))


def add_fleet(sim: Simulator, n: int, *, seed: int) -> None:
    """bench_plan's fleet of `n` (the same one for the same seed), as simulator campaigns."""
    for item in fleet_body(n, random.Random(seed))["response"]:
        data = item["data"]
        stats, schedule = data["stats"], data["schedule"]
        done = stats["completed"] + stats["failed"]
        sim.add_campaign(
            campaign_id=data["id"], name=data["name"], status=Status.from_api(data["status"]),
            custom_field=data["custom_field"], caller_id=data["caller_id"],
            send_at=parse_iso(schedule["send_at"]), end_at=parse_iso(schedule["end_at"]),
            date_created=parse_iso(data["date_created"]),
            date_updated=parse_iso(data["date_updated"]),
            numbers=done + stats["pending"], done=done,
            failure_ratio=stats["failed"] / done if done else 0.0,
        )  # fmt: skip


def as_listed(sim: Simulator, campaigns: Iterable[SimCampaign]) -> list[Campaign]:
    """What the daemon's client makes of these campaigns: rendered, then parsed."""
    items = [campaign_item(c, sim.config) for c in campaigns]
    return campaigns_from_body(envelope("seed", "GET", 200, items))


def first_sight(campaigns: Iterable[Campaign]) -> History:
    """The store's history after a first tick at NOW: every status first seen then."""
    ids = [c.id for c in campaigns]
    return History(status_since=dict.fromkeys(ids, NOW), first_seen_in_status=frozenset(ids))


def settle(sim: Simulator, ruleset: Ruleset) -> int:
    """Apply by hand what the rules would do at NOW and at STEADY_AT until they would do
    nothing; the number of campaigns changed. RuntimeError if that does not converge."""
    listed = {c.id: c for c in as_listed(sim, sim.in_creation_order())}
    changed: set[str] = set()
    for _ in range(_SETTLE_ROUNDS):
        moved: set[str] = set()
        for at in (NOW, STEADY_AT):
            fleet = list(listed.values())
            for decision in plan(fleet, ruleset, first_sight(fleet), at).decisions:
                sim.set_status(decision.campaign_id, ACTION_GOAL[decision.action])
                moved.add(decision.campaign_id)
        if not moved:
            return len(changed)
        changed |= moved
        sim.advance()
        listed.update((c.id, c) for c in as_listed(sim, (sim.campaign(i) for i in moved)))
    raise RuntimeError(f"the fleet did not settle in {_SETTLE_ROUNDS} rounds")


def seeded(n: int, *, seed: int) -> tuple[Simulator, dict[str, Any]]:
    """A simulator holding the settled fleet, and what seeding it took."""
    started = time.perf_counter()
    sim = bench_simulator()
    add_fleet(sim, n, seed=seed)
    sim.advance()  # the automatic moves due at NOW (send_at, end_at) happen first
    changed = settle(sim, RULES)
    info = {"campaigns": n, "seed_s": time.perf_counter() - started, "settled": changed}
    return sim, info


async def serve(sim: Simulator, info: dict[str, Any], port: int) -> None:
    async with running(sim, "127.0.0.1", port) as url:
        config = sim.config
        credentials = {"sid": config.account_sid, "key": config.api_key, "token": config.api_token}
        print(json.dumps({**info, "url": url, **credentials}), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--campaigns", type=int, required=True)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    sim, info = seeded(args.campaigns, seed=args.seed)
    asyncio.run(serve(sim, info, args.port))


if __name__ == "__main__":
    main()
