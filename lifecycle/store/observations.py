"""Status history: what each campaign's status was, and since when.

A campaign gets a new `status_history` row whenever its observed status differs from its
latest row. The first time a campaign is seen, the daemon does not know when it entered
that status, and `date_updated` cannot say (it may not move when the status does,
docs/exotel-api.md): `since` is then the first sight, and the row is marked `estimated`,
meaning "already in this status when first seen", a lower bound. Rows written before
this rule carry date_updated in `since`; they are read by their `first_seen_at`.

A poll writes only what changed: new status rows, and campaigns rows whose name or status
moved. When a campaign was last seen is not rewritten on every poll: `polls.listed_at`
says when the account's list was last read, and a newest row with no `last_seen_at` of
its own was seen then (revision 0005). A row gets its own time when it stops being seen:
its campaign leaves that status, or is missing from a list.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Row,
    and_,
    bindparam,
    case,
    exists,
    func,
    literal,
    select,
    type_coerce,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from lifecycle.model import Campaign, Status
from lifecycle.records import StatusRow
from lifecycle.store.batch import narrowed, upsert
from lifecycle.store.tables import campaigns as campaigns_table
from lifecycle.store.tables import polls
from lifecycle.store.tables import status_history as sh
from lifecycle.store.types import UtcDateTime


@dataclass(frozen=True, slots=True)
class Latest:
    """A campaign's newest status row, with its campaigns-table name and status: what a
    poll compares with, and the history reads (one per campaign, so kept lean)."""

    id: int
    status: str
    start: datetime  # when it entered this status, as far as the daemon knows
    following: bool  # no last-seen time of its own: seen at every list since (the module)
    estimated: bool
    name: str | None  # the campaigns table's (None: no row there)
    listed_status: str | None


# What a row pinned with no list read before it compares its first sight with.
_LONG_AGO = datetime(1970, 1, 1, tzinfo=UTC)


async def observe(
    conn: AsyncConnection,
    account: str,
    observed: Sequence[Campaign],
    *,
    at: datetime,
    listing: bool = True,
) -> dict[str, Latest]:
    """Record a poll (`listing`: the account's list was read; else a few campaigns re-read
    one by one) and return each campaign's newest status row as it now stands: every one
    of the account's after a listing, the observed ones otherwise.

    One read, then only writes for what changed: an unchanged fleet costs no row."""
    seen = {c.id: c for c in observed}  # last one wins
    if not seen:  # an empty answer is no news: it makes no campaign missing
        return {}
    latest = await latest_rows(conn, account, None if listing else seen)
    listed_at = await _listed_at(conn, account)
    change = _Change(account, at)
    for campaign in seen.values():
        change.see(campaign, latest.get(campaign.id), listing=listing, listed_at=listed_at)
    if listing:
        for campaign_id, row in latest.items():
            if campaign_id not in seen and row.following:  # missing from the list
                change.pin(row, listed_at)
    await change.write(conn)
    if listing:
        statement = upsert(conn, polls, key=["account"], update=["listed_at"])
        await conn.execute(statement, {"account": account, "listed_at": at})
    return latest | change.latest


class _Change:
    """What one poll writes, gathered before any statement goes out."""

    def __init__(self, account: str, at: datetime) -> None:
        self.account, self.at = account, at
        self.new_rows: list[dict[str, Any]] = []
        # Rows given a last-seen time of their own: `seen`, or their first sight if later
        # (a step of ours wrote the row after the list).
        self.seen_at: list[dict[str, Any]] = []
        self.following: list[int] = []  # rows back in the list: follow it again
        self.campaigns: list[dict[str, Any]] = []
        self.latest: dict[str, Latest] = {}

    def see(
        self, campaign: Campaign, row: Latest | None, *, listing: bool, listed_at: datetime | None
    ) -> None:
        status = campaign.status.value
        if row is None or row.status != status:
            if row is not None and row.following:
                self.pin(row, listed_at)
            first = row is None
            self.new_rows.append(_row_values(self.account, campaign.id, campaign.status,
                                             at=self.at, estimated=first))  # fmt: skip
            self.latest[campaign.id] = Latest(
                0, status, self.at, True, first, campaign.name, status
            )
        elif not listing:  # re-read on its own: seen now, and not at a list
            self.seen_at.append({"row_id": row.id, "seen": self.at})
        elif not row.following:
            self.following.append(row.id)
        if row is None or (row.name, row.listed_status) != (campaign.name, status):
            self.campaigns.append(
                {"account": self.account, "id": campaign.id, "name": campaign.name,
                 "status": status, "last_seen_at": self.at}
            )  # fmt: skip
            if campaign.id not in self.latest and row is not None:
                self.latest[campaign.id] = replace(row, name=campaign.name, listed_status=status)

    def pin(self, row: Latest, listed_at: datetime | None) -> None:
        """The row stops being seen: it was last seen at the last list (or when written)."""
        self.seen_at.append({"row_id": row.id, "seen": listed_at or _LONG_AGO})

    async def write(self, conn: AsyncConnection) -> None:
        if self.seen_at:
            await conn.execute(_SEEN_AT, self.seen_at)
        if self.following:
            ids = self.following
            await conn.execute(update(sh).where(sh.c.id.in_(ids)).values(last_seen_at=None))
        if self.new_rows:
            await conn.execute(sh.insert(), self.new_rows)
        if self.campaigns:
            changed = upsert(conn, campaigns_table, key=["account", "id"],
                               update=["name", "status", "last_seen_at"])  # fmt: skip
            await conn.execute(changed, self.campaigns)


def _seen_at() -> Any:
    seen = bindparam("seen", type_=sh.c.first_seen_at.type)
    later = case((sh.c.first_seen_at > seen, sh.c.first_seen_at), else_=seen)
    return update(sh).where(sh.c.id == bindparam("row_id")).values(last_seen_at=later)


_SEEN_AT = _seen_at()


async def _listed_at(conn: AsyncConnection, account: str) -> datetime | None:
    query = select(polls.c.listed_at).where(polls.c.account == account)
    listed: datetime | None = (await conn.execute(query)).scalar_one_or_none()
    return listed


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
    that someone else changed back and forth in between would look untouched. Two
    statements and no read: the previous row stops being seen (at the last list), and the
    new one is written unless the newest row already says `status`."""
    values: dict[str, Any] = {"effect_account": account, "effect_campaign": campaign_id}
    values |= {"effect_status": status.value, "effect_at": at}
    await conn.execute(_PIN, values)
    await conn.execute(_EFFECT, values)


def _effect_statements() -> tuple[Any, Any]:
    """record_effect's two statements, built once."""
    account = bindparam("effect_account", type_=sh.c.account.type)
    campaign_id = bindparam("effect_campaign", type_=sh.c.campaign_id.type)
    status = bindparam("effect_status", type_=sh.c.status.type)
    at = bindparam("effect_at", type_=sh.c.since.type)
    mine = and_(sh.c.account == account, sh.c.campaign_id == campaign_id)
    listed = select(polls.c.listed_at).where(polls.c.account == account).scalar_subquery()
    seen = case(
        (and_(listed.is_not(None), listed > sh.c.first_seen_at), listed),
        else_=sh.c.first_seen_at,
    )
    pin = update(sh).where(mine, sh.c.last_seen_at.is_(None), sh.c.status != status)
    newest = select(func.max(sh.c.id)).where(mine).scalar_subquery()
    already = exists().where(sh.c.id == newest, sh.c.status == status)
    columns = {
        "account": account,
        "campaign_id": campaign_id,
        "status": status,
        "since": at,
        "first_seen_at": at,
        "estimated": literal(False, sh.c.estimated.type),
    }
    source = select(*(value.label(name) for name, value in columns.items())).where(~already)
    return pin.values(last_seen_at=seen), sh.insert().from_select(list(columns), source)


_PIN, _EFFECT = _effect_statements()


def _row_values(
    account: str, campaign_id: str, status: Status, *, at: datetime, estimated: bool = False
) -> dict[str, Any]:
    return {
        "account": account,
        "campaign_id": campaign_id,
        "status": status.value,
        "since": at,
        "first_seen_at": at,
        "last_seen_at": None,
        "estimated": estimated,
    }


async def latest_rows(
    conn: AsyncConnection, account: str, campaign_ids: Collection[str] | None
) -> dict[str, Latest]:
    """Each of the account's campaigns' newest status_history row (all when ids is None),
    in one statement whatever the number of ids."""
    newest = select(func.max(sh.c.id)).where(sh.c.account == account)
    newest, keep = narrowed(newest.group_by(sh.c.campaign_id), sh.c.campaign_id, campaign_ids)
    c = campaigns_table.c
    joined = sh.outerjoin(
        campaigns_table, and_(c.account == sh.c.account, c.id == sh.c.campaign_id)
    )
    # One instant per row, not three: each costs a conversion, and there may be 100,000.
    start = type_coerce(case((sh.c.estimated, sh.c.first_seen_at), else_=sh.c.since), UtcDateTime)
    query = select(
        sh.c.campaign_id, sh.c.id, sh.c.status, start, sh.c.last_seen_at.is_(None),
        sh.c.estimated, c.name, c.status,
    ).select_from(joined).where(sh.c.id.in_(newest.scalar_subquery()))  # fmt: skip
    rows = (await conn.execute(query)).all()
    return {
        campaign_id: Latest(row_id, status, began, bool(following), bool(estimated), name, listed)
        for campaign_id, row_id, status, began, following, estimated, name, listed in rows
        if keep is None or campaign_id in keep
    }


def status_since(
    latest: dict[str, Latest], campaign_ids: Collection[str] | None
) -> tuple[dict[str, datetime], frozenset[str]]:
    """Each campaign's current status start as observed, and the campaigns whose start is
    only their first sight (already in that status then: a lower bound)."""
    ids = latest.keys() if campaign_ids is None else [i for i in campaign_ids if i in latest]
    since = {cid: latest[cid].start for cid in ids}
    return since, frozenset(cid for cid in ids if latest[cid].estimated)


async def timeline(
    conn: AsyncConnection, account: str, campaign_id: str, *, limit: int
) -> list[StatusRow]:
    mine = select(sh).where(sh.c.account == account, sh.c.campaign_id == campaign_id)
    query = mine.order_by(sh.c.id.desc()).limit(limit)
    rows = list(await conn.execute(query))
    listed_at = await _listed_at(conn, account) if rows else None
    return [_status_row(row, listed_at) for row in rows]


def _status_row(row: Row[Any], listed_at: datetime | None) -> StatusRow:
    last_seen = row.last_seen_at
    if last_seen is None:  # still seen: at the last list, or when written if later
        last_seen = row.first_seen_at if listed_at is None else max(listed_at, row.first_seen_at)
    return StatusRow(
        id=row.id,
        campaign_id=row.campaign_id,
        status=Status(row.status),
        since=row.first_seen_at if row.estimated else row.since,
        first_seen_at=row.first_seen_at,
        last_seen_at=last_seen,
        estimated=bool(row.estimated),
    )
