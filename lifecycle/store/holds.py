"""Operator holds and leader leases, as rows.

A hold keeps every rule off a campaign until `until`; a lease lets one actor at a time
act under its name, among daemons sharing a database."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from lifecycle.model import Hold
from lifecycle.store.batch import chunked, upsert
from lifecycle.store.tables import holds, leases


async def put_hold(conn: AsyncConnection, hold: Hold) -> None:
    """Add a hold, replacing any earlier hold on the same campaign."""
    statement = upsert(conn, holds, key=["campaign_id"], update=["until", "reason", "created_at"])
    await conn.execute(
        statement,
        {
            "campaign_id": hold.campaign_id,
            "until": hold.until,
            "reason": hold.reason,
            "created_at": hold.created_at,
        },
    )


async def delete_hold(conn: AsyncConnection, campaign_id: str, *, at: datetime) -> bool:
    """Remove the campaign's hold; True if one was in force at `at`."""
    statement = delete(holds).where(holds.c.campaign_id == campaign_id).returning(holds.c.until)
    until = (await conn.execute(statement)).scalar_one_or_none()
    return until is not None and until > at


async def holds_in_force(
    conn: AsyncConnection, *, at: datetime, campaign_ids: Collection[str] | None = None
) -> list[Hold]:
    """Holds whose `until` is after `at`, by campaign id."""
    query = select(holds).where(holds.c.until > at).order_by(holds.c.campaign_id)
    if campaign_ids is None:
        rows = list(await conn.execute(query))
    else:
        rows = []
        for ids in chunked(campaign_ids):
            rows.extend(await conn.execute(query.where(holds.c.campaign_id.in_(ids))))
    return [
        Hold(campaign_id=r.campaign_id, until=r.until, reason=r.reason, created_at=r.created_at)
        for r in rows
    ]


async def take_lease(
    conn: AsyncConnection, *, name: str, owner: str, at: datetime, ttl: timedelta
) -> bool:
    """Take or renew the lease in one statement; False if another owner holds it unexpired.

    The conditional upsert is atomic on both databases: two owners racing for a free or
    expired lease cannot both see their row written.
    """
    statement = upsert(
        conn,
        leases,
        key=["name"],
        update=["owner", "renewed_at", "expires_at"],
        where=or_(leases.c.owner == owner, leases.c.expires_at <= at),
    ).returning(leases.c.owner)
    values = {"name": name, "owner": owner, "renewed_at": at, "expires_at": at + ttl}
    winner = (await conn.execute(statement, values)).scalar_one_or_none()
    return bool(winner == owner)


async def drop_lease(conn: AsyncConnection, *, name: str, owner: str) -> None:
    await conn.execute(delete(leases).where(leases.c.name == name, leases.c.owner == owner))
