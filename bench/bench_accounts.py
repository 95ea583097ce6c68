"""Many accounts: one daemon, three daemons sharing PostgreSQL, and one daemon per account.

    .venv/bin/python -m bench.bench_accounts [--accounts 50] [--campaigns 1000]
        [--seconds 60] [--poll 10] [--lease 15] [--only one,three,each]

Real `lifecycle run` processes on a schema of their own in the local PostgreSQL
(LIFECYCLE_TEST_POSTGRES_URL, default postgres@127.0.0.1:5432/test), against `--accounts`
simulated accounts of `--campaigns` campaigns each (mixed statuses), served by this
script from one thread. The rules never act (archive after ten years), so every tick is
the steady-state cost: list the campaigns (pages of 500), record the poll, plan.

For each layout, after the first ticks, for `--seconds`:
- ticks per account per minute (rows in `ticks`, by the database's clock);
- RSS of all daemon processes together, and per process (/proc/PID/status, at the end);
- CPU per tick: user + system CPU of the daemon processes over the window, per tick.
For three daemons also: kill -9 one, and the seconds (this script's monotonic clock) until
every account it led is led by another daemon; start it again, and the seconds until it
leads its share (the accounts rendezvous hashing gives it) again.

Nothing here is asserted: the figures belong to this machine and this run (the simulator
shares the CPU with the daemons).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import Dialect, Executable, func, select

from lifecycle.sharing import owner_of
from lifecycle.store import Store
from lifecycle.store.database import make_engine
from lifecycle.store.dbclock import db_now
from lifecycle.store.tables import leases, ticks
from tests.fixtures.db import asyncpg_dsn, postgres_url
from tests.fixtures.fleet import Accounts, served_accounts

ROOT = Path(__file__).parents[1]
RULES = """\
timezone: UTC
calendars: {}
rules:
  - name: archive-long-done
    match: {status: [completed], in_status_for: 3650d}
    action: archive
"""
HTTP_PORTS = iter(range(18600, 18700))
_TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


@dataclass
class Layout:
    name: str
    groups: list[tuple[str, list[str]]]  # (instance, accounts it is given)


def layouts(sids: list[str], only: set[str]) -> Iterator[Layout]:
    if "one" in only:
        yield Layout("one daemon", [("one", sids)])
    if "three" in only:
        yield Layout("three daemons sharing PostgreSQL", [(n, sids) for n in ("a", "b", "c")])
    if "each" in only:
        yield Layout("one daemon per account", [(f"solo-{sid}", [sid]) for sid in sids])


def accounts_file(folder: Path, name: str, accounts: Accounts, sids: list[str]) -> Path:
    lines = ["accounts:"]
    for sid in sids:
        lines += [
            f"  - sid: {sid}",
            f"    base_url: {accounts.urls[sid]}",
            f"    key: env:KEY_{sid.replace('-', '_')}",
            f"    token: env:TOKEN_{sid.replace('-', '_')}",
        ]
    path = folder / f"{name}.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def start(
    folder: Path,
    instance: str,
    accounts_path: Path,
    db: str,
    args: argparse.Namespace,
    accounts: Accounts,
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "LIFECYCLE_ACCOUNTS": str(accounts_path),
        "LIFECYCLE_RULES": str(folder / "rules.yaml"),
        "LIFECYCLE_DATABASE_URL": db,
        "LIFECYCLE_INSTANCE": instance,
        "LIFECYCLE_POLL_SECONDS": str(args.poll),
        "LIFECYCLE_LEASE_SECONDS": str(args.lease),
        "LIFECYCLE_HTTP_TIMEOUT": "5",
        "LIFECYCLE_API_RATE_PER_MINUTE": "6000",
        "LIFECYCLE_HTTP": f"127.0.0.1:{next(HTTP_PORTS)}",
        "LIFECYCLE_LOG_LEVEL": "WARNING",
    }
    for sid, sim in accounts.sims.items():
        env[f"KEY_{sid.replace('-', '_')}"] = sim.config.api_key
        env[f"TOKEN_{sid.replace('-', '_')}"] = sim.config.api_token
    log = (folder / f"{instance}.log").open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "lifecycle", "run"],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS_PER_SECOND


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@contextmanager
def schema() -> Iterator[str]:
    name = f"bench_{uuid.uuid4().hex[:12]}"
    dsn = asyncpg_dsn(postgres_url())

    async def run(statement: str) -> None:
        connection = await asyncpg.connect(dsn)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    asyncio.run(run(f'CREATE SCHEMA "{name}"'))
    url = postgres_url().update_query_dict({"schema": name}).render_as_string(False)

    async def upgrade() -> None:
        store = await Store.connect(url)
        await store.upgrade()
        await store.close()

    asyncio.run(upgrade())
    try:
        yield url
    finally:
        asyncio.run(run(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))


async def _query(url: str, build: Callable[[Dialect], Executable]) -> list[Any]:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            return list(await conn.execute(build(conn.dialect)))
    finally:
        await engine.dispose()


def tick_count(url: str) -> int:
    """Ticks finished (first sight of 1,000 campaigns makes the first ones long)."""
    finished = select(func.count()).select_from(ticks).where(ticks.c.finished_at.is_not(None))
    (row,) = asyncio.run(_query(url, lambda _: finished))
    return int(row[0])


def holders(url: str) -> dict[str, str]:
    """Account → owner of its lease, for leases not expired by the database's clock."""

    def build(dialect: Dialect) -> Executable:
        alive = leases.c.expires_at > db_now(dialect)
        return select(leases.c.name, leases.c.owner).where(alive)

    rows = asyncio.run(_query(url, build))
    return {str(r[0]).removeprefix("tick:"): str(r[1]) for r in rows}


def wait(check: Callable[[], bool], limit: float) -> float | None:
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > limit:
            return None
        time.sleep(0.1)
    return time.monotonic() - started


def measure(layout: Layout, accounts: Accounts, args: argparse.Namespace, folder: Path) -> None:
    sids = list(accounts.sims)
    with schema() as url:
        procs = {
            instance: start(
                folder,
                instance,
                accounts_file(folder, instance, accounts, given),
                url,
                args,
                accounts,
            )
            for instance, given in layout.groups
        }
        try:
            # Warm up: every account has ticked once (imports, first sight of everything).
            started = time.monotonic()
            warm = wait(lambda: tick_count(url) >= len(sids), 300)
            print(
                f"\n## {layout.name}: {len(procs)} process(es), {len(sids)} accounts × "
                f"{args.campaigns} campaigns; first tick of every account after "
                f"{time.monotonic() - started:.1f} s"
                + ("" if warm is not None else " (not all: timed out)")
            )
            before_ticks = tick_count(url)
            before_cpu = sum(cpu_seconds(p.pid) for p in procs.values())
            window_start = time.monotonic()
            time.sleep(args.seconds)
            elapsed = time.monotonic() - window_start
            done = tick_count(url) - before_ticks
            cpu = sum(cpu_seconds(p.pid) for p in procs.values()) - before_cpu
            rss = [rss_mib(p.pid) for p in procs.values()]
            per_minute = done / len(sids) / (elapsed / 60)
            print(
                f"ticks per account per minute: {per_minute:.2f} "
                f"(poll {args.poll:g} s: at most {60 / args.poll:.2f})"
            )
            print(f"RSS: {sum(rss):.0f} MiB in all, {sum(rss) / len(rss):.0f} MiB per process")
            print(
                f"CPU per tick: {1000 * cpu / max(done, 1):.1f} ms ({done} ticks, "
                f"{cpu:.1f} CPU s in {elapsed:.0f} s)"
            )
            if len(procs) == 3:
                rebalance(procs, accounts, url, args, folder, layout)
        finally:
            for proc in procs.values():
                proc.send_signal(signal.SIGTERM)
            for proc in procs.values():
                proc.wait(60)


def rebalance(
    procs: dict[str, subprocess.Popen[bytes]],
    accounts: Accounts,
    url: str,
    args: argparse.Namespace,
    folder: Path,
    layout: Layout,
) -> None:
    import socket

    host = socket.gethostname()
    held = holders(url)
    # The daemon leading the most accounts (rendezvous gives a few accounts unevenly).
    victim = max(procs, key=lambda n: sum(o == f"{host}:{n}" for o in held.values()))
    led = [sid for sid, owner in held.items() if owner == f"{host}:{victim}"]
    procs.pop(victim).send_signal(signal.SIGKILL)
    moved = wait(
        lambda: all(holders(url).get(s, f"{host}:{victim}") != f"{host}:{victim}" for s in led),
        10 * args.lease,
    )
    print(
        f"kill -9 of a daemon leading {len(led)} accounts: all led elsewhere after {moved:.1f} s"
        if moved is not None
        else "kill -9: not all taken over in time"
    )
    ids = [f"{host}:{n}" for n in ("a", "b", "c")]
    share = [sid for sid in accounts.sims if owner_of(sid, ids) == f"{host}:{victim}"]
    path = folder / f"{victim}.yaml"
    procs[victim] = start(folder, victim, path, url, args, accounts)
    joined = wait(
        lambda: all(holders(url).get(s) == f"{host}:{victim}" for s in share), 10 * args.lease
    )
    print(
        f"join: the new daemon leads its share of {len(share)} accounts after "
        f"{joined:.1f} s (from its start, imports included)"
        if joined is not None
        else "join: share not taken in time"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--accounts", type=int, default=50)
    parser.add_argument("--campaigns", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--poll", type=float, default=10)
    parser.add_argument("--lease", type=float, default=15)
    parser.add_argument("--only", default="one,three,each")
    args = parser.parse_args()
    sids = [f"acct-{n:03d}" for n in range(args.accounts)]
    print(f"# bench_accounts: {' '.join(sys.argv[1:]) or '(defaults)'}")
    with served_accounts(sids) as accounts, tempfile.TemporaryDirectory() as tmp:
        for sim in accounts.sims.values():
            accounts.call(sim.seed_campaigns, args.campaigns)
        folder = Path(tmp)
        (folder / "rules.yaml").write_text(RULES)
        for layout in layouts(sids, set(args.only.split(","))):
            measure(layout, accounts, args, folder)


if __name__ == "__main__":
    main()
