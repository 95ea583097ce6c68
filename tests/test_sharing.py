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
    a = Share.for_lease(store, "host-a:default", ACCOUNTS, lease_ttl=ttl)
    b = Share.for_lease(store, "host-b:default", ACCOUNTS, lease_ttl=ttl)
    assert (a.beat, a.window) == (timedelta(seconds=10), timedelta(seconds=30))
    assert await a.heartbeat() and set(a.live) == {"host-a:default"}
    assert await b.heartbeat() and set(b.live) == {"host-a:default", "host-b:default"}
    assert await a.heartbeat() and a.live == b.live  # a sees b now
    assert not await a.heartbeat()  # nothing changed
    assert 100 < sum(a.owns(account) for account in ACCOUNTS) < 200  # about half
    assert all(a.owns(account) != b.owns(account) for account in ACCOUNTS)
    # b falls silent for longer than the window (by the database's clock): a drops it.
    silent = update(daemons).where(daemons.c.id == "host-b:default")
    await execute(db_url, lambda d: silent.values(seen_at=db_now(d, -timedelta(seconds=31))))
    assert await a.heartbeat() and set(a.live) == {"host-a:default"}
    assert all(a.owns(account) for account in ACCOUNTS)
    await b.heartbeat()  # back
    await a.heartbeat()
    await b.leave()  # a clean stop: gone at once
    assert await a.heartbeat() and set(a.live) == {"host-a:default"}


async def test_an_account_is_shared_only_among_the_daemons_that_serve_it(store: Store) -> None:
    """One daemon per account on one database: each keeps its own, whatever the hash says
    about the others (seen: 50 such daemons gave most accounts to daemons without them)."""
    ttl = timedelta(seconds=60)
    solos = [
        Share.for_lease(store, f"host:solo-{sid}", [sid], lease_ttl=ttl) for sid in ACCOUNTS[:20]
    ]
    for share in solos:
        await share.heartbeat()
    for share in solos:
        await share.heartbeat()
        (mine,) = share.accounts
        assert share.owns(mine) and len(share.live) == 20
        assert not any(share.owns(other) for other in ACCOUNTS[:20] if other != mine)
