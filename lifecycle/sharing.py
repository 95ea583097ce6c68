"""Sharing the accounts between daemons on one database, by rendezvous hashing.

Every daemon beats (`Store.heartbeat`) every `Share.beat` seconds, by the database's clock;
the daemons seen within `Share.window` are alive. Account A belongs to the live daemon d,
among those whose accounts file lists A, with the highest sha256(d, A) (`owner_of`):
every daemon computes the same answer from the same rows, nobody negotiates, and a daemon
joining or leaving moves only its own share, about A/D of the accounts. (A daemon that
does not serve an account is never given it: accounts files may differ while a change
rolls out, or on purpose.)

Ownership only says which leases a daemon *tries* to take. The lease is still the one
right to act, checked in every intent's INSERT: a daemon that sees an account move away
releases its lease after the step in flight (`may_act` says no before the next step), and
the new owner takes it once it is released or has expired. So there is never a second
actor, even while two daemons' views of who is alive disagree.

The daemon id is `host:LIFECYCLE_INSTANCE` (`lease.owner_id`): stable across restarts, so a
restarted daemon gets the same share back.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from lifecycle.errors import StoreUnavailable
from lifecycle.store import Store

log = logging.getLogger("lifecycle.sharing")


def owner_of(account: str, daemons: Sequence[str]) -> str:
    """The daemon that serves `account` among `daemons` (not empty): the highest
    sha256(daemon, account). Purely computational."""
    return max(daemons, key=lambda daemon: _weight(daemon, account))


def _weight(daemon: str, account: str) -> bytes:
    return hashlib.sha256(f"{daemon}\0{account}".encode()).digest()


@dataclass
class Share:
    """This daemon's view of the daemons alive, as its last heartbeat answered."""

    store: Store
    me: str
    accounts: frozenset[str]  # what this daemon serves
    beat: timedelta  # how often this daemon says it is alive
    window: timedelta  # a daemon not heard of for this long is taken for dead
    live: dict[str, frozenset[str]] = field(default_factory=dict)  # daemon → its accounts

    @classmethod
    def for_lease(
        cls, store: Store, me: str, accounts: Iterable[str], *, lease_ttl: timedelta
    ) -> Share:
        """Beats 6 times per lease TTL (at least once a second) and a window of half the TTL:
        a dead daemon is known dead well before its leases expire, so its accounts are
        taken as soon as they do, and a live one misses 2 beats before it is doubted."""
        beat = max(lease_ttl / 6, timedelta(seconds=1))
        return cls(store, me, frozenset(accounts), beat, max(lease_ttl / 2, 3 * beat))

    def owns(self, account: str) -> bool:
        return self.owner(account) == self.me

    def owner(self, account: str) -> str:
        """The live daemon serving `account` that it belongs to (this one, before any
        heartbeat has answered)."""
        serving = [d for d, served in self.live.items() if account in served]
        return owner_of(account, serving or [self.me])

    async def heartbeat(self) -> bool:
        """Say this daemon is alive and read who else is; True when that changed. While the
        database does not answer, the last view stands (and no lease can be taken)."""
        try:
            live = await self.store.heartbeat(self.me, self.accounts, window=self.window)
        except StoreUnavailable as exc:
            log.warning("heartbeat failed (keeping the last view of the daemons): %s", exc)
            return False
        live[self.me] = self.accounts  # our own beat is always live, whatever the clocks say
        changed = live != self.live
        if changed:
            log.info("daemons alive: %s", ", ".join(sorted(live)))
        self.live = live
        return changed

    async def leave(self) -> None:
        """Forget this daemon on the way out: the others take its accounts at once (its
        leases are released too) rather than after the window."""
        try:
            await self.store.leave(self.me)
        except StoreUnavailable as exc:
            log.warning("could not leave the daemons table (the row ages out): %s", exc)
