"""Notification rows: claimed before sending, then marked sent or given up.

The unique (account, channel, key) is the whole guarantee: a claim that finds its row
already there fails, whoever wrote it and whenever, so one message reaches a channel once
per account. Every function reads and writes one account's rows."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from lifecycle.records import PendingNotification
from lifecycle.store.tables import notifications, ticks


async def claim(
    conn: AsyncConnection,
    account: str,
    *,
    channel: str,
    key: str,
    severity: str,
    payload: str,
    at: datetime,
) -> int:
    """The new row's id; IntegrityError when (account, channel, key) was claimed before
    (the caller runs this alone in its transaction, which that error ends)."""
    values = {"account": account, "channel": channel, "key": key, "severity": severity,
              "payload": payload, "created_at": at, "attempts": 0}  # fmt: skip
    result = await conn.execute(notifications.insert().values(values).returning(notifications.c.id))
    return int(result.scalar_one())


async def settle(
    conn: AsyncConnection,
    account: str,
    row_id: int,
    *,
    at: datetime,
    attempts: int,
    error: str | None,
) -> None:
    """Sent (error None) or given up (the last error)."""
    done = {"sent_at": at} if error is None else {"failed_at": at}
    statement = update(notifications).where(
        notifications.c.account == account, notifications.c.id == row_id
    )
    await conn.execute(statement.values(attempts=attempts, error=error, **done))


async def pending(conn: AsyncConnection, account: str) -> list[PendingNotification]:
    """Claimed, neither sent nor given up: the process stopped while sending them."""
    query = (
        select(notifications.c.id, notifications.c.channel, notifications.c.payload)
        .where(notifications.c.account == account)
        .where(notifications.c.sent_at.is_(None), notifications.c.failed_at.is_(None))
        .order_by(notifications.c.id)
    )
    return [PendingNotification(r.id, r.channel, r.payload) for r in await conn.execute(query)]


async def failing_streak(conn: AsyncConnection, account: str) -> list[tuple[datetime, str]]:
    """(started_at, error) of the failed ticks since the last one that worked, oldest
    first; empty when the last tick worked (or none ran)."""
    worked = select(func.max(ticks.c.id)).where(
        ticks.c.account == account, ticks.c.error.is_(None), ticks.c.finished_at.is_not(None)
    )
    query = (
        select(ticks.c.started_at, ticks.c.error)
        .where(ticks.c.account == account)
        .where(ticks.c.id > func.coalesce(worked.scalar_subquery(), 0))
        .where(ticks.c.error.is_not(None))
        .order_by(ticks.c.id)
    )
    return [(row.started_at, row.error) for row in await conn.execute(query)]
