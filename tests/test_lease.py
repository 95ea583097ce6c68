"""The leader lease: one holder per name, renewed by asking again, released on the way out."""

from __future__ import annotations

from datetime import datetime, timedelta

from lifecycle.clock import FixedClock
from lifecycle.lease import Lease
from lifecycle.metrics import Metrics
from lifecycle.store import Store

TTL = timedelta(minutes=3)


def leader(metrics: Metrics) -> int:
    """lifecycle_leader as /metrics shows it."""
    for line in metrics.exposition().decode().splitlines():
        if line.startswith("lifecycle_leader "):
            return int(float(line.split()[1]))
    raise AssertionError("no lifecycle_leader")


async def test_one_holder_until_released_or_expired(store: Store, now: datetime) -> None:
    clock = FixedClock(now)
    a = Lease.for_account("acme1", store=store, ttl=TTL, clock=clock, metrics=Metrics())
    b = Lease.for_account("acme1", store=store, ttl=TTL, clock=clock, metrics=Metrics())
    other = Lease.for_account("acme2", store=store, ttl=TTL, clock=clock, metrics=Metrics())
    assert a.owner != b.owner and a.name == "tick:acme1"

    assert await a.hold() and leader(a.metrics) == 1
    assert not await b.hold() and leader(b.metrics) == 0  # standby
    assert await other.hold()  # another account: another lease
    clock.advance(TTL - timedelta(seconds=1))
    assert await a.hold()  # renewed: good for another TTL from here
    clock.advance(TTL - timedelta(seconds=1))
    assert not await b.hold()

    await a.release()
    assert leader(a.metrics) == 0
    assert await b.hold()  # no wait for the expiry


async def test_a_holder_that_stops_renewing_loses_it_at_expiry(store: Store, now: datetime) -> None:
    clock = FixedClock(now)
    a = Lease.for_account("acme1", store=store, ttl=TTL, clock=clock, metrics=Metrics())
    b = Lease.for_account("acme1", store=store, ttl=TTL, clock=clock, metrics=Metrics())
    assert await a.hold()
    clock.advance(TTL)
    assert await b.hold()
    assert not await a.hold()
    await a.release()  # not its lease any more: no effect on b's
    assert not await a.hold()
