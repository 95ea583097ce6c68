"""The leader lease: among daemons sharing one database, one acts for an account at a time.

The lease is a row in the store, taken or renewed in one statement and held for `ttl`
past each renewal. The daemon asks `hold()` before each tick and again before each step
(through `cycle.TickOptions.may_act`), so a tick that runs long (a rate-limited burst)
never outlives its lease; a standby takes over when the holder releases it on the way out
or, when the holder dies, once it expires.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from dataclasses import dataclass
from datetime import timedelta

from lifecycle.clock import Clock
from lifecycle.errors import StoreUnavailable
from lifecycle.metrics import Metrics
from lifecycle.store import Store

log = logging.getLogger("lifecycle.lease")


@dataclass
class Lease:
    """One process's claim on one lease name."""

    store: Store
    name: str
    owner: str
    ttl: timedelta
    clock: Clock
    metrics: Metrics

    @classmethod
    def for_account(
        cls, account_sid: str, *, store: Store, ttl: timedelta, clock: Clock, metrics: Metrics
    ) -> Lease:
        """The lease on acting for one Exotel account, owned by this process."""
        return cls(store, f"tick:{account_sid}", _owner_id(), ttl, clock, metrics)

    async def hold(self) -> bool:
        """Take or renew the lease now: True while this process may act, False while another
        owner leads. StoreUnavailable when the database does not answer: that is no standby,
        and the caller (the tick) reports it as such."""
        try:
            held = await self.store.acquire_lease(
                name=self.name, owner=self.owner, at=self.clock.now(), ttl=self.ttl
            )
        except StoreUnavailable:
            self.metrics.leader.set(0)
            raise
        self.metrics.leader.set(1 if held else 0)
        if not held:
            log.info("another lifecycle process holds the lease %s; standing by", self.name)
        return held

    async def release(self) -> None:
        """Give the lease up on the way out, so a standby takes over without waiting."""
        try:
            await self.store.release_lease(name=self.name, owner=self.owner)
        except StoreUnavailable as exc:
            log.warning("could not release the lease (it expires by itself): %s", exc)
        self.metrics.leader.set(0)


def _owner_id() -> str:
    """Who holds the lease, as an operator reads it; unique even for two runs in one process."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
