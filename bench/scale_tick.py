"""The scale bench's daemon: one fresh process per fleet size and database.

    EXOTEL_BASE_URL=… EXOTEL_ACCOUNT_SID=… EXOTEL_API_KEY=… EXOTEL_API_TOKEN=… \
    .venv/bin/python bench/scale_tick.py DATABASE_URL --campaigns N [--profile] [--seed S]
                                         [--dry-run-sample K] [--steady-ticks K]

The daemon-equivalent (a Store, an ExotelClient with its limiter wide open, a Reconciler
on a FixedClock, the 20 rules of bench/rules_20.yaml) against a simulator in another
process (bench/scale_fleet.py), so the CPU measured here is only ours. It prints one JSON
object with, CPU seconds of this process (`time.process_time`, which counts aiosqlite's
thread too, not PostgreSQL's server) and wall seconds:

- first: the first tick (every campaign seen for the first time), then RSS;
- steady: the ticks a minute apart after it, nothing to do (list, parse, observe, history,
  plan, record), the best of K (`--steady-ticks`, default 2), then RSS: current
  (/proc/self/statm) and peak (VmHWM in /proc/self/status);
- store: the store's part of a steady tick, call by call (observe, history, record_plan),
  and the engine's plan between them, on the campaigns that tick read;
- rows: decision and audit rows/s for bench_plan's acting plan (thousands of decisions and
  skips): `record_plan`, then `record_dry_run` for the first K decisions (each its own
  transaction, as a dry-run tick writes them);
- profile (with --profile): cProfile's top 15 functions of one more steady tick, by
  cumulative time (waits for the simulator included) and by own time.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import dataclasses
import io
import json
import os
import pstats
import random
import resource
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_plan import NOW, RULES, fleet_body, fleet_history  # noqa: E402
from lifecycle.client import ExotelClient, RateLimiter  # noqa: E402
from lifecycle.client.answer import campaigns_from_body  # noqa: E402
from lifecycle.clock import FixedClock  # noqa: E402
from lifecycle.cycle import Reconciler, TickReport  # noqa: E402
from lifecycle.engine import plan  # noqa: E402
from lifecycle.store import Store  # noqa: E402

T = TypeVar("T")
_PAGE = os.sysconf("SC_PAGE_SIZE")
MINUTE = timedelta(minutes=1)


@dataclass(frozen=True)
class Target:
    """Where the simulator listens and what it accepts."""

    url: str
    sid: str
    key: str
    token: str


def rss_mb() -> dict[str, float]:
    """This process's resident set now and at its peak, in MB."""
    with open("/proc/self/statm") as statm:
        resident = int(statm.read().split()[1]) * _PAGE
    return {"rss_mb": resident / 2**20, "peak_mb": peak_kb() / 1024}


def peak_kb() -> int:
    """This process's peak resident set in KB: VmHWM, the high-water mark of its own memory
    map. Not ru_maxrss: Linux keeps that across execve, so a process started by a parent
    that had planned 100,000 campaigns would report the parent's peak as its own."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # not Linux: the best there is


async def timed(work: Callable[[], Awaitable[T]]) -> tuple[dict[str, float], T]:
    """CPU and wall seconds of one awaited call, and its result."""
    cpu, wall = time.process_time(), time.perf_counter()
    result = await work()
    return {"cpu": time.process_time() - cpu, "wall": time.perf_counter() - wall}, result


def _tick_figures(times: dict[str, float], report: TickReport) -> dict[str, Any]:
    if not report.ok:
        raise RuntimeError(f"tick failed: {report.error}")
    decided = len(report.plan.decisions) if report.plan else 0
    skipped = len(report.plan.skipped) if report.plan else 0
    return {**times, "campaigns": report.campaigns, "sent": report.sent,
            "decided": decided, "skipped": skipped}  # fmt: skip


async def daemon_run(
    target: Target,
    db_url: str,
    *,
    size: int,
    seed: int,
    sample: int,
    profile: bool,
    steady_ticks: int = 2,
) -> dict[str, Any]:
    """Everything this process measures, as one JSON-ready dict."""
    out: dict[str, Any] = {"start": rss_mb()}
    store = await Store.connect(db_url)
    await store.upgrade()
    clock = FixedClock(NOW)
    client = ExotelClient(
        base_url=target.url, account_sid=target.sid, api_key=target.key,
        api_token=target.token, limiter=RateLimiter(1e9), timeout=120.0,
    )  # fmt: skip
    try:
        async with client:
            daemon = Reconciler(client=client, store=store, ruleset=lambda: RULES, clock=clock)
            times, report = await timed(daemon.tick)
            out["first"] = {**_tick_figures(times, report), **rss_mb()}
            best: dict[str, Any] = {}
            for _ in range(steady_ticks):  # the best of a few: the machine is shared
                clock.advance(MINUTE)
                times, report = await timed(daemon.tick)
                if not best or times["cpu"] < best["cpu"]:
                    best = _tick_figures(times, report)
            out["steady"] = {**best, **rss_mb()}
            out["store"] = await store_parts(store, list(report.observed), clock)
            out["rows"] = await acting_rows(store, size=size, seed=seed, sample=sample)
            if profile:
                clock.advance(MINUTE)
                out["profile"] = await profiled(daemon)
    finally:
        await store.close()
    return out


async def store_parts(store: Store, campaigns: list[Any], clock: FixedClock) -> dict[str, Any]:
    """The store's calls of one more steady tick, each on its own, with plan between."""
    clock.advance(MINUTE)
    at = clock.now()
    tick = await store.start_tick(at=at, ruleset=RULES.hash, dry_run=False)
    ids = [c.id for c in campaigns]
    observe, _ = await timed(lambda: store.observe(campaigns, at=at))
    history_t, history = await timed(lambda: store.history(at=at, campaign_ids=ids))
    cpu = time.process_time()
    steady = plan(campaigns, RULES, history, at)
    plan_cpu = time.process_time() - cpu
    record, _ = await timed(lambda: store.record_plan(tick, steady))
    await store.finish_tick(tick, at=at, campaigns=len(campaigns), actions=0, error=None)
    return {"observe": observe, "history": history_t, "plan_cpu": plan_cpu,
            "record_plan": record, "decided": len(steady.decisions),
            "skipped": len(steady.skipped)}  # fmt: skip


async def acting_rows(store: Store, *, size: int, seed: int, sample: int) -> dict[str, Any]:
    """Rows/s of the records of a tick that decides a lot: bench_plan's acting plan."""
    rng = random.Random(seed)
    campaigns = campaigns_from_body(fleet_body(size, rng))
    acting = plan(campaigns, RULES, fleet_history(campaigns, rng), NOW)
    # Recorded as of later than every row written before, so its audit rows can be told
    # apart (the decisions' reasons stay those of NOW: the rows are what is measured).
    at = NOW + 10 * MINUTE
    acting = dataclasses.replace(acting, at=at)
    tick = await store.start_tick(at=at, ruleset=RULES.hash, dry_run=True)
    plan_t, _ = await timed(lambda: store.record_plan(tick, acting))
    plan_audit = await audit_rows(store, since=at, size=size)
    chosen = acting.decisions[:sample]

    async def dry_runs() -> None:
        for decision in chosen:
            await store.record_dry_run(tick, decision)

    dry_t, _ = await timed(dry_runs)
    dry_audit = await audit_rows(store, since=at, size=size) - plan_audit
    return {"plan": plan_t, "decision_rows": len(acting.decisions) + len(acting.skipped),
            "plan_audit_rows": plan_audit, "dry_run": dry_t, "dry_run_decisions": len(chosen),
            "dry_run_rows": dry_audit}  # fmt: skip


async def audit_rows(store: Store, *, since: datetime, size: int) -> int:
    """How many audit rows there are from `since` on (a tick writes fewer than 4 a campaign)."""
    return len(await store.audit(since=since, limit=4 * size + 10))


async def profiled(daemon: Reconciler) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    report = await daemon.tick()
    profiler.disable()
    if not report.ok:
        raise RuntimeError(f"profiled tick failed: {report.error}")
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text)
    stats.sort_stats("cumulative").print_stats(15)
    stats.sort_stats("tottime").print_stats(15)  # by own time: where the CPU itself goes
    return text.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("database")
    parser.add_argument("--campaigns", type=int, required=True)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--dry-run-sample", type=int, default=200)
    parser.add_argument("--steady-ticks", type=int, default=2, metavar="K")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    env = os.environ
    target = Target(
        env["EXOTEL_BASE_URL"], env["EXOTEL_ACCOUNT_SID"], env["EXOTEL_API_KEY"],
        env["EXOTEL_API_TOKEN"],
    )  # fmt: skip
    figures = asyncio.run(
        daemon_run(
            target, args.database, size=args.campaigns, seed=args.seed,
            sample=args.dry_run_sample, profile=args.profile, steady_ticks=args.steady_ticks,
        )
    )  # fmt: skip
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
