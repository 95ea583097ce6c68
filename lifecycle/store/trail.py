"""The audit trail and the query behind `lifecycle audit`.

One append-only row per thing that happened to a campaign.

Rows are written for intents, outcomes, dry runs and skipped rules. A skipped row is not
repeated while nothing changes: if the newest row for the same campaign and rule already
says "skipped" for the same reason, a respected manual change does not add a row per poll.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from lifecycle.model import Action, Decision, Mode, Outcome, Skip, SkipKind
from lifecycle.records import AuditRow
from lifecycle.store.batch import chunked
from lifecycle.store.tables import audit, intents


def for_decision(
    decision: Decision,
    *,
    step: Action,
    outcome: Outcome,
    at: datetime,
    tick_id: int,
    ruleset: str,
    intent_id: int | None = None,
) -> dict[str, Any]:
    """An audit row about one step of a decision."""
    return {
        "at": at,
        "tick_id": tick_id,
        "intent_id": intent_id,
        "campaign_id": decision.campaign_id,
        "campaign_name": decision.campaign_name,
        "rule": decision.rule,
        "action": decision.action.value,
        "step": step.value,
        "outcome": outcome.value,
        "reason": decision.reason,
        "ruleset": ruleset,
        "mode": decision.mode.value,
    }


def for_intent(
    intent: Row[Any], *, outcome: Outcome, at: datetime, reason: str | None = None, **extra: Any
) -> dict[str, Any]:
    """An audit row about an intent's outcome: same rule, action, step and ruleset."""
    return {
        "at": at,
        "tick_id": intent.tick_id,
        "intent_id": intent.id,
        "campaign_id": intent.campaign_id,
        "campaign_name": intent.campaign_name,
        "rule": intent.rule,
        "action": intent.action,
        "step": intent.step,
        "outcome": outcome.value,
        "reason": intent.reason if reason is None else reason,
        "ruleset": intent.ruleset,
        "mode": intent.mode,
        **extra,
    }


_INSERT = audit.insert()


async def append(conn: AsyncConnection, account: str, rows: Sequence[dict[str, Any]]) -> None:
    """One multi-row statement (executemany); a single row as a plain execute."""
    if len(rows) == 1:
        await conn.execute(_INSERT, {**rows[0], "account": account})
    elif rows:
        await conn.execute(_INSERT, [{**row, "account": account} for row in rows])


async def append_skips(
    conn: AsyncConnection,
    account: str,
    skips: Sequence[Skip],
    *,
    at: datetime,
    tick_id: int,
    ruleset: str,
) -> None:
    """Audit rows for skipped rules, leaving out those that would repeat the newest row."""
    wanted = [s for s in skips if s.kind == SkipKind.SKIPPED]
    newest = await newest_per_rule(conn, account, [s.campaign_id for s in wanted])
    rows = [
        _skip_row(s, at=at, tick_id=tick_id, ruleset=ruleset)
        for s in wanted
        if newest.get((s.campaign_id, s.rule)) != _skipped_summary(s)
    ]
    await append(conn, account, rows)


# (outcome, action, reason): what makes two audit rows for one campaign and rule "the same".
_Summary = tuple[str, str, str]


def _skipped_summary(skip: Skip) -> _Summary:
    return (Outcome.SKIPPED.value, skip.action.value, skip.reason)


def _skip_row(skip: Skip, *, at: datetime, tick_id: int, ruleset: str) -> dict[str, Any]:
    return {
        "at": at,
        "tick_id": tick_id,
        "intent_id": None,
        "campaign_id": skip.campaign_id,
        "campaign_name": skip.campaign_name,
        "rule": skip.rule,
        "action": skip.action.value,
        "step": None,
        "outcome": Outcome.SKIPPED.value,
        "reason": skip.reason,
        "ruleset": ruleset,
        "mode": None,
    }


async def newest_per_rule(
    conn: AsyncConnection, account: str, campaign_ids: Sequence[str]
) -> dict[tuple[str, str], _Summary]:
    found: dict[tuple[str, str], _Summary] = {}
    for ids in chunked(campaign_ids):
        newest = (
            select(func.max(audit.c.id))
            .where(audit.c.account == account, audit.c.campaign_id.in_(ids))
            .group_by(audit.c.campaign_id, audit.c.rule)
        )
        query = select(
            audit.c.campaign_id, audit.c.rule, audit.c.action, audit.c.outcome, audit.c.reason
        ).where(audit.c.id.in_(newest.scalar_subquery()))
        for row in await conn.execute(query):
            found[(row.campaign_id, row.rule)] = (row.outcome, row.action, row.reason)
    return found


async def query(
    conn: AsyncConnection,
    account: str,
    *,
    campaign_id: str | None,
    rule: str | None,
    since: datetime | None,
    limit: int,
) -> list[AuditRow]:
    """Audit rows matching every given filter, newest first."""
    # The intent's owner says which lease holder sent the step.
    joined = audit.outerjoin(intents, audit.c.intent_id == intents.c.id)
    statement = (
        select(audit, intents.c.owner)
        .select_from(joined)
        .where(audit.c.account == account)
        .order_by(audit.c.at.desc(), audit.c.id.desc())
        .limit(limit)
    )
    if campaign_id is not None:
        statement = statement.where(audit.c.campaign_id == campaign_id)
    if rule is not None:
        statement = statement.where(audit.c.rule == rule)
    if since is not None:
        statement = statement.where(audit.c.at >= since)
    return [to_audit_row(row) for row in await conn.execute(statement)]


def to_audit_row(row: Row[Any]) -> AuditRow:
    return AuditRow(
        id=row.id,
        at=row.at,
        tick_id=row.tick_id,
        campaign_id=row.campaign_id,
        campaign_name=row.campaign_name,
        rule=row.rule,
        action=Action(row.action),
        step=Action(row.step) if row.step else None,
        outcome=Outcome(row.outcome),
        http_status=row.http_status,
        request_id=row.request_id,
        error=row.error,
        reason=row.reason,
        ruleset=row.ruleset,
        mode=Mode(row.mode) if row.mode else None,
        intent_id=row.intent_id,
        owner=row.owner,
    )
