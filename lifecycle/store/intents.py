"""Intents: a step written down (and committed) before it is sent, closed by its outcome.

States (`IntentState`): open (sent or about to be, no answer recorded), unknown (the
answer was lost), succeeded, failed. Open and unknown intents block their campaign: the
partial unique index `uq_intents_one_unresolved_per_campaign` allows at most one per
campaign.
"""

from __future__ import annotations

import functools
from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Dialect, Row, bindparam, exc, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from lifecycle.model import TRANSITIONS, Action, ActionRecord, Decision
from lifecycle.records import (
    CampaignHeld,
    IntentConflict,
    IntentNotOpen,
    IntentState,
    LeaseFence,
    LeaseLost,
    OpenIntent,
)
from lifecycle.store.batch import narrowed
from lifecycle.store.dbclock import db_now
from lifecycle.store.tables import UNRESOLVED_STATES, holds, intents, leases

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
    unless_held: bool = False,
) -> int:
    """A new open intent's id; IntentConflict if the campaign already has an unresolved one.

    With a `fence`, one statement writes the intent only if the fence's lease is held by
    its owner and incarnation until `bound` past the database's clock; LeaseLost (nothing
    written) otherwise. With `unless_held`, that statement also writes nothing while a
    hold on the campaign is in force at `at`: CampaignHeld. `opened_db_at` is the
    database's clock in that same statement."""
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
    if fence is not None:
        values |= {"fence_name": fence.name, "fence_owner": fence.owner}
        values["fence_incarnation"] = fence.incarnation
    statement = _insert_statement(conn.dialect, fence.bound if fence else None, unless_held)
    try:
        result = await conn.execute(statement, values)
    except exc.IntegrityError as error:
        if not any(marker in str(error.orig) for marker in _CONFLICT_MARKERS):
            raise
        raise IntentConflict(
            f"campaign {decision.campaign_id} already has a step in flight or of unknown outcome"
        ) from None
    intent_id = result.scalar_one_or_none()
    if intent_id is not None:
        return int(intent_id)
    if unless_held and await conn.scalar(select(_held(account, decision.campaign_id, at))):
        raise CampaignHeld(f"{decision.campaign_id} is held: {step.value} not sent")
    if fence is None:  # pragma: no cover - an unfenced, unheld INSERT … SELECT always writes
        raise AssertionError("an unfenced intent insert wrote nothing")
    raise LeaseLost(
        f"{fence.owner} does not hold lease {fence.name} for {fence.bound.total_seconds():g}s "
        f"more: {step.value} {decision.campaign_id} not sent"
    )


_INSERTED = (
    "account", "tick_id", "campaign_id", "campaign_name", "rule", "action", "step", "mode",
    "reason", "ruleset", "state", "created_at", "owner",
)  # fmt: skip


@functools.lru_cache(maxsize=64)
def _insert_statement(dialect: Dialect, bound: timedelta | None, unless_held: bool) -> Any:
    """The intent's INSERT … SELECT … RETURNING id, built once per kind: a step pays for
    binding its values, not for building the statement again."""
    columns = [bindparam(name, type_=intents.c[name].type).label(name) for name in _INSERTED]
    columns.append(db_now(dialect).label("opened_db_at"))
    source = select(*columns)
    if bound is not None:  # the lease fence
        source = source.where(
            exists().where(
                leases.c.name == bindparam("fence_name"),
                leases.c.owner == bindparam("fence_owner"),
                leases.c.incarnation == bindparam("fence_incarnation"),
                leases.c.expires_at > db_now(dialect, bound),
            )
        )
    if unless_held:
        source = source.where(
            ~exists().where(
                holds.c.account == bindparam("account"),
                holds.c.campaign_id == bindparam("campaign_id"),
                holds.c.until > bindparam("created_at"),
            )
        )
    statement = intents.insert().from_select([c.name for c in columns], source)
    return statement.returning(intents.c.id)


def _held(account: str, campaign_id: str, at: datetime) -> Any:
    """EXISTS: a hold on the campaign is in force at `at`."""
    return exists().where(
        holds.c.account == account, holds.c.campaign_id == campaign_id, holds.c.until > at
    )


_TRANSITION = (
    update(intents)
    .where(
        intents.c.id == bindparam("intent_id"),
        intents.c.account == bindparam("intent_account"),
        intents.c.state.in_(UNRESOLVED_STATES),
    )
    .values(state=bindparam("new_state"), closed_at=bindparam("new_closed_at"))
    .returning(*intents.c)
)


async def transition(
    conn: AsyncConnection, account: str, intent_id: int, *, state: IntentState, at: datetime
) -> Row[Any]:
    """Move an open/unknown intent to `state` and return it; IntentNotOpen otherwise."""
    closed_at = at if state.is_resolved else None
    values = {"intent_id": intent_id, "intent_account": account}
    values |= {"new_state": state.value, "new_closed_at": closed_at}
    row = (await conn.execute(_TRANSITION, values)).first()
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
    query, keep = narrowed(query, intents.c.campaign_id, campaign_ids)
    found = (await conn.execute(query)).scalars()
    return frozenset(found if keep is None else (i for i in found if i in keep))


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
    query, keep = _succeeded_query(account, campaign_ids, at=at, lookback=lookback)
    rows = [r for r in await conn.execute(query) if keep is None or r.campaign_id in keep]
    found: dict[str, list[ActionRecord]] = {}
    for row in sorted(rows, key=lambda r: (r.created_at, r.id)):
        found.setdefault(row.campaign_id, []).append(_action_record(row))
    return {campaign_id: tuple(records) for campaign_id, records in found.items()}


def _succeeded_query(
    account: str, ids: Collection[str] | None, *, at: datetime, lookback: timedelta
) -> tuple[Any, frozenset[str] | None]:
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
    ranked, keep = narrowed(ranked, intents.c.campaign_id, ids)
    inner = ranked.subquery()
    return select(inner).where(inner.c.rank <= MAX_ACTIONS_PER_CAMPAIGN), keep


def _action_record(row: Row[Any]) -> ActionRecord:
    return ActionRecord(
        campaign_id=row.campaign_id,
        rule=row.rule,
        step=Action(row.step),
        at=row.created_at,
        ruleset=row.ruleset,
        done_at=row.closed_at,
    )
