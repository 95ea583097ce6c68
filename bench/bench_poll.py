"""What a poll costs with full listing and with the settled poll, side by side.

    .venv/bin/python bench/bench_poll.py [--campaigns 1000,10000,100000] [--active 0.05]

For each fleet size, a seeded fleet (`--active` of it created, in-progress, paused or
completed; the rest archived) is served by the simulator on loopback, in a thread of its
own, with its rate limiter off so that requests are counted instead of waited for. The
same client lists it two ways:

- full: every campaign every tick (LIFECYCLE_SETTLED_POLL=off, the default);
- settled poll: LIFECYCLE_SETTLED_POLL=24h, after its first (full) tick: one list filtered
  to the listed statuses per tick, and a full list once a day.

It prints list requests per steady tick (counted at the simulator), the client's CPU per
tick (time.thread_time of the thread the client runs in: one core; best of --repeat), the
shortest poll interval that keeps listing within Exotel's 30 requests/minute (for the
settled poll, with the daily full list spread over the day), and the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from lifecycle.client import PAGE_LIMIT, ExotelClient, RateLimiter
from lifecycle.client.poll import Poller
from lifecycle.clock import FixedClock
from lifecycle.model import Status
from lifecycle.simulator import Simulator, SimulatorConfig, running

FRIDAY_EVENING = datetime(2026, 11, 27, 13, 30, tzinfo=UTC)
RATE = 30.0  # requests/minute: the documented Campaign API budget
DAY = timedelta(hours=24)
_LISTED = (Status.CREATED, Status.IN_PROGRESS, Status.PAUSED, Status.COMPLETED)


def seed(sim: Simulator, n: int, active: float) -> None:
    """`n` campaigns, `active` of them in a listed status (round-robin), the rest archived.
    The clock stands still, so nobody dials and nothing moves between ticks."""
    listed = round(n * active)
    later = sim.clock.now() + timedelta(days=30)
    for i in range(n):
        if i >= listed:
            sim.add_campaign(name=f"old-{i}", status=Status.ARCHIVED, numbers=10, done=10)
            continue
        status = _LISTED[i % len(_LISTED)]
        send_at = later if status == Status.CREATED else None
        sim.add_campaign(name=f"live-{i}", status=status, send_at=send_at, numbers=1000)


@contextmanager
def served_in_thread(sim: Simulator) -> Iterator[str]:
    """The simulator on 127.0.0.1 from its own thread, so that its CPU is not ours."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    urls: list[str] = []
    done: asyncio.Future[None] = loop.create_future()

    async def serve() -> None:
        async with running(sim) as url:
            urls.append(url)
            ready.set()
            await done

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    if not ready.wait(30):
        raise RuntimeError("the simulator did not start")
    try:
        yield urls[0]
    finally:
        loop.call_soon_threadsafe(done.set_result, None)
        thread.join(30)


async def measure(
    sim: Simulator, url: str, period: timedelta | None, repeat: int
) -> tuple[int, float]:
    """(requests, CPU seconds) of a steady tick: requests of the last, CPU the best."""
    config = sim.config
    clock = FixedClock(FRIDAY_EVENING)
    async with ExotelClient(
        base_url=url,
        account_sid=config.account_sid,
        api_key=config.api_key,
        api_token=config.api_token,
        limiter=RateLimiter(1e9),
    ) as client:
        poller = Poller(client, period=period)
        await poller.poll(clock.now())  # the first tick is a full list either way
        best, requests = math.inf, 0
        for _ in range(repeat):
            clock.advance(timedelta(minutes=1))
            before = len(sim.requests)
            started = time.thread_time()
            poll = await poller.poll(clock.now())
            best = min(best, time.thread_time() - started)
            requests = len(sim.requests) - before
            assert poll.listing.complete and len(poll.listing) == len(sim.campaigns())
            assert poll.full == (period is None), "the steady tick is filtered"
        return requests, best


def shortest_interval(per_tick: int, daily_full: int = 0) -> float:
    """Seconds between polls so that listing stays within RATE: per_tick requests each
    poll, plus `daily_full` requests once a day."""
    per_day = RATE * 24 * 60
    if daily_full >= per_day:
        return math.inf
    return per_tick * 86400 / (per_day - daily_full)


def run(sizes: list[int], active: float, repeat: int) -> None:
    print(
        f"{'campaigns':>9} | {'list req/tick':>13} {'ratio':>6} | "
        f"{'CPU ms/tick':>17} {'ratio':>6} | {'shortest poll (30/min)':>22} {'ratio':>6}"
    )
    print(
        f"{'':>9} | {'full':>6} {'filt':>6} {'':>6} | {'full':>8} {'filt':>8} {'':>6} | "
        f"{'full':>10} {'filt':>11} {'':>6}"
    )
    for n in sizes:
        sim = Simulator(SimulatorConfig(rate_per_minute=None), clock=FixedClock(FRIDAY_EVENING))
        seed(sim, n, active)
        with served_in_thread(sim) as url:
            full_requests, full_cpu = asyncio.run(measure(sim, url, None, repeat))
            filt_requests, filt_cpu = asyncio.run(measure(sim, url, DAY, repeat))
        pages = math.ceil(n / PAGE_LIMIT)
        full_gap = shortest_interval(full_requests)
        filt_gap = shortest_interval(filt_requests, daily_full=pages)
        print(
            f"{n:>9,} | {full_requests:>6} {filt_requests:>6} "
            f"{full_requests / filt_requests:>5.1f}x | "
            f"{full_cpu * 1e3:>8.1f} {filt_cpu * 1e3:>8.1f} {full_cpu / filt_cpu:>5.1f}x | "
            f"{full_gap:>9.1f}s {filt_gap:>10.2f}s {full_gap / filt_gap:>5.1f}x"
        )
    print(
        f"\n{active:.0%} of each fleet listed (created, in-progress, paused, completed), the "
        "rest archived. Full: LIFECYCLE_SETTLED_POLL=off. filt: =24h, a steady tick (its "
        "daily full list spread over the day in 'shortest poll'). Each campaign that "
        "settles between ticks adds one GET (or one full list when more settle at once "
        "than a full list has pages). CPU: the client's thread, best of "
        f"{repeat}; the simulator runs in a thread of its own."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--campaigns", default="1000,10000,100000")
    parser.add_argument("--active", type=float, default=0.05)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sizes = [int(n) for n in args.campaigns.split(",")]
    run(sizes, args.active, args.repeat)


if __name__ == "__main__":
    main()
