"""Operator holds and leader leases, as rows.

A hold keeps every rule off a campaign until `until`; a lease lets one actor at a time
act under its name, among daemons sharing a database."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from lifecycle.model import Hold
from lifecycle.records import LeaseRow
from lifecycle.store.batch import narrowed, upsert
from lifecycle.store.dbclock import db_now
from lifecycle.store.tables import daemons, holds, leases


async def put_hold(conn: AsyncConnection, account: str, hold: Hold) -> None:
    """Add a hold, replacing any earlier hold on the same campaign."""
    statement = upsert(
        conn, holds, key=["account", "campaign_id"], update=["until", "reason", "created_at"]
    )
    await conn.execute(
        statement,
        {
            "account": account,
            "campaign_id": hold.campaign_id,
            "until": hold.until,
            "reason": hold.reason,
            "created_at": hold.created_at,
        },
    )


async def delete_hold(
    conn: AsyncConnection, account: str, campaign_id: str, *, at: datetime
) -> bool:
    """Remove the campaign's hold; True if one was in force at `at`."""
    mine = and_(holds.c.account == account, holds.c.campaign_id == campaign_id)
    statement = delete(holds).where(mine).returning(holds.c.until)
    until = (await conn.execute(statement)).scalar_one_or_none()
    return until is not None and until > at


async def holds_in_force(
    conn: AsyncConnection,
    account: str,
    *,
    at: datetime,
    campaign_ids: Collection[str] | None = None,
) -> list[Hold]:
    """The account's holds whose `until` is after `at`, by campaign id."""
    query = select(holds).where(holds.c.account == account, holds.c.until > at)
    query = query.order_by(holds.c.campaign_id)
    query, keep = narrowed(query, holds.c.campaign_id, campaign_ids)
    return [
        Hold(campaign_id=r.campaign_id, until=r.until, reason=r.reason, created_at=r.created_at)
        for r in await conn.execute(query)
        if keep is None or r.campaign_id in keep
    ]


async def take_lease(
    conn: AsyncConnection,
    *,
    name: str,
    owner: str,
    incarnation: str,
    ttl: timedelta,
    replacing: str | None = None,
) -> LeaseRow:
    """Take or renew the lease in one statement, by the database's clock; the lease as it
    stands afterwards (ours, or the holder's that kept it).

    The conditional upsert is atomic on both databases: two owners racing for a free or
    expired lease cannot both see their row written. An unexpired lease is renewed only by
    its own owner and incarnation, or taken over from incarnation `replacing` of the same
    owner (a dead process the caller proved gone)."""
    incarnations = [incarnation] if replacing is None else [incarnation, replacing]
    ours = and_(leases.c.owner == owner, leases.c.incarnation.in_(incarnations))
    statement = upsert(
        conn,
        leases,
        key=["name"],
        update=["owner", "incarnation", "renewed_at", "expires_at"],
        where=or_(ours, leases.c.expires_at <= db_now(conn.dialect)),
    ).values(
        name=name,
        owner=owner,
        incarnation=incarnation,
        renewed_at=db_now(conn.dialect),
        expires_at=db_now(conn.dialect, ttl),
    )
    await conn.execute(statement)
    row = await read_lease(conn, name=name)
    if row is None:  # pragma: no cover - the upsert above wrote or kept a row
        raise AssertionError(f"lease {name} vanished inside its own transaction")
    return row


async def read_lease(conn: AsyncConnection, *, name: str) -> LeaseRow | None:
    """The lease row, with the database's clock read in the same statement."""
    query = select(leases, db_now(conn.dialect).label("db_now")).where(leases.c.name == name)
    row = (await conn.execute(query)).first()
    if row is None:
        return None
    return LeaseRow(
        name=row.name,
        owner=row.owner,
        incarnation=row.incarnation,
        renewed_at=row.renewed_at,
        expires_at=row.expires_at,
        db_now=row.db_now,
    )


async def drop_lease(conn: AsyncConnection, *, name: str, owner: str, incarnation: str) -> None:
    mine = and_(leases.c.owner == owner, leases.c.incarnation == incarnation)
    await conn.execute(delete(leases).where(leases.c.name == name, mine))


async def beat(
    conn: AsyncConnection, daemon_id: str, accounts: Collection[str], *, window: timedelta
) -> dict[str, frozenset[str]]:
    """Record that `daemon_id`, serving `accounts`, is alive now by the database's clock;
    the daemons seen within `window` (itself included) and the accounts each serves."""
    statement = upsert(conn, daemons, key=["id"], update=["seen_at", "accounts"]).values(
        id=daemon_id,
        started_at=db_now(conn.dialect),
        seen_at=db_now(conn.dialect),
        accounts=",".join(sorted(accounts)),
    )
    await conn.execute(statement)
    live = select(daemons.c.id, daemons.c.accounts).where(
        daemons.c.seen_at > db_now(conn.dialect, -window)
    )
    rows = await conn.execute(live)
    return {row.id: frozenset(filter(None, row.accounts.split(","))) for row in rows}


async def leave(conn: AsyncConnection, daemon_id: str) -> None:
    await conn.execute(delete(daemons).where(daemons.c.id == daemon_id))
