"""Three daemons share 12 accounts on one PostgreSQL, through kill -9s and restarts.

Real processes (`python -m lifecycle run`) against 12 simulated accounts; every account
always has work (a new running campaign every 2 s, paused by the rules). What must hold,
read from the simulators and the audit trail afterwards (`tests/fixtures/fleet.py`):
no duplicate or illegal PUT, no open intent at the end, every campaign paused; each
account led by one daemon whenever a step was sent (consecutive intents by different
owners are a send bound apart, or the first was closed before the second); and every
account acted on after each kill within the lease TTL plus one poll and the start-up of
a tick (a generous slack for a loaded machine: the point is "taken over", not how fast).
`bench/bench_accounts.py` times the same take-over (and a join) at 50 accounts.
"""

from __future__ import annotations

import os
import random
import time
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import asyncpg
import pytest

from lifecycle.settings import BOUND_SLACK, SEND_WINDOW
from lifecycle.store import Store
from tests.fixtures.db import asyncpg_dsn, postgres_url, require_postgres
from tests.fixtures.fleet import Fleet, inspect, served_accounts, wait_for

ACCOUNTS = [f"acct-{n:02d}" for n in range(12)]


@pytest.fixture
async def postgres() -> AsyncIterator[str]:
    require_postgres()
    schema = f"test_{uuid.uuid4().hex[:16]}"
    connection = await asyncpg.connect(asyncpg_dsn(postgres_url()))
    try:
        await connection.execute(f'CREATE SCHEMA "{schema}"')
        url = postgres_url().update_query_dict({"schema": schema})
        rendered = url.render_as_string(hide_password=False)
        store = await Store.connect(rendered)
        await store.upgrade()
        await store.close()
        yield rendered
    finally:
        await connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await connection.close()


def run_for(fleet: Fleet, seconds: float) -> None:
    """Add work to every account every 2 s for `seconds` (real time: real processes)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        fleet.add_campaigns()
        time.sleep(2)


def short_schedule(fleet: Fleet) -> None:
    """In `make test`: a kill, a rejoin, another kill (about 45 s)."""
    run_for(fleet, 8)
    fleet.kill("a")  # its 4-ish accounts wait for their leases to expire
    run_for(fleet, 14)
    fleet.start("a")  # joins again: gets its share back from b and c
    run_for(fleet, 8)
    fleet.kill("b")
    run_for(fleet, 14)


def long_schedule(fleet: Fleet, minutes: float, seed: int) -> None:
    """`make soak-fleet` (FLEET_MINUTES): for `minutes`, every 15-40 s one daemon is killed
    (kill -9) or, if one is down, started again; never fewer than one running."""
    chaos = random.Random(seed)
    end = time.monotonic() + minutes * 60
    while time.monotonic() < end:
        run_for(fleet, chaos.uniform(15, 40))
        down = sorted({"a", "b", "c"} - set(fleet.procs))
        if down and (len(down) == 2 or chaos.random() < 0.6):
            fleet.start(chaos.choice(down))
        else:
            fleet.kill(chaos.choice(sorted(fleet.procs)))
    for name in sorted({"a", "b", "c"} - set(fleet.procs)):
        fleet.start(name)  # all back for the end, so every account is served
    run_for(fleet, 10)


def test_three_daemons_share_twelve_accounts_through_kills_and_restarts(
    postgres: str, tmp_path: Path
) -> None:
    minutes = float(os.environ.get("FLEET_MINUTES") or 0)
    with served_accounts(ACCOUNTS) as accounts:
        fleet = Fleet(accounts, tmp_path, postgres)
        try:
            for name in ("a", "b", "c"):
                fleet.start(name)
            if minutes:
                long_schedule(fleet, minutes, int(os.environ.get("FLEET_SEED") or 1))
            else:
                short_schedule(fleet)
            assert wait_for(fleet.paused_all, fleet.lease_seconds + 10)
        finally:
            codes = fleet.stop_all()
        assert set(codes.values()) == {0}
        if minutes:
            print(f"\nfleet: {len(fleet.kills)} kills over {minutes:g} minutes; logs in {tmp_path}")
        bound = SEND_WINDOW + timedelta(seconds=fleet.http_timeout) + BOUND_SLACK
        acted_within = timedelta(seconds=fleet.lease_seconds + fleet.poll_seconds + 5)
        found = inspect(fleet, bound=bound, acted_within=acted_within)
    logs = {p.name: p.read_text() for p in tmp_path.glob("*.log")}
    if minutes:
        print(f"fleet: {found}")
    assert found.clean, (found, {name: text[-3000:] for name, text in logs.items()})
    assert found.puts >= len(ACCOUNTS) * 10
    assert set(found.owners) == {f"{host}:{name}" for host in _host() for name in "abc"}
    assert not any("Traceback" in text for text in logs.values())


def _host() -> list[str]:
    import socket

    return [socket.gethostname()]
