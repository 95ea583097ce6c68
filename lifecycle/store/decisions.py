"""Decisions: every line of every tick's plan, kept so `lifecycle why` can answer."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncConnection

from lifecycle.model import Action, Mode, Plan, Status
from lifecycle.records import DecisionRow
from lifecycle.store.tables import decisions

_STEP_SEPARATOR = ","


async def insert_plan(conn: AsyncConnection, account: str, tick_id: int, plan: Plan) -> None:
    """One row per decision (kind "action") and per skip (kind "skipped"/"shadowed")."""
    common = {"account": account, "tick_id": tick_id, "at": plan.at, "ruleset": plan.ruleset}
    rows: list[dict[str, Any]] = [
        {
            **common,
            "campaign_id": d.campaign_id,
            "campaign_name": d.campaign_name,
            "status": d.status.value,
            "rule": d.rule,
            "action": d.action.value,
            "steps": _STEP_SEPARATOR.join(step.value for step in d.steps),
            "mode": d.mode.value,
            "kind": "action",
            "reason": d.reason,
        }
        for d in plan.decisions
    ]
    rows.extend(
        {
            **common,
            "campaign_id": s.campaign_id,
            "campaign_name": s.campaign_name,
            "status": None,
            "rule": s.rule,
            "action": s.action.value,
            "steps": "",
            "mode": None,
            "kind": s.kind.value,
            "reason": s.reason,
        }
        for s in plan.skipped
    )
    if rows:
        await conn.execute(decisions.insert(), rows)


async def about(
    conn: AsyncConnection, account: str, campaign_id: str, *, until: datetime | None, limit: int
) -> list[DecisionRow]:
    """Decisions about one campaign, newest first, at or before `until` when given."""
    query = (
        select(decisions)
        .where(decisions.c.account == account, decisions.c.campaign_id == campaign_id)
        .order_by(decisions.c.at.desc(), decisions.c.id.desc())
        .limit(limit)
    )
    if until is not None:
        query = query.where(decisions.c.at <= until)
    return [_decision_row(row) for row in await conn.execute(query)]


def _decision_row(row: Row[Any]) -> DecisionRow:
    return DecisionRow(
        id=row.id,
        tick_id=row.tick_id,
        at=row.at,
        campaign_id=row.campaign_id,
        campaign_name=row.campaign_name,
        status=Status(row.status) if row.status else None,
        rule=row.rule,
        action=Action(row.action),
        steps=tuple(Action(s) for s in row.steps.split(_STEP_SEPARATOR) if s),
        mode=Mode(row.mode) if row.mode else None,
        kind=row.kind,
        reason=row.reason,
        ruleset=row.ruleset,
    )
