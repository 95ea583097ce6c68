"""Status history: what each campaign's status was, and since when.

A campaign gets a new `status_history` row whenever its observed status differs from its
latest row. The first time a campaign is seen, the daemon does not know when it entered
that status, and `date_updated` cannot say (it may not move when the status does,
docs/exotel-api.md): `since` is then the first sight, and the row is marked `estimated`,
meaning "already in this status when first seen", a lower bound. Rows written before
this rule carry date_updated in `since`; they are read by their `first_seen_at`.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Select, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from lifecycle.model import Campaign, Status
from lifecycle.records import StatusRow
from lifecycle.store.batch import chunked, upsert
from lifecycle.store.tables import campaigns as campaigns_table
from lifecycle.store.tables import status_history as sh


async def observe(
    conn: AsyncConnection, account: str, observed: Sequence[Campaign], *, at: datetime
) -> None:
    """Record one poll's observations: a few bulk statements whatever the campaign count."""
    latest_campaigns = list({c.id: c for c in observed}.values())  # last one wins
    if not latest_campaigns:
        return
    latest = await latest_rows(conn, account, [c.id for c in latest_campaigns])
    changed: list[dict[str, Any]] = []
    unchanged: list[int] = []
    for campaign in latest_campaigns:
        row = latest.get(campaign.id)
        if row is not None and row.status == campaign.status.value:
            unchanged.append(row.id)
        else:
            changed.append(_new_status_row(account, campaign, at=at, first_seen=row is None))
    if changed:
        await conn.execute(sh.insert(), changed)
    for row_ids in chunked(unchanged):
        await conn.execute(update(sh).where(sh.c.id.in_(row_ids)).values(last_seen_at=at))
    await _upsert_campaigns(conn, account, latest_campaigns, at=at)


async def latest_statuses(
    conn: AsyncConnection, account: str, campaign_ids: Collection[str] | None
) -> dict[str, Status]:
    rows = await latest_rows(conn, account, campaign_ids)
    return {campaign_id: Status(row.status) for campaign_id, row in rows.items()}


async def record_effect(
    conn: AsyncConnection, account: str, campaign_id: str, status: Status, *, at: datetime
) -> None:
    """A step of ours took effect at `at`: the campaign is in `status` from then on.

    Without this the next poll would date the change to its own instant, and a campaign
    that someone else changed back and forth in between would look untouched."""
    row = (await latest_rows(conn, account, [campaign_id])).get(campaign_id)
    if row is not None and row.status == status.value:
        return
    await conn.execute(sh.insert(), [_row_values(account, campaign_id, status, since=at, at=at)])


def _new_status_row(
    account: str, campaign: Campaign, *, at: datetime, first_seen: bool
) -> dict[str, Any]:
    return _row_values(account, campaign.id, campaign.status, since=at, at=at, estimated=first_seen)


def _row_values(
    account: str,
    campaign_id: str,
    status: Status,
    *,
    since: datetime,
    at: datetime,
    estimated: bool = False,
) -> dict[str, Any]:
    return {
        "account": account,
        "campaign_id": campaign_id,
        "status": status.value,
        "since": since,
        "first_seen_at": at,
        "last_seen_at": at,
        "estimated": estimated,
    }


async def _upsert_campaigns(
    conn: AsyncConnection, account: str, observed: Sequence[Campaign], *, at: datetime
) -> None:
    rows = [
        {"account": account, "id": c.id, "name": c.name, "status": c.status.value}
        | {"last_seen_at": at}
        for c in observed
    ]
    statement = upsert(
        conn, campaigns_table, key=["account", "id"], update=["name", "status", "last_seen_at"]
    )
    await conn.execute(statement, rows)


async def latest_rows(
    conn: AsyncConnection, account: str, campaign_ids: Collection[str] | None
) -> dict[str, Row[Any]]:
    """Each of the account's campaigns' newest status_history row (all when ids is None)."""
    if campaign_ids is None:
        result = await conn.execute(_latest_query(account, None))
        return {row.campaign_id: row for row in result}
    found: dict[str, Row[Any]] = {}
    for ids in chunked(campaign_ids):
        result = await conn.execute(_latest_query(account, ids))
        found.update((row.campaign_id, row) for row in result)
    return found


def _latest_query(account: str, ids: list[str] | None) -> Select[Any]:
    newest = select(func.max(sh.c.id)).where(sh.c.account == account)
    newest = newest.group_by(sh.c.campaign_id)
    if ids is not None:
        newest = newest.where(sh.c.campaign_id.in_(ids))
    columns = (
        sh.c.id,
        sh.c.campaign_id,
        sh.c.status,
        sh.c.since,
        sh.c.first_seen_at,
        sh.c.estimated,
    )
    return select(*columns).where(sh.c.id.in_(newest.scalar_subquery()))


async def status_since(
    conn: AsyncConnection, account: str, campaign_ids: Collection[str] | None
) -> tuple[dict[str, datetime], frozenset[str]]:
    """Each campaign's current status start as observed, and the campaigns whose start is
    only their first sight (already in that status then: a lower bound)."""
    rows = await latest_rows(conn, account, campaign_ids)
    since = {cid: row.first_seen_at if row.estimated else row.since for cid, row in rows.items()}
    return since, frozenset(cid for cid, row in rows.items() if row.estimated)


async def timeline(
    conn: AsyncConnection, account: str, campaign_id: str, *, limit: int
) -> list[StatusRow]:
    mine = select(sh).where(sh.c.account == account, sh.c.campaign_id == campaign_id)
    query = mine.order_by(sh.c.id.desc()).limit(limit)
    return [_status_row(row) for row in await conn.execute(query)]


def _status_row(row: Row[Any]) -> StatusRow:
    return StatusRow(
        id=row.id,
        campaign_id=row.campaign_id,
        status=Status(row.status),
        since=row.first_seen_at if row.estimated else row.since,
        first_seen_at=row.first_seen_at,
        last_seen_at=row.last_seen_at,
        estimated=bool(row.estimated),
    )
