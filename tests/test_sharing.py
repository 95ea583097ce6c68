"""Rendezvous hashing over the live daemons, and the heartbeats that say who is alive."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from sqlalchemy import update

from lifecycle.sharing import Share, owner_of
from lifecycle.store import Store
from lifecycle.store.dbclock import db_now
from lifecycle.store.tables import daemons
from tests.fixtures.db import execute

ACCOUNTS = [f"acct-{n:03d}" for n in range(300)]
THREE = ["host-a:default", "host-b:default", "host-c:default"]


def test_every_daemon_computes_the_same_owner_whatever_the_order_of_the_list() -> None:
    for account in ACCOUNTS[:20]:
        assert owner_of(account, THREE) == owner_of(account, list(reversed(THREE)))
        assert owner_of(account, ["only"]) == "only"


def test_accounts_are_spread_about_evenly() -> None:
    counts = Counter(owner_of(account, THREE) for account in ACCOUNTS)
    assert set(counts) == set(THREE)
    assert all(80 <= n <= 120 for n in counts.values()), counts  # 100 each, give or take


def test_a_joining_daemon_takes_only_its_share_and_a_leaving_one_gives_only_its_own() -> None:
    before = {account: owner_of(account, THREE) for account in ACCOUNTS}
    joined = {account: owner_of(account, [*THREE, "host-d:default"]) for account in ACCOUNTS}
    moved = {account for account in ACCOUNTS if before[account] != joined[account]}
    assert moved and all(joined[account] == "host-d:default" for account in moved)
    assert 50 <= len(moved) <= 100  # about a quarter
    left = {account: owner_of(account, THREE[1:]) for account in ACCOUNTS}
    assert {a for a in ACCOUNTS if left[a] != before[a]} == {
        a for a in ACCOUNTS if before[a] == "host-a:default"
    }


async def test_heartbeats_say_who_is_alive_by_the_databases_clock(
    store: Store, db_url: str
) -> None:
    ttl = timedelta(seconds=60)
    a = Share.for_lease(store, "host-a:default", lease_ttl=ttl)
    b = Share.for_lease(store, "host-b:default", lease_ttl=ttl)
    assert (a.beat, a.window) == (timedelta(seconds=10), timedelta(seconds=30))
    assert await a.heartbeat() and a.live == ("host-a:default",)
    assert await b.heartbeat() and b.live == ("host-a:default", "host-b:default")
    assert await a.heartbeat() and a.live == b.live  # a sees b now
    assert not await a.heartbeat()  # nothing changed
    # b falls silent for longer than the window (by the database's clock): a drops it.
    silent = update(daemons).where(daemons.c.id == "host-b:default")
    await execute(db_url, lambda d: silent.values(seen_at=db_now(d, -timedelta(seconds=31))))
    assert await a.heartbeat() and a.live == ("host-a:default",)
    assert all(a.owns(account) for account in ACCOUNTS[:10])
    await b.heartbeat()  # back
    await a.heartbeat()
    await b.leave()  # a clean stop: gone at once
    assert await a.heartbeat() and a.live == ("host-a:default",)
