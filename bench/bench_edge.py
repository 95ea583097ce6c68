"""How late a window edge is acted on: a full tick at the edge against the edge first.

    .venv/bin/python bench/bench_edge.py [--campaigns 1000,10000] [--running 0.1] [--repeat 3]

A fleet of mostly finished campaigns (60 % archived, the rest completed) with a share
running (`--running`, 10 %), which the shipped rules.yaml pauses when business hours close
at 19:00 on a Friday in Mumbai. The clock runs in real time. A tick at 18:59 finds
nothing to do and names 19:00 as its next wake-up; the wake-up comes 200 ms after the
edge, as the daemon's scheduler has it (`daemon._WAKEUP_MARGIN`), and then:

- full tick (before issue 11 item 4): one full reconcile (list every campaign, observe,
  history, plan, act), the daemon's wake-up tick until now;
- edge first: `Reconciler.edge_tick()` (the pre-planned campaigns read again by one list
  filtered by status, planned anew, acted on), then the full reconcile.

The simulator serves from a thread of its own on loopback, its rate limiter off, and the
client's limiter is wide open too: the figures are our own latency, not Exotel's rate (at
30 requests a minute the first 30 PUTs leave as a burst and the rest one per 2 s on
either path). Times are wall seconds from the edge instant to the arrival at the simulator
of the first PUT of the edge, of its 30th (the end of Exotel's burst: after it the rate,
not our CPU, paces the PUTs) and of its last (the 200 ms margin included), best of
`--repeat` runs of each, taken in turns; the audit trail is a SQLite file. CPU is
time.process_time of this process less the CPU of the simulator's handlers (their
thread's time.thread_time), so ours, the database driver's thread included: `edge CPU`
from the wake-up to the edge's last PUT answered (the full tick, or the edge tick),
`pre-tick CPU` for the tick at 18:59, where the edge first path also plans the edge.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Handler

from lifecycle.client import ExotelClient, RateLimiter
from lifecycle.clock import ScaledClock
from lifecycle.cycle import Reconciler, TickOptions
from lifecycle.model import Status
from lifecycle.rules import load_rules
from lifecycle.simulator import Simulator, SimulatorConfig
from lifecycle.store import Store

ROOT = Path(__file__).parents[1]
RULES = load_rules(ROOT / "rules.yaml")
EDGE = datetime(2026, 11, 27, 13, 30, tzinfo=UTC)  # Friday 19:00 in Mumbai
MARGIN = 0.2  # the daemon wakes this long after the edge (daemon._WAKEUP_MARGIN)
POLL = timedelta(seconds=60)  # the daemon's edge horizon is its poll interval
BURST = 30  # Exotel's 30 requests a minute go out back to back, then one per 2 s


@dataclass(frozen=True)
class EdgeFigures:
    """One run: seconds from the edge instant to the first PUT of the edge, to the last
    one of Exotel's burst (after it, the rate paces PUTs at one per 2 s) and to the last,
    how many PUTs the edge made, and the CPU seconds of the tick before the edge."""

    first_put: float
    burst_put: float  # the last PUT of Exotel's burst (30), or the last one if fewer
    last_put: float
    puts: int
    pre_tick_cpu: float
    edge_cpu: float  # from the wake-up to the edge's last PUT answered


@dataclass
class Served:
    """What the simulator's thread notes: the `time.perf_counter()` at which each PUT
    arrived, and the CPU seconds its own handlers took (not ours, though in our process)."""

    puts: list[float] = field(default_factory=list)
    cpu: float = 0.0

    def ours(self, since: tuple[float, float]) -> float:
        """CPU seconds of this process since `since` (from `mark`), the simulator's taken out."""
        cpu, sim = since
        return time.process_time() - cpu - (self.cpu - sim)

    def mark(self) -> tuple[float, float]:
        return time.process_time(), self.cpu


def seed(sim: Simulator, n: int, running: float) -> int:
    """`n` campaigns, `running` of them in progress at 19:00; returns how many."""
    now = sim.clock.now()
    acting = round(n * running)
    for i in range(n):
        if i < acting:
            sim.add_campaign(
                name=f"run-{i}", status=Status.IN_PROGRESS, send_at=now - timedelta(hours=9),
                end_at=now + timedelta(days=5), numbers=100_000,
            )  # fmt: skip
        elif i % 10 < 6:
            sim.add_campaign(
                name=f"old-{i}", status=Status.ARCHIVED, numbers=10, done=10,
                date_updated=now - timedelta(days=30),
            )  # fmt: skip
        else:
            sim.add_campaign(
                name=f"done-{i}", status=Status.COMPLETED, numbers=10, done=10,
                date_updated=now - timedelta(days=1),
            )  # fmt: skip
    return acting


@contextmanager
def served_in_thread(sim: Simulator, served: Served) -> Iterator[str]:
    """`sim` on loopback from a thread of its own (as a remote server is), noting in
    `served` when each PUT arrives and the CPU its handlers take; the base URL."""

    @web.middleware
    async def note(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method == "PUT":
            served.puts.append(time.perf_counter())
        cpu = time.thread_time()
        try:
            return await handler(request)
        finally:
            served.cpu += time.thread_time() - cpu

    loop = asyncio.new_event_loop()
    ready, urls = threading.Event(), list[str]()
    done: asyncio.Future[None] = loop.create_future()

    async def serve() -> None:
        app = sim.app()
        app.middlewares.insert(0, note)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        urls.append(f"http://127.0.0.1:{runner.addresses[0][1]}")
        ready.set()
        try:
            await done
        finally:
            await runner.cleanup()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    assert ready.wait(30)
    try:
        yield urls[0]
    finally:
        loop.call_soon_threadsafe(done.set_result, None)
        thread.join(30)


@asynccontextmanager
async def reconciler_for(
    sim: Simulator, url: str, clock: ScaledClock, *, edge_first: bool
) -> AsyncIterator[Reconciler]:
    with tempfile.TemporaryDirectory() as tmp:
        store = await Store.connect(f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}")
        await store.upgrade()
        client = ExotelClient(
            base_url=url,
            account_sid=sim.config.account_sid,
            api_key=sim.config.api_key,
            api_token=sim.config.api_token,
            limiter=RateLimiter(1e9),
        )
        try:
            yield Reconciler(
                client=client, store=store, ruleset=lambda: RULES, clock=clock,
                options=TickOptions(edge_horizon=POLL if edge_first else None),
            )  # fmt: skip
        finally:
            await client.close()
            await store.close()


async def measure(n: int, *, running: float = 0.1, edge_first: bool) -> EdgeFigures:
    """One run of one path on a fresh fleet, simulator and database."""
    clock = ScaledClock(EDGE - POLL)  # real time, from 18:59
    sim = Simulator(SimulatorConfig(rate_per_minute=None), clock=clock)
    expected = seed(sim, n, running)
    served = Served()
    with served_in_thread(sim, served) as url:
        async with reconciler_for(sim, url, clock, edge_first=edge_first) as reconciler:
            mark = served.mark()
            before = await reconciler.tick()
            pre_tick_cpu = served.ours(mark)
            assert before.ok and before.sent == 0, before.error
            assert before.plan is not None and before.plan.next_wakeup == EDGE
            # Skip the rest of the minute: the scheduler's wake-up, MARGIN after the edge.
            lead = 0.3
            clock.jump_to(EDGE - timedelta(seconds=lead))
            edge_at = time.perf_counter() + lead
            await asyncio.sleep(lead + MARGIN)
            mark = served.mark()
            acting = await (reconciler.edge_tick() if edge_first else reconciler.tick())
            edge_cpu = served.ours(mark)
            assert acting is not None and acting.ok and acting.sent == expected, acting
            after = await reconciler.tick()
            assert after.ok and after.sent == 0, after
    puts = served.puts
    assert len(puts) == expected, (len(puts), expected)
    burst = puts[min(BURST, len(puts)) - 1]
    return EdgeFigures(
        puts[0] - edge_at, burst - edge_at, puts[-1] - edge_at, len(puts), pre_tick_cpu,
        edge_cpu,
    )  # fmt: skip


async def side_by_side(repeat: int, n: int, running: float) -> tuple[EdgeFigures, EdgeFigures]:
    """The best of `repeat` runs of each path, the runs taken in turns (full tick, edge
    first, full tick, ...) so that a busy spell of the machine weighs on both alike."""
    old: list[EdgeFigures] = []
    new: list[EdgeFigures] = []
    for _ in range(repeat):
        old.append(await measure(n, running=running, edge_first=False))
        new.append(await measure(n, running=running, edge_first=True))
    return best(old), best(new)


def best(runs: list[EdgeFigures]) -> EdgeFigures:
    return EdgeFigures(
        first_put=min(r.first_put for r in runs),
        burst_put=min(r.burst_put for r in runs),
        last_put=min(r.last_put for r in runs),
        puts=runs[0].puts,
        pre_tick_cpu=min(r.pre_tick_cpu for r in runs),
        edge_cpu=min(r.edge_cpu for r in runs),
    )


async def bench(sizes: list[int], running: float, repeat: int) -> None:
    print(
        f"rules: {RULES.source}; {running:.0%} running at Friday 19:00 IST, the rest "
        f"archived or completed; best of {repeat}; rate limiters off; SQLite"
    )
    print(
        f"{'campaigns':>9} {'edge PUTs':>9}  {'path':<12} {'first PUT s':>11} "
        f"{'PUT #30 s':>9} {'last PUT s':>10} {'edge CPU s':>10} {'pre-tick CPU s':>14}"
    )
    for n in sizes:
        old, new = await side_by_side(repeat, n, running)
        for path, f in (("full tick", old), ("edge first", new)):
            print(
                f"{n:>9,} {f.puts:>9,}  {path:<12} {f.first_put:>11.3f} {f.burst_put:>9.3f} "
                f"{f.last_put:>10.3f} {f.edge_cpu:>10.3f} {f.pre_tick_cpu:>14.3f}"
            )
        print(
            f"{'':>21}ratio full/edge-first: first PUT {old.first_put / new.first_put:.1f}x, "
            f"PUT #30 {old.burst_put / new.burst_put:.1f}x, "
            f"last PUT {old.last_put / new.last_put:.2f}x, "
            f"edge CPU {old.edge_cpu / new.edge_cpu:.2f}x; "
            f"pre-tick CPU {new.pre_tick_cpu / old.pre_tick_cpu:.2f}x with the edge planned"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--campaigns", default="1000,10000")
    parser.add_argument("--running", type=float, default=0.1)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sizes = [int(x) for x in args.campaigns.split(",")]
    assert all(n > 0 for n in sizes) and 0 < args.running <= 1 and args.repeat > 0
    asyncio.run(bench(sizes, args.running, args.repeat))


if __name__ == "__main__":
    main()
