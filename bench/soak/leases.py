"""Who held the leader lease at the instant a step was sent, read from PostgreSQL itself.

The proxy calls `LeaseProbe.sight` when a PUT arrives, before forwarding it: the row of
`leases` and the database's `clock_timestamp()` are read in one statement, so "unexpired"
is judged by the database's clock, the one the daemons' lease statements share.

Owner ids are matched to daemons by `Roster`: today an owner is `host:pid:uuid`, after
issue 8's fix `host:instance`; an owner belongs to a daemon when one of its `:`-separated
fields is one of that daemon's pids (every process it has been) or its instance name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import asyncpg


@dataclass(frozen=True)
class LeaseSight:
    """The lease row as the database saw it at `db_now` (owner None: no row)."""

    owner: str | None
    expires_at: datetime | None
    db_now: datetime

    def is_held_by(self, names: frozenset[str]) -> bool:
        """True when an owner matching `names` holds it unexpired at `db_now`."""
        if self.owner is None or self.expires_at is None or self.expires_at <= self.db_now:
            return False
        return not names.isdisjoint(self.owner.split(":"))


@dataclass
class Roster:
    """Each daemon's names as an owner id may carry them: its instance name and pids."""

    names: dict[str, set[str]] = field(default_factory=dict)

    def add(self, daemon: str, name: str) -> None:
        self.names.setdefault(daemon, {daemon}).add(name)

    def of(self, daemon: str) -> frozenset[str]:
        return frozenset(self.names.get(daemon, {daemon}))

    def owner_to_daemon(self, owner: str | None) -> str | None:
        if owner is None:
            return None
        fields = set(owner.split(":"))
        found = [d for d, names in self.names.items() if not fields.isdisjoint(names)]
        return found[0] if len(found) == 1 else None


class LeaseProbe:
    """Reads one lease row per call, on a small pool of its own."""

    def __init__(self, pool: asyncpg.Pool, *, schema: str, lease_name: str) -> None:
        self._pool = pool
        self._query = (
            f'SELECT owner, expires_at, clock_timestamp() AS db_now FROM "{schema}".leases '
            "WHERE name = $1"
        )
        self._fallback = "SELECT clock_timestamp() AS db_now"
        self._lease_name = lease_name

    async def sight(self) -> LeaseSight | None:
        """The lease now; None when the database could not be read (counted apart)."""
        try:
            async with self._pool.acquire() as conn:
                row = await conn.fetchrow(self._query, self._lease_name)
                if row is None:
                    row = await conn.fetchrow(self._fallback)
                    return LeaseSight(None, None, row["db_now"])
        except (OSError, asyncpg.PostgresError):
            return None
        return LeaseSight(row["owner"], row["expires_at"], row["db_now"])
