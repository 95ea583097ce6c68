"""What the store costs the daemon, on SQLite and PostgreSQL side by side, in one run.

    .venv/bin/python bench/bench_store.py [--sizes 1000,10000,100000] [--steps 200]
                                          [--repeat 3] [--baseline REF]

Figures (CPU is `time.process_time` of this process: the daemon's own work, one core; the
database server's CPU is not in it; each figure is the best of `--repeat` runs):

- step: our own CPU per step (intent, PUT, outcome) as `Reconciler` carries out a plan,
  with the lease held and fenced the way the daemon holds it, against the simulator on
  loopback (in a process of its own, its rate limiter off). The CPU of the same number of
  bare PUTs (our HTTP client alone) is subtracted, so what is left is the store, the lease
  and the checks around each step. Also the SQL statements and transactions per step
  (SQLAlchemy events: every round trip but BEGIN/COMMIT is a statement).
- plan rows: decision and audit rows per second (wall, and per second of our CPU: the
  wall figure moves with the machine's load) as `record_plan` writes a plan of n
  decisions and n skipped rules (3n rows).
- steady tick: CPU and statements of recording an unchanged poll of n campaigns and
  reading the history the engine needs, as a tick does after its first one.

With `--baseline REF` (e.g. `main`), the same measurements run first on a temporary
worktree of that commit (its own code, this bench file) and the ratios are printed.
Functions are importable: `measure_step_cost(url)`, `measure_plan_rows(url, n)`,
`measure_steady_tick(url, n)`.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event

from lifecycle import cycle, engine
from lifecycle.client import ExotelClient, RateLimiter
from lifecycle.lease import Lease
from lifecycle.metrics import Metrics
from lifecycle.model import Action, Campaign, Decision, Mode, Plan, Skip, Status
from lifecycle.rules import load_rules
from lifecycle.simulator import Simulator, SimulatorConfig, running
from lifecycle.store import Store

ROOT = Path(__file__).resolve().parents[1]
sys.path.append(str(ROOT))  # after PYTHONPATH: a --baseline run imports its own tree's

from bench.bench_tick import POSTGRES, fresh_schema, postgres_url  # noqa: E402

RULES = load_rules(ROOT / "rules.yaml")
FRIDAY_EVENING = datetime(2026, 11, 27, 13, 30, tzinfo=UTC)  # 19:00 in Mumbai: pause time
# The issue's figures for main before this work (issue 11), for when no baseline is run.
ISSUE_BEFORE = "step 14-18 ms, ~29 (SQLite) / 17 (PG) round trips; 100-136 rows/s; " \
    "steady tick at 100k: observe 6.8 s + history 4.8-6.9 s CPU"  # fmt: skip


@dataclass
class MovingClock:
    """A clock that moves 1 ms per reading, as a real one does between the plan and a step
    (a FixedClock would let the checks before each step see no time pass)."""

    at: datetime

    def now(self) -> datetime:
        self.at += timedelta(milliseconds=1)
        return self.at

    def to_wall(self, instant: datetime) -> datetime:
        return instant

    @property
    def speed(self) -> float:
        return 1.0


@dataclass
class Counts:
    statements: int = 0
    transactions: int = 0


@contextmanager
def counting(store: Store) -> Iterator[Counts]:
    """Statements (round trips but BEGIN/COMMIT) and transactions on the store's engine."""
    counts = Counts()
    sync_engine = store._engine.sync_engine

    def on_statement(*_: Any) -> None:
        counts.statements += 1

    def on_begin(*_: Any) -> None:
        counts.transactions += 1

    event.listen(sync_engine, "before_cursor_execute", on_statement)
    event.listen(sync_engine, "begin", on_begin)
    try:
        yield counts
    finally:
        event.remove(sync_engine, "before_cursor_execute", on_statement)
        event.remove(sync_engine, "begin", on_begin)


def client_for(sim: Simulator, url: str) -> ExotelClient:
    return ExotelClient(
        base_url=url,
        account_sid=sim.config.account_sid,
        api_key=sim.config.api_key,
        api_token=sim.config.api_token,
        limiter=RateLimiter(1e9),
    )


@dataclass(frozen=True)
class StepCost:
    own_ms: float  # CPU per step, bare PUT subtracted
    put_ms: float  # CPU per bare PUT (our HTTP client), for reference
    statements: float  # per step
    transactions: float  # per step


def _options(lease: Lease) -> cycle.TickOptions:
    """The daemon's TickOptions for a leased account (renewal per step where the code has
    a separate per-step check)."""
    options = cycle.TickOptions(may_act=lease.hold, fence=lease.fence)
    if hasattr(options, "may_go") and hasattr(lease, "keep"):
        options.may_go = lease.keep
    return options


def _serve(campaigns: int, answer: Any) -> None:
    """The simulator, in a process of its own (its CPU is not ours): `campaigns` running
    ones, its clock at Friday 19:00 IST and moving; its URL goes into `answer`."""

    async def serve() -> None:
        sim = Simulator(SimulatorConfig(rate_per_minute=None), clock=MovingClock(FRIDAY_EVENING))  # type: ignore[arg-type]
        for i in range(campaigns):
            sim.add_campaign(
                name=f"run-{i}", status=Status.IN_PROGRESS,
                send_at=FRIDAY_EVENING - timedelta(hours=9),
                end_at=FRIDAY_EVENING + timedelta(days=5), numbers=100_000,
            )  # fmt: skip
        async with running(sim) as url:
            answer.put(url)
            await asyncio.Event().wait()

    asyncio.run(serve())


@asynccontextmanager
async def simulator(campaigns: int) -> AsyncIterator[str]:
    context = multiprocessing.get_context("spawn")
    answer = context.Queue()
    process = context.Process(target=_serve, args=(campaigns, answer), daemon=True)
    process.start()
    try:
        yield await asyncio.to_thread(answer.get, True, 60)
    finally:
        process.terminate()
        process.join()


async def _step_run(url: str, steps: int) -> StepCost:
    clock = MovingClock(FRIDAY_EVENING)
    sim = Simulator(SimulatorConfig(rate_per_minute=None))  # for its credentials only
    store = await Store.connect(url, account=sim.config.account_sid)
    await store.upgrade()
    try:
        async with simulator(steps * 2) as base, client_for(sim, base) as client:
            lease = Lease.for_account(
                sim.config.account_sid, store=store, instance="bench", ttl=timedelta(seconds=60),
                bound=timedelta(seconds=15), metrics=Metrics(), zone=UTC,
            )  # fmt: skip
            reconciler = cycle.Reconciler(
                client=client, store=store, ruleset=lambda: RULES, clock=clock,
                options=_options(lease),
            )  # fmt: skip
            assert await lease.hold()
            listed = await client.list_campaigns()
            acting, spare = list(listed)[:steps], list(listed)[steps:]
            now = clock.now()
            tick = await store.start_tick(at=now, ruleset=RULES.hash, dry_run=False)
            await store.observe(listed, at=now)
            history = await store.history(at=now, campaign_ids=[c.id for c in acting])
            plan = engine.plan(acting, RULES, history, now)
            assert len(plan.decisions) == steps, len(plan.decisions)
            await store.record_plan(tick, plan)
            work = _work(tick, plan, {c.id: c for c in acting}, history)
            with counting(store) as counts:
                started = time.process_time()
                sent, failed = await reconciler._execute(work)
                spent = time.process_time() - started
            assert (sent, failed) == (steps, 0), (sent, failed)
            started = time.process_time()
            for c in spare:
                await client.act(c.id, Action.PAUSE)
            bare = time.process_time() - started
    finally:
        await store.close()
    return StepCost(
        own_ms=(spent - bare) / steps * 1000,
        put_ms=bare / steps * 1000,
        statements=counts.statements / steps,
        transactions=counts.transactions / steps,
    )


def _work(tick: Any, plan: Plan, campaigns: dict[str, Campaign], history: Any) -> Any:
    fields = {f.name for f in dataclasses.fields(cycle._Work)}
    extra = {"history": history} if "history" in fields else {}
    return cycle._Work(tick, plan, RULES, campaigns, **extra)


async def measure_step_cost(url: str, *, steps: int = 200, repeat: int = 3) -> StepCost:
    """Best (lowest own CPU) of `repeat` runs of `steps` steps, each on a fresh database
    from `url` (a factory: see `databases`)."""
    runs = []
    for _ in range(repeat):
        async with fresh(url) as db:
            runs.append(await _step_run(db, steps))
    return min(runs, key=lambda r: r.own_ms)


def _plan(n: int, at: datetime) -> Plan:
    decisions = tuple(
        Decision(
            campaign_id=f"c{i:06}",
            campaign_name=f"name {i}",
            status=Status.IN_PROGRESS,
            rule="pause-outside-business-hours",
            action=Action.PAUSE,
            steps=(Action.PAUSE,),
            mode=Mode.ENFORCE,
            reason="outside business-hours (closed since 19:00)",
        )
        for i in range(n)
    )
    skipped = tuple(
        Skip(
            campaign_id=f"s{i:06}",
            campaign_name=f"name {i}",
            rule="resume-in-business-hours",
            action=Action.RESUME,
            reason="manual change respected until 09:30",
        )
        for i in range(n)
    )
    return Plan(at=at, ruleset=RULES.hash, decisions=decisions, skipped=skipped)


async def measure_plan_rows(url: str, n: int, *, repeat: int = 3) -> tuple[float, float]:
    """Rows per second (wall) and CPU seconds of `record_plan` for n decisions and n skips
    (3n rows: 2n decision rows, n audit rows); best of `repeat`, each on a fresh database."""
    best = (0.0, float("inf"))
    for _ in range(repeat):
        async with fresh(url) as db:
            store = await Store.connect(db, account="bench")
            await store.upgrade()
            try:
                tick = await store.start_tick(at=FRIDAY_EVENING, ruleset=RULES.hash, dry_run=False)
                plan = _plan(n, FRIDAY_EVENING)
                wall, cpu = time.perf_counter(), time.process_time()
                await store.record_plan(tick, plan)
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            finally:
                await store.close()
        best = max(best, (3 * n / wall, cpu), key=lambda b: b[0])
    return best


@dataclass(frozen=True)
class SteadyCost:
    cpu: float  # seconds: recording an unchanged poll and reading history
    statements: int


def _fleet(n: int) -> list[Campaign]:
    statuses = (Status.COMPLETED, Status.IN_PROGRESS, Status.PAUSED, Status.ARCHIVED)
    return [
        Campaign(
            id=f"{i:032x}",
            name=f"campaign {i}",
            status=statuses[i % 4],
            date_updated=FRIDAY_EVENING - timedelta(days=i % 30),
        )
        for i in range(n)
    ]


async def _poll(store: Store, fleet: list[Campaign], at: datetime) -> object:
    """Record the poll and read the history, as a tick does (one call where the store has
    the combined one)."""
    if hasattr(store, "poll"):
        return await store.poll(fleet, at=at)
    await store.observe(fleet, at=at)
    return await store.history(at=at, campaign_ids=[c.id for c in fleet])


async def measure_steady_tick(url: str, n: int, *, repeat: int = 3) -> SteadyCost:
    """CPU and statements of an unchanged poll of n campaigns plus its history read (the
    second and later ticks), best of `repeat` on one database."""
    store = await Store.connect(url, account="bench")
    await store.upgrade()
    fleet = _fleet(n)
    best = SteadyCost(float("inf"), 0)
    try:
        await _poll(store, fleet, FRIDAY_EVENING)  # the first sight of every campaign
        for i in range(repeat):
            at = FRIDAY_EVENING + timedelta(minutes=i + 1)
            with counting(store) as counts:
                cpu = time.process_time()
                await _poll(store, fleet, at)
                cpu = time.process_time() - cpu
            best = min(best, SteadyCost(cpu, counts.statements), key=lambda s: s.cpu)
    finally:
        await store.close()
    return best


@asynccontextmanager
async def fresh(url: str) -> AsyncIterator[str]:
    """An empty database like `url`: a new SQLite file in a temporary folder for a SQLite
    URL, a new schema (dropped afterwards) for a PostgreSQL one."""
    if url.startswith("sqlite"):
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        return
    async with fresh_schema(url) as schema_url:
        yield schema_url


async def measure_all(sizes: list[int], steps: int, repeat: int) -> dict[str, Any]:
    """Every figure, for SQLite and (when one answers) PostgreSQL, as plain JSON values."""
    databases = {"SQLite": "sqlite"}
    pg = await postgres_url()
    if pg:
        databases["PostgreSQL"] = pg
    else:
        print(f"PostgreSQL: none answers at {POSTGRES}: measured on SQLite only", file=sys.stderr)
    figures: dict[str, Any] = {}
    for name, url in databases.items():
        step = await measure_step_cost(url, steps=steps, repeat=repeat)
        rows = {}
        for n in (1000, 10_000):
            rows[str(n)] = await measure_plan_rows(url, n, repeat=repeat)
        steady = {}
        for n in sizes:
            async with fresh(url) as db:
                steady[str(n)] = dataclasses.asdict(await measure_steady_tick(db, n, repeat=repeat))
        figures[name] = {"step": dataclasses.asdict(step), "rows": rows, "steady": steady}
    return figures


def baseline(ref: str, argv: list[str]) -> dict[str, Any]:
    """The same figures measured by this file on a temporary worktree of `ref`."""
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "baseline"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), ref],
                       check=True, capture_output=True)  # fmt: skip
        try:
            env = {**os.environ, "PYTHONPATH": str(tree)}
            out = subprocess.run(
                [sys.executable, str(Path(__file__).resolve()), "--json", *argv],
                cwd=tree, env=env, check=True, capture_output=True, text=True,
            )  # fmt: skip
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)],
                           check=True, capture_output=True)  # fmt: skip
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def _ratio(before: float | None, after: float) -> str:
    if before is None or after == 0:
        return ""
    return f"{before / after:.1f}x"


def _line(db: str, label: str, value: float, prior: Any, fmt: str, higher: bool = False) -> None:
    """One figure: before, after, and how many times better after is."""
    known = isinstance(prior, int | float)
    was = format(prior, fmt) if known else "-"
    ratio = (_ratio(value, prior) if higher else _ratio(prior, value)) if known else ""
    print(f"{db:<11} {label:<40} {was:>10} {format(value, fmt):>10} {ratio:>7}")


def _get(figures: dict[str, Any] | None, *path: str) -> Any:
    value: Any = figures
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def report(now: dict[str, Any], before: dict[str, Any] | None, ref: str) -> None:
    print(f"before = {ref}" if before else f"before (issue 11): {ISSUE_BEFORE}")
    print(f"{'database':<11} {'figure':<40} {'before':>10} {'after':>10} {'ratio':>7}")
    for db, fig in now.items():
        for key, label, fmt in (
            ("own_ms", "step: own CPU ms (bare PUT excluded)", ".2f"),
            ("statements", "step: SQL statements", ".1f"),
            ("transactions", "step: transactions", ".1f"),
            ("put_ms", "step: bare PUT CPU ms (client, reference)", ".2f"),
        ):
            _line(db, label, fig["step"][key], _get(before, db, "step", key), fmt)
        for n, (rate, cpu) in fig["rows"].items():
            prior = _get(before, db, "rows", n)
            label = f"plan rows/s (wall), {n} decisions"
            _line(db, label, rate, prior[0] if prior else None, ".0f", higher=True)
            label = f"plan rows/s of our CPU, {n} decisions"
            per_cpu = 3 * int(n) / prior[1] if prior else None
            _line(db, label, 3 * int(n) / cpu, per_cpu, ".0f", higher=True)
        for n, steady in fig["steady"].items():
            for key, label, fmt in (("cpu", "observe+history CPU s", ".3f"),
                                    ("statements", "statements", "d")):  # fmt: skip
                prior = _get(before, db, "steady", n, key)
                _line(db, f"steady tick {n}: {label}", steady[key], prior, fmt)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--baseline", help="a commit to measure the same way first (e.g. main)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON only")
    args = parser.parse_args()
    sizes = [int(n) for n in args.sizes.split(",")]
    own = ["--sizes", args.sizes, "--steps", str(args.steps), "--repeat", str(args.repeat)]
    before = baseline(args.baseline, own) if args.baseline else None
    figures = asyncio.run(measure_all(sizes, args.steps, args.repeat))
    if args.json:
        print(json.dumps(figures))
        return
    report(figures, before, args.baseline or "")


if __name__ == "__main__":
    main()
