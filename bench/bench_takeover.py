"""Takeover and restart times of real daemons sharing one PostgreSQL: kill -9, SIGSTOP, restart.

    .venv/bin/python bench/bench_takeover.py [--lease 10] [--timeout 2] [--poll 1]

Real `lifecycle run` processes, on a schema of their own in the local PostgreSQL
(LIFECYCLE_TEST_POSTGRES_URL, default postgres@127.0.0.1:5432/test), against the simulator
served by this script on 127.0.0.1:18110 (daemons' HTTP on 18111-18114). A feeder adds a
campaign past its end every 0.5 s, so the leader always has pauses and completes to send.
Each phase is timed from the signal on this script's monotonic clock; the lease row and the
simulator's requests are watched every 20 ms.

1. kill -9 the leader (instance a): seconds until standby b takes the lease, and until
   its first PUT. Expected: the rest of a's lease (at most LIFECYCLE_LEASE_SECONDS) plus
   up to one poll.
2. SIGSTOP the leader (b): the same for the standby (a, restarted), then SIGCONT b once a
   leads, and count what b sends in the next seconds: PUTs in its own log and intents
   written under its owner id. Expected: none.
3. kill -9 the lone leader (a) and start it again with the same LIFECYCLE_INSTANCE: seconds
   from the kill, and from the new process's start, to its lease and its first PUT; then
   the same with a new instance name (what every restart cost before the owner id had a
   stable part): it waits the old lease out.

Nothing here is asserted: the figures belong to this machine and this run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import asyncpg
from sqlalchemy import make_url

from lifecycle.clock import SystemClock
from lifecycle.model import Outcome, Status
from lifecycle.simulator import Simulator, SimulatorConfig, running
from lifecycle.store import LeaseRow, Store

ROOT = Path(__file__).parents[1]
SIM_PORT = 18110
HTTP_PORTS = iter(range(18111, 18120))
NAME = "tick:acme1"
RULES = """\
timezone: Asia/Kolkata
rules:
  - name: complete-after-end
    match: {status: [in-progress, paused], end_at: passed}
    action: complete
"""
_PUT_LINE = re.compile(r"PUT action \w+ \w+ -> HTTP \d")


@dataclass
class Daemon:
    instance: str
    process: subprocess.Popen[bytes]
    log: Path
    started: float

    def put_lines(self, since: int = 0) -> list[str]:
        text = self.log.read_bytes()[since:].decode(errors="replace")
        return [line for line in text.splitlines() if _PUT_LINE.search(line)]

    def lines(self, since: int, pattern: str) -> list[str]:
        text = self.log.read_bytes()[since:].decode(errors="replace")
        return [line for line in text.splitlines() if re.search(pattern, line)]


@dataclass
class Bench:
    sim: Simulator
    sim_url: str
    store: Store
    db_url: str
    workdir: Path
    args: argparse.Namespace
    daemons: list[Daemon] = field(default_factory=list)

    def start(self, instance: str) -> Daemon:
        log = self.workdir / f"{instance}-{len(self.daemons)}.log"
        env = {
            **os.environ,
            "EXOTEL_ACCOUNT_SID": self.sim.config.account_sid,
            "EXOTEL_API_KEY": self.sim.config.api_key,
            "EXOTEL_API_TOKEN": self.sim.config.api_token,
            "EXOTEL_BASE_URL": self.sim_url,
            "LIFECYCLE_DATABASE_URL": self.db_url,
            "LIFECYCLE_RULES": str(self.workdir / "rules.yaml"),
            "LIFECYCLE_POLL_SECONDS": str(self.args.poll),
            "LIFECYCLE_LEASE_SECONDS": str(self.args.lease),
            "LIFECYCLE_HTTP_TIMEOUT": str(self.args.timeout),
            "LIFECYCLE_API_RATE_PER_MINUTE": "6000",
            "LIFECYCLE_INSTANCE": instance,
            "LIFECYCLE_HTTP": f"127.0.0.1:{next(HTTP_PORTS)}",
        }
        with log.open("wb") as sink:
            process = subprocess.Popen(
                [sys.executable, "-m", "lifecycle", "run"],
                env=env,
                stdout=sink,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
            )
        daemon = Daemon(instance, process, log, time.monotonic())
        self.daemons.append(daemon)
        return daemon

    async def lease(self) -> LeaseRow | None:
        return await self.store.lease(NAME)

    def puts(self) -> int:
        return sum(1 for r in self.sim.requests if r.method == "PUT")

    async def until(self, what: str, check: object, limit: float = 120.0) -> float:
        """Poll `check` (an async callable) every 20 ms until true; the monotonic time then."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if await check():  # type: ignore[operator]
                return time.monotonic()
            await asyncio.sleep(0.02)
        raise SystemExit(f"gave up waiting for {what} after {limit:g}s")

    async def held_by(self, instance: str, process: Daemon | None = None) -> float:
        async def check() -> bool:
            row = await self.lease()
            if row is None or not row.owner.endswith(f":{instance}"):
                return False
            return process is None or f"pid={process.process.pid} " in (row.incarnation or "")

        return await self.until(f"the lease held by {instance}", check)

    async def first_put_after(self, count: int) -> float:
        async def check() -> bool:
            return self.puts() > count

        return await self.until("a PUT", check)

    async def intents_by(self, instance: str, since: datetime) -> int:
        """Intents written under `instance`'s owner id at or after `since` (daemons run on
        the real clock, so the audit rows' times compare with this script's)."""
        rows = await self.store.audit(limit=5000)
        return sum(
            1
            for r in rows
            if r.outcome == Outcome.INTENT
            and (r.owner or "").endswith(f":{instance}")
            and r.at >= since
        )


async def feed(sim: Simulator, stop: asyncio.Event) -> None:
    """A campaign past its end every 0.5 s: the leader pauses and completes each."""
    n = 0
    while not stop.is_set():
        now = sim.clock.now()
        sim.add_campaign(
            name=f"ended-{n}",
            status=Status.IN_PROGRESS,
            send_at=now - timedelta(hours=2),
            end_at=now - timedelta(minutes=1),
        )
        n += 1
        await asyncio.sleep(0.5)


def kill(daemon: Daemon, sig: signal.Signals) -> float:
    daemon.process.send_signal(sig)
    return time.monotonic()


async def phase_kill(bench: Bench) -> dict[str, float]:
    a = bench.start("a")
    await bench.held_by("a")
    b = bench.start("b")
    await asyncio.sleep(2 * bench.args.poll + 1)  # b is standing by
    before = bench.puts()
    killed = kill(a, signal.SIGKILL)
    a.process.wait()
    taken = await bench.held_by("b")
    put = await bench.first_put_after(before)
    assert b.process.poll() is None
    return {"lease": taken - killed, "first PUT": put - killed}


async def phase_stop(bench: Bench) -> dict[str, float | int | str]:
    b = next(d for d in bench.daemons if d.instance == "b" and d.process.poll() is None)
    a = bench.start("a")  # the standby now
    await asyncio.sleep(2 * bench.args.poll + 1)
    before = bench.puts()
    stopped = kill(b, signal.SIGSTOP)
    taken = await bench.held_by("a", a)
    put = await bench.first_put_after(before)
    await asyncio.sleep(2)
    offset = b.log.stat().st_size
    resumed = SystemClock().now()
    kill(b, signal.SIGCONT)
    await asyncio.sleep(3 * bench.args.poll + 3)  # let b run on: does it send anything?
    said = b.lines(offset, r"lease|standing by|not sent|decided by another")
    return {
        "lease": taken - stopped,
        "first PUT": put - stopped,
        "b PUTs after SIGCONT": len(b.put_lines(offset)),
        "b intents after SIGCONT": await bench.intents_by("b", resumed),
        "b said": " | ".join(line.split(": ", 1)[-1][:110] for line in said[:3]) or "-",
    }


async def phase_restart(bench: Bench) -> dict[str, float]:
    for daemon in bench.daemons:  # a lone daemon: stop the other one cleanly first
        if daemon.process.poll() is None and daemon.instance == "b":
            daemon.process.send_signal(signal.SIGCONT)
            daemon.process.terminate()
            daemon.process.wait()
    a = next(d for d in reversed(bench.daemons) if d.instance == "a")
    await bench.held_by("a", a)
    before = bench.puts()
    killed = kill(a, signal.SIGKILL)
    a.process.wait()
    again = bench.start("a")
    taken = await bench.held_by("a", again)
    put = await bench.first_put_after(before)
    result = {
        "same instance: lease": taken - killed,
        "same instance: first PUT": put - killed,
        "same instance: lease after start": taken - again.started,
    }
    before = bench.puts()
    killed = kill(again, signal.SIGKILL)
    again.process.wait()
    bench.start("c")  # a new owner id, as every restart had before
    taken = await bench.held_by("c")
    put = await bench.first_put_after(before)
    result |= {"new instance: lease": taken - killed, "new instance: first PUT": put - killed}
    return result


async def main(args: argparse.Namespace) -> None:
    default = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
    base = make_url(os.environ.get("LIFECYCLE_TEST_POSTGRES_URL") or default)
    schema = f"bench_takeover_{uuid.uuid4().hex[:8]}"
    dsn = base.set(drivername="postgresql").render_as_string(hide_password=False)
    admin = await asyncpg.connect(dsn)
    await admin.execute(f'CREATE SCHEMA "{schema}"')
    db_url = base.update_query_dict({"schema": schema}).render_as_string(hide_password=False)
    config = SimulatorConfig(rate_per_minute=None, end_at_lag=timedelta(days=1))
    sim = Simulator(config, clock=SystemClock())
    store = await Store.connect(db_url, account="acme1")  # the daemons' account
    await store.upgrade()
    stop = asyncio.Event()
    with tempfile.TemporaryDirectory() as workdir:
        (Path(workdir) / "rules.yaml").write_text(RULES, encoding="utf-8")
        async with running(sim, port=SIM_PORT) as url:
            bench = Bench(sim, url, store, db_url, Path(workdir), args)
            feeder = asyncio.create_task(feed(sim, stop))
            try:
                print(
                    f"lease {args.lease:g} s, HTTP timeout {args.timeout:g} s, poll "
                    f"{args.poll:g} s; bound = 2 + {args.timeout:g} + 1 = {args.timeout + 3:g} s; "
                    f"grace {2 * (args.timeout + 3):g} s"
                )
                for title, phase in (
                    ("kill -9 the leader", phase_kill),
                    ("SIGSTOP the leader", phase_stop),
                    ("restart a lone leader after kill -9", phase_restart),
                ):
                    figures = await phase(bench)
                    print(f"\n{title}:")
                    for key, value in figures.items():
                        shown = f"{value:6.2f} s" if isinstance(value, float) else str(value)
                        print(f"  {key:36} {shown}")
            finally:
                stop.set()
                feeder.cancel()
                for daemon in bench.daemons:
                    if daemon.process.poll() is None:
                        daemon.process.send_signal(signal.SIGCONT)
                        daemon.process.kill()
                        daemon.process.wait()
                await store.close()
                await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
                await admin.close()
    print(f"\nrun at {SystemClock().now():%Y-%m-%d %H:%M} UTC")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lease", type=float, default=10.0, help="LIFECYCLE_LEASE_SECONDS")
    parser.add_argument("--timeout", type=float, default=2.0, help="LIFECYCLE_HTTP_TIMEOUT")
    parser.add_argument("--poll", type=float, default=1.0, help="LIFECYCLE_POLL_SECONDS")
    asyncio.run(main(parser.parse_args()))
