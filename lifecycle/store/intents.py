"""Intents: a step written down (and committed) before it is sent, closed by its outcome.

States (`IntentState`): open (sent or about to be, no answer recorded), unknown (the
answer was lost), succeeded, failed. Open and unknown intents block their campaign: the
partial unique index `uq_intents_one_unresolved_per_campaign` allows at most one per
campaign.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, exc, exists, func, literal, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from lifecycle.model import TRANSITIONS, Action, ActionRecord, Decision
from lifecycle.records import (
    IntentConflict,
    IntentNotOpen,
    IntentState,
    LeaseFence,
    LeaseLost,
    OpenIntent,
)
from lifecycle.store.batch import chunked
from lifecycle.store.dbclock import db_now
from lifecycle.store.tables import UNRESOLVED_STATES, intents, leases

_CONFLICT_MARKERS = ("uq_intents_one_unresolved_per_campaign", "intents.campaign_id")


async def insert(
    conn: AsyncConnection,
    *,
    account: str,
    tick_id: int,
    decision: Decision,
    step: Action,
    at: datetime,
    ruleset: str,
    fence: LeaseFence | None = None,
) -> int:
    """A new open intent's id; IntentConflict if the campaign already has an unresolved one.

    With a `fence`, one statement writes the intent only if the fence's lease is held by
    its owner and incarnation until `bound` past the database's clock; LeaseLost (nothing
    written) otherwise. `opened_db_at` is the database's clock in that same statement."""
    values: dict[str, Any] = {
        "account": account,
        "tick_id": tick_id,
        "campaign_id": decision.campaign_id,
        "campaign_name": decision.campaign_name,
        "rule": decision.rule,
        "action": decision.action.value,
        "step": step.value,
        "mode": decision.mode.value,
        "reason": decision.reason,
        "ruleset": ruleset,
        "state": IntentState.OPEN.value,
        "created_at": at,
        "owner": fence.owner if fence else None,
    }
    columns = [literal(value, intents.c[name].type).label(name) for name, value in values.items()]
    columns.append(db_now(conn.dialect).label("opened_db_at"))
    source = select(*columns)
    if fence is not None:
        source = source.where(_lease_held(conn, fence))
    statement = intents.insert().from_select([c.name for c in columns], source)
    try:
        result = await conn.execute(statement.returning(intents.c.id))
    except exc.IntegrityError as error:
        if not any(marker in str(error.orig) for marker in _CONFLICT_MARKERS):
            raise
        raise IntentConflict(
            f"campaign {decision.campaign_id} already has a step in flight or of unknown outcome"
        ) from None
    intent_id = result.scalar_one_or_none()
    if intent_id is not None:
        return int(intent_id)
    if fence is None:  # pragma: no cover - an unfenced INSERT … SELECT always writes
        raise AssertionError("an unfenced intent insert wrote nothing")
    raise LeaseLost(
        f"{fence.owner} does not hold lease {fence.name} for {fence.bound.total_seconds():g}s "
        f"more: {step.value} {decision.campaign_id} not sent"
    )


def _lease_held(conn: AsyncConnection, fence: LeaseFence) -> Any:
    """EXISTS: the fence's lease is ours until at least `bound` past the database's clock."""
    return exists().where(
        leases.c.name == fence.name,
        leases.c.owner == fence.owner,
        leases.c.incarnation == fence.incarnation,
        leases.c.expires_at > db_now(conn.dialect, fence.bound),
    )


async def transition(
    conn: AsyncConnection, account: str, intent_id: int, *, state: IntentState, at: datetime
) -> Row[Any]:
    """Move an open/unknown intent to `state` and return it; IntentNotOpen otherwise."""
    closed_at = at if state.is_resolved else None
    statement = (
        update(intents)
        .where(
            intents.c.id == intent_id,
            intents.c.account == account,
            intents.c.state.in_(UNRESOLVED_STATES),
        )
        .values(state=state.value, closed_at=closed_at)
        .returning(*intents.c)
    )
    row = (await conn.execute(statement)).first()
    if row is None:
        raise IntentNotOpen(f"intent {intent_id} is not open (closed already, or no such id)")
    return row


async def unresolved(conn: AsyncConnection, account: str) -> list[OpenIntent]:
    """The account's open and unknown intents, oldest first."""
    query = (
        select(intents)
        .where(intents.c.account == account, intents.c.state.in_(UNRESOLVED_STATES))
        .order_by(intents.c.created_at, intents.c.id)
    )
    return [_open_intent(row) for row in await conn.execute(query)]


def _open_intent(row: Row[Any]) -> OpenIntent:
    step = Action(row.step)
    return OpenIntent(
        id=row.id,
        campaign_id=row.campaign_id,
        rule=row.rule,
        action=Action(row.action),
        step=step,
        expected=TRANSITIONS[step].target,
        created_at=row.created_at,
        state=IntentState(row.state),
        owner=row.owner,
        opened_db_at=row.opened_db_at,
    )


async def blocked_campaigns(
    conn: AsyncConnection, account: str, campaign_ids: Collection[str] | None
) -> frozenset[str]:
    """The account's campaigns with an open or unknown intent."""
    query = select(intents.c.campaign_id).where(
        intents.c.account == account, intents.c.state.in_(UNRESOLVED_STATES)
    )
    if campaign_ids is None:
        return frozenset((await conn.execute(query)).scalars())
    found: set[str] = set()
    for ids in chunked(campaign_ids):
        found.update((await conn.execute(query.where(intents.c.campaign_id.in_(ids)))).scalars())
    return frozenset(found)


MAX_ACTIONS_PER_CAMPAIGN = 50


async def succeeded_steps(
    conn: AsyncConnection,
    account: str,
    campaign_ids: Collection[str] | None,
    *,
    at: datetime,
    lookback: timedelta,
) -> dict[str, tuple[ActionRecord, ...]]:
    """Steps that succeeded within `lookback` before `at`: the newest 50 per campaign,
    oldest first. An action's time is when its intent was opened, just before the call."""
    if campaign_ids is None:
        rows = list(await conn.execute(_succeeded_query(account, None, at=at, lookback=lookback)))
    else:
        rows = []
        for ids in chunked(campaign_ids):
            query = _succeeded_query(account, ids, at=at, lookback=lookback)
            rows.extend(await conn.execute(query))
    found: dict[str, list[ActionRecord]] = {}
    for row in sorted(rows, key=lambda r: (r.created_at, r.id)):
        found.setdefault(row.campaign_id, []).append(_action_record(row))
    return {campaign_id: tuple(records) for campaign_id, records in found.items()}


def _succeeded_query(
    account: str, ids: list[str] | None, *, at: datetime, lookback: timedelta
) -> Any:
    rank = (
        func.row_number()
        .over(
            partition_by=intents.c.campaign_id,
            order_by=(intents.c.created_at.desc(), intents.c.id.desc()),
        )
        .label("rank")
    )
    ranked = select(intents, rank).where(
        intents.c.account == account,
        intents.c.state == IntentState.SUCCEEDED.value,
        intents.c.created_at >= at - lookback,
        intents.c.created_at <= at,
    )
    if ids is not None:
        ranked = ranked.where(intents.c.campaign_id.in_(ids))
    inner = ranked.subquery()
    return select(inner).where(inner.c.rank <= MAX_ACTIONS_PER_CAMPAIGN)


def _action_record(row: Row[Any]) -> ActionRecord:
    return ActionRecord(
        campaign_id=row.campaign_id,
        rule=row.rule,
        step=Action(row.step),
        at=row.created_at,
        ruleset=row.ruleset,
        done_at=row.closed_at,
    )
