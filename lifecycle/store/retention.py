"""Pruning old rows.

Unresolved intents and their audit rows are never pruned: they are what keeps a step
from being sent twice."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Delete, delete, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from lifecycle.store.tables import (
    UNRESOLVED_STATES,
    audit,
    decisions,
    intents,
    notifications,
    ticks,
)


async def prune(conn: AsyncConnection, *, before: datetime) -> int:
    """Delete decisions, audit rows, closed intents and ticks older than `before`.

    Children go first so that foreign keys hold; a closed intent or a tick is deleted only
    once no remaining row refers to it. Returns the number of rows deleted.
    """
    deleted = 0
    for statement in (
        delete(decisions).where(decisions.c.at < before),
        _settled_audit(before),
        _closed_intents(before),
        _unreferenced_ticks(before),
        # Sent or given up long ago: their keys name ticks and episodes that are past.
        delete(notifications).where(
            notifications.c.created_at < before,
            or_(notifications.c.sent_at.is_not(None), notifications.c.failed_at.is_not(None)),
        ),
    ):
        deleted += (await conn.execute(statement)).rowcount
    return deleted


def _settled_audit(before: datetime) -> Delete:
    unresolved = select(intents.c.id).where(intents.c.state.in_(UNRESOLVED_STATES))
    return delete(audit).where(
        audit.c.at < before,
        or_(audit.c.intent_id.is_(None), audit.c.intent_id.not_in(unresolved)),
    )


def _closed_intents(before: datetime) -> Delete:
    return delete(intents).where(
        intents.c.state.not_in(UNRESOLVED_STATES),
        intents.c.closed_at < before,
        ~exists().where(audit.c.intent_id == intents.c.id),
    )


def _unreferenced_ticks(before: datetime) -> Delete:
    return delete(ticks).where(
        ticks.c.started_at < before,
        ~exists().where(decisions.c.tick_id == ticks.c.id),
        ~exists().where(audit.c.tick_id == ticks.c.id),
        ~exists().where(intents.c.tick_id == ticks.c.id),
    )
