"""The leader lease: among daemons sharing one database, one acts for an account at a time.

The lease is a row in the store, taken or renewed in one statement by the database's clock
and held for `ttl` past each renewal. The daemon asks `hold()` before each tick
(`cycle.TickOptions.may_act`) and `keep()` before each step (`may_go`: a renewal only when
the lease nears expiry), and every intent is written only if
the lease is held for `bound` more, in the INSERT itself (`fence`): a process that lost the
lease, however long it was frozen, writes no intent and so sends nothing.

The owner is `host:instance` (LIFECYCLE_INSTANCE), the same across restarts; the row also
records the process holding it (`Incarnation`). A restarted daemon resumes its own lease at
once when the recorded process is provably dead on this host, and refuses to act while it
is alive: two processes with one instance name never both act.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta, tzinfo
from pathlib import Path

from lifecycle.errors import StoreUnavailable
from lifecycle.instant import format_instant
from lifecycle.metrics import Metrics
from lifecycle.notice import Kind, Message, Notice, Severity
from lifecycle.settings import LEASE_HEADROOM
from lifecycle.store import LeaseFence, LeaseRow, Store

log = logging.getLogger("lifecycle.lease")

_PROC = Path("/proc")


@dataclass(frozen=True)
class Incarnation:
    """One run of the daemon, told apart from any other that ever had its pid: the pid, its
    start time (clock ticks after boot), the boot id, the pid namespace, and a random token
    for each run within one process (tests start several). Outside Linux the start, boot and
    namespace are empty, and no process is ever provably dead (the lease expires instead)."""

    pid: int
    start: str
    boot: str
    namespace: str
    run: str = field(default_factory=lambda: uuid.uuid4().hex[:8])

    @classmethod
    def current(cls, proc: Path = _PROC) -> Incarnation:
        pid = os.getpid()
        boot = _read(proc / "sys/kernel/random/boot_id")
        return cls(pid, _start_time(proc, pid), boot, _ns(proc))

    @classmethod
    def parse(cls, text: str | None) -> Incarnation | None:
        """The incarnation written by `__str__`; None for anything else (older rows)."""
        fields = dict(part.split("=", 1) for part in (text or "").split() if "=" in part)
        try:
            pid = int(fields["pid"])
            return cls(pid, fields["start"], fields["boot"], fields["ns"], fields["run"])
        except (KeyError, ValueError):
            return None

    def __str__(self) -> str:
        return (
            f"pid={self.pid} start={self.start} boot={self.boot} ns={self.namespace} run={self.run}"
        )

    def is_dead(self, here: Incarnation, proc: Path = _PROC) -> bool:
        """Provably gone, as seen from process `here`: same boot and pid namespace (so its
        pid means the same process here), and that pid is absent or started at another time.
        Anything not provable (another host or container, no /proc) is False."""
        if not (here.boot and here.namespace and self.start):
            return False
        if (self.boot, self.namespace) != (here.boot, here.namespace):
            return False
        return _start_time(proc, self.pid) != self.start


def lease_name(account_sid: str) -> str:
    """The name of the lease on acting for one Exotel account (`lifecycle status` reads it)."""
    return f"tick:{account_sid}"


def owner_id(instance: str) -> str:
    """Who holds the lease, as an operator reads it: stable across restarts of one instance."""
    return f"{socket.gethostname()}:{instance}"


@dataclass
class Lease:
    """One process's claim on one lease name."""

    store: Store
    name: str
    owner: str
    ttl: timedelta
    bound: timedelta  # the longest a request may live after its intent's check
    metrics: Metrics
    zone: tzinfo  # for the times in log lines: the rules' zone
    incarnation: Incarnation = field(default_factory=Incarnation.current)
    last: LeaseRow | None = None  # the lease as last read, for saying who holds it
    # When daemons share the accounts and another one owns this account: which (for
    # readiness: this process does not even ask for the lease).
    elsewhere: str | None = None
    _leading: bool | None = None  # None until the first hold(): log changes only
    # Told of a lease lost to another owner, or taken over from one (the notifier).
    on_notice: Callable[[Message], None] | None = None
    # When the lease, as last taken, expires on the monotonic clock (measured from before
    # the statement that took it, so never later than the database's expiry).
    _held_until: float = 0.0

    @classmethod
    def for_account(
        cls,
        account_sid: str,
        *,
        store: Store,
        instance: str,
        ttl: timedelta,
        bound: timedelta,
        metrics: Metrics,
        zone: tzinfo,
    ) -> Lease:
        """The lease on acting for one Exotel account, owned by this host and instance."""
        return cls(store, lease_name(account_sid), owner_id(instance), ttl, bound, metrics, zone)

    @property
    def fence(self) -> LeaseFence:
        """What every intent's INSERT checks: this lease, ours for `bound` more."""
        return LeaseFence(self.name, self.owner, str(self.incarnation), self.bound)

    async def hold(self) -> bool:
        """Take or renew the lease now: True while this process may act, False while another
        owner leads. StoreUnavailable when the database does not answer: that is no standby,
        and the caller (the tick) reports it as such."""
        try:
            before = self.last if self._leading else await self.store.lease(self.name)
            asked = time.monotonic()
            row = await self._take()
        except StoreUnavailable:
            # No standby: the tick reports the outage (once). Whether this process leads is
            # unknown until the database answers again, and then said again.
            self._leading = None
            self.metrics.leader.set(0)
            raise
        self.last = row
        held = row.held_by(self.owner, str(self.incarnation))
        self._held_until = asked + (row.expires_at - row.db_now).total_seconds() if held else 0.0
        if held and not self._leading:
            self._say_leading(before)
        elif not held and self._leading is not False:
            log.warning("standing by: %s", self.describe(row))
            if self._leading:  # was leading until now: lost it (not a standby's first look)
                self._tell(Kind.LEASE_LOST, f"lost the lease: {self.describe(row)}", row)
        self._set(held)
        return held

    async def keep(self) -> bool:
        """`hold()` when the lease is within `renew_margin` of its expiry (or not held),
        and True without a statement before: what is asked before each step. Every
        intent's INSERT checks the lease itself (the fence), so a lease lost meanwhile
        still sends nothing; this only keeps a long tick's lease renewed in time."""
        if self._leading and self._held_until - time.monotonic() > self.renew_margin:
            return True
        return await self.hold()

    @property
    def renew_margin(self) -> float:
        """Seconds: renewed when less is left. Past the bound and headroom that each fenced
        INSERT needs, halfway through what the lease has beyond them."""
        needed = self.bound + LEASE_HEADROOM
        return (needed + max(self.ttl - needed, timedelta(0)) / 2).total_seconds()

    @property
    def leading(self) -> bool:
        """Whether this process held the lease at its last `hold()`."""
        return bool(self._leading)

    def leader(self) -> str | None:
        """Who holds the lease and until when, as it last answered, when it is not this
        process: for readiness. None while this process leads or before any answer."""
        if self.elsewhere is not None:
            return f"daemon {self.elsewhere} serves this account (shared by rendezvous)"
        if self.last is None or self._leading is not False:
            return None
        return self.describe(self.last)

    async def _take(self) -> LeaseRow:
        mine = str(self.incarnation)
        row = await self.store.acquire_lease(
            name=self.name, owner=self.owner, incarnation=mine, ttl=self.ttl
        )
        if row.owner != self.owner or row.incarnation == mine or row.expires_at <= row.db_now:
            return row
        # Our owner id, another process: a restart of this instance, or a second copy.
        twin = Incarnation.parse(row.incarnation)
        if twin is None or not twin.is_dead(self.incarnation):
            return row
        return await self.store.acquire_lease(
            name=self.name,
            owner=self.owner,
            incarnation=mine,
            ttl=self.ttl,
            replacing=row.incarnation,
        )

    def describe(self, row: LeaseRow) -> str:
        """Who holds the lease and until when, by the database's clock, for logs and CLI."""
        until = format_instant(row.expires_at, self.zone)
        if row.owner != self.owner:
            return f"{row.owner} holds lease {self.name} until {until}"
        twin = Incarnation.parse(row.incarnation)
        here = self.incarnation
        if (
            twin is not None
            and here.boot
            and (twin.boot, twin.namespace) == (here.boot, here.namespace)
        ):
            return (
                f"another process with instance {self.owner} is running as pid {twin.pid} and "
                f"holds lease {self.name} until {until}"
            )
        # Another boot, another container (pid namespace), or no /proc: nothing is provable.
        return (
            f"an earlier process of instance {self.owner}, which cannot be seen from here "
            f"(another boot or container), holds lease {self.name} until {until}; "
            "it is waited out"
        )

    def _say_leading(self, before: LeaseRow | None) -> None:
        mine = str(self.incarnation)
        if before is None or (before.owner, before.incarnation) == (self.owner, mine):
            log.info("took the lease %s (until %s)", self.name, self._until())
        elif before.owner == self.owner:
            old = Incarnation.parse(before.incarnation)
            log.warning(
                "resumed the lease %s of instance %s at once: its last process (pid %s) is gone",
                self.name,
                self.owner,
                old.pid if old else "?",
            )
        else:
            expired = format_instant(before.expires_at, self.zone)
            log.warning(
                "took over the lease %s from %s (expired at %s)", self.name, before.owner, expired
            )
            text = f"took over the lease {self.name} from {before.owner} (expired at {expired})"
            self._tell(Kind.LEASE_TAKEN_OVER, text, before)

    def _tell(self, kind: Kind, text: str, row: LeaseRow) -> None:
        """Keyed by who held the lease until when: one message per change, ever."""
        if self.on_notice is None:
            return
        notice = Notice(kind, Severity.WARNING, row.db_now.astimezone(self.zone), text)
        key = f"{kind.value}:{self.name}:{row.owner}:{row.expires_at.isoformat()}"
        self.on_notice(Message(key, text, (notice,)))

    def _until(self) -> str:
        return format_instant(self.last.expires_at, self.zone) if self.last else "?"

    def _set(self, held: bool) -> None:
        self._leading = held
        self.metrics.leader.set(1 if held else 0)

    async def release(self) -> None:
        """Give the lease up on the way out, so a standby takes over without waiting."""
        try:
            await self.store.release_lease(
                name=self.name, owner=self.owner, incarnation=str(self.incarnation)
            )
        except StoreUnavailable as exc:
            log.warning("could not release the lease (it expires by itself): %s", exc)
        self._set(False)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="ascii").strip()
    except OSError:
        return ""


def _start_time(proc: Path, pid: int) -> str:
    """Field 22 of /proc/PID/stat, the start time; "" when there is no such process. The
    command name (field 2) may hold spaces and parentheses: count from the last ')'."""
    stat = _read(proc / str(pid) / "stat")
    fields = stat.rpartition(")")[2].split()
    return fields[19] if len(fields) > 19 else ""


def _ns(proc: Path) -> str:
    try:
        return os.readlink(proc / "self/ns/pid")
    except OSError:
        return ""
