"""The bodies of the inspecting commands (`plan`, `audit`, `why`, `status`, holds,
`db upgrade`).

`plan` and `why` are read-only: they never call a mutating endpoint and never write the
database (a missing SQLite file is not created; an empty history is used instead). With a
snapshot file (`plan --campaigns FILE`) `plan` makes no request at all.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from lifecycle import engine
from lifecycle.client import ExotelClient, campaigns_from_body
from lifecycle.errors import ApiAnswerInvalid, ApiError, ConfigError, RulesError, SchemaOutdated
from lifecycle.lease import lease_name
from lifecycle.model import Campaign, History, Plan
from lifecycle.output import audit_line, local_iso
from lifecycle.overview import StatusReport, judge_status, stored_health
from lifecycle.rules import NO_OVERRIDES, Overrides, Ruleset, compile_rules, read_rules
from lifecycle.settings import Settings
from lifecycle.store import AuditRow, Store, sqlite_path

T = TypeVar("T")


def missing_database(settings: Settings) -> str | None:
    """Why there is no database to read or change (a SQLite file that does not exist), or
    None. The operator commands say this and create nothing: an empty file made by a typo
    in LIFECYCLE_DATABASE_URL would hide the real one."""
    path = sqlite_path(settings.database_url.get_secret_value())
    if path is None or path.exists():
        return None
    return (
        f"no database at {path}: nothing has been recorded there (check "
        "LIFECYCLE_DATABASE_URL; `lifecycle db upgrade` creates it)"
    )


@asynccontextmanager
async def open_store(settings: Settings) -> AsyncIterator[Store]:
    """A connected store for the rows of the settings' account; a SQLite file that does not
    exist yet is created on first use."""
    url = settings.database_url.get_secret_value()
    store = await Store.connect(url, account=settings.exotel_account_sid)
    try:
        yield store
    finally:
        await store.close()


@asynccontextmanager
async def open_existing_store(settings: Settings) -> AsyncIterator[Store | None]:
    """A connected store, or None when its SQLite file does not exist: the read-only
    commands never create one."""
    path = sqlite_path(settings.database_url.get_secret_value())
    if path is not None and not path.exists():
        yield None
        return
    async with open_store(settings) as store:
        yield store


async def with_store(settings: Settings, work: Callable[[Store], Awaitable[T]]) -> T:
    """`work` on a store at the current schema; ConfigError when there is no database
    (nothing is created) and SchemaOutdated when it is empty or old (nothing is changed)."""
    missing = missing_database(settings)
    if missing is not None:
        raise ConfigError(missing)
    async with open_store(settings) as store:
        await store.ensure_current()
        return await work(store)


async def read_history(settings: Settings, at: datetime, campaigns: Sequence[Campaign]) -> History:
    async with open_existing_store(settings) as store:
        if store is None:
            return History()
        try:
            await store.ensure_current()
        except SchemaOutdated:
            return History()
        return await store.history(at=at, campaign_ids=[c.id for c in campaigns])


def campaigns_from_file(path: Path) -> list[Campaign]:
    """The campaigns in a snapshot: a list (or get) answer saved from the Campaigns API."""
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ConfigError(f"{path}: cannot read a campaigns snapshot: {exc}") from None
    try:
        return campaigns_from_body(body)
    except ApiAnswerInvalid as exc:
        raise ConfigError(f"{path}: not a campaigns answer: {exc}") from None


async def read_campaigns(settings: Settings, snapshot: Path | None) -> list[Campaign]:
    """From the snapshot file when given (no credentials, no request), else the live list."""
    if snapshot is not None:
        return campaigns_from_file(snapshot)
    settings.require_credentials()
    async with ExotelClient.from_settings(settings) as client:
        return list(await client.list_campaigns())  # an incomplete list was logged


async def plan_at(
    settings: Settings,
    ruleset: Ruleset,
    at: datetime,
    *,
    snapshot: Path | None = None,
    campaign_ids: Collection[str] = (),
) -> Plan:
    """What a tick at `at` would do; `campaign_ids` (when any) narrows what is shown."""
    campaigns = await read_campaigns(settings, snapshot)
    history = await read_history(settings, at, campaigns)
    result = engine.plan(campaigns, ruleset, history, at, dry_run=settings.dry_run)
    if not campaign_ids:
        return result
    return dataclasses.replace(
        result,
        decisions=tuple(d for d in result.decisions if d.campaign_id in campaign_ids),
        skipped=tuple(s for s in result.skipped if s.campaign_id in campaign_ids),
        set_aside=tuple(a for a in result.set_aside if a.campaign_id in campaign_ids),
    )


@dataclass(frozen=True)
class Period:
    """What `plan --from --to` asks for."""

    start: datetime
    end: datetime
    campaign_ids: Collection[str] = ()
    exotel: engine.ExotelMoves = field(default_factory=engine.ExotelMoves)


async def timeline_over(
    settings: Settings, ruleset: Ruleset, period: Period, *, snapshot: Path | None = None
) -> engine.Timeline:
    """Every decision from `period.start` to `period.end`; history read as `plan` reads it."""
    campaigns = await read_campaigns(settings, snapshot)
    history = await read_history(settings, period.start, campaigns)
    return engine.timeline(
        campaigns,
        ruleset,
        history,
        period.start,
        period.end,
        campaign_ids=period.campaign_ids or None,
        dry_run=settings.dry_run,
        exotel=period.exotel,
    )


async def read_audit(
    settings: Settings,
    *,
    campaign_id: str | None,
    rule: str | None,
    since: datetime | None,
    limit: int,
) -> list[AuditRow]:
    async with open_existing_store(settings) as store:
        if store is None:
            return []
        await store.ensure_current()
        return await store.audit(campaign_id=campaign_id, rule=rule, since=since, limit=limit)


async def upgrade_database(settings: Settings) -> str:
    """Upgrade to head; rows from before accounts go to the settings' account."""
    async with open_store(settings) as store:
        await store.upgrade()
    return "database schema is up to date"


async def explain_campaign(
    settings: Settings, ruleset: Ruleset, campaign_id: str, at: datetime
) -> str:
    """A report for `why`: the rules as of `at`, then what the audit trail remembers."""
    tz = ruleset.timezone
    lines: list[str] = []
    campaign = await _fetch_one(settings, campaign_id, lines)
    async with open_existing_store(settings) as store:
        if store is not None:
            await store.ensure_current()
        history = await store.history(at=at, campaign_ids=[campaign_id]) if store else History()
        if campaign is not None:
            lines += _rule_verdicts(campaign, ruleset, history, at)
        if store is None:
            lines.append("no database yet: nothing has been decided or done")
            return "\n".join(lines)
        lines += await _remembered(store, campaign_id, at, tz)
    return "\n".join(lines)


async def _fetch_one(settings: Settings, campaign_id: str, lines: list[str]) -> Campaign | None:
    try:
        settings.require_credentials()
        async with ExotelClient.from_settings(settings) as client:
            campaign = await client.get_campaign(campaign_id)
    except (ApiError, ConfigError) as exc:  # `why` must still show the audit trail
        lines.append(f"campaign {campaign_id}: not read from Exotel ({exc})")
        return None
    lines.append(
        f"campaign {campaign.id} {campaign.name!r}: {campaign.status.value} "
        f"(Exotel says {campaign.raw_status!r})"
    )
    return campaign


def _rule_verdicts(
    campaign: Campaign, ruleset: Ruleset, history: History, at: datetime
) -> list[str]:
    lines = [f"rules at {local_iso(at, ruleset.timezone)} ({ruleset.hash}):"]
    winner_seen = False
    for verdict in engine.explain(campaign, ruleset, history, at):
        if verdict.matched and not winner_seen:
            mark, winner_seen = "→", True
        elif verdict.matched:
            mark = "~ shadowed:"
        else:
            mark = "✗"
        lines.append(f"  {mark} {verdict.rule}: {verdict.reason}")
    if not winner_seen:
        lines.append("  no rule matches: nothing will be done")
    hold = history.holds.get(campaign.id)
    if hold:
        lines.append(f"  held until {local_iso(hold.until, ruleset.timezone)}: {hold.reason}")
    if campaign.id in history.open_intents:
        lines.append("  a step is in flight or of unknown outcome; it is re-read next tick")
    return lines


async def _remembered(store: Store, campaign_id: str, at: datetime, tz: ZoneInfo) -> list[str]:
    lines: list[str] = []
    decisions = await store.decisions(campaign_id=campaign_id, until=at, limit=10)
    lines.append("recent decisions (newest first):" if decisions else "no decisions recorded")
    for d in decisions:
        steps = " → ".join(step.value for step in d.steps) or "-"
        mode = f" [{d.mode.value}]" if d.mode else ""
        lines.append(
            f"  {local_iso(d.at, tz)}  {d.kind:<8} {d.rule}: {d.action.value} ({steps}){mode}"
            f"\n      {d.reason}"
        )
    rows = await store.audit(campaign_id=campaign_id, limit=10)
    lines.append("audit trail (newest first):" if rows else "no audit rows")
    lines += [f"  {audit_line(row, tz)}" for row in rows]
    statuses = await store.status_timeline(campaign_id, limit=10)
    if statuses:
        lines.append("status history (newest first):")
        for s in statuses:
            estimate = " (already in it when first seen)" if s.estimated else ""
            lines.append(f"  {local_iso(s.since, tz)}  {s.status}{estimate}")
    return lines


async def read_status(
    settings: Settings, *, now: datetime, overrides: Overrides = NO_OVERRIDES
) -> tuple[StatusReport, ZoneInfo]:
    """`lifecycle status` of the account of `settings` (an `Account`'s, with its
    `overrides`): its rows in the database, its rules file and its part of the daemon's
    /readyz. The times are in the rules' zone
    (UTC when the file does not validate: that is reported, not fatal: the daemon keeps its
    last good rules). ConfigError when there is no database to read; SchemaOutdated when it
    needs `lifecycle db upgrade`."""
    from lifecycle.web.probe import fetch_readyz, readyz_url

    tz, on_disk, problems = _rules_file(settings.rules, overrides)
    async with open_existing_store(settings) as store:
        if store is None:
            raise ConfigError(
                f"no database at {sqlite_path(settings.database_url.get_secret_value())}: "
                "the daemon has not run here (or LIFECYCLE_DATABASE_URL names another file)"
            )
        await store.ensure_current()
        stored = await stored_health(store, lease=lease_name(settings.exotel_account_sid), now=now)
    url = readyz_url(settings.http_host, settings.http_port)
    daemon = account_readyz(await fetch_readyz(url), settings.exotel_account_sid)
    stale = timedelta(seconds=3 * settings.poll_seconds)
    report = StatusReport(
        stored=stored,
        rules_path=str(settings.rules),
        rules_on_disk=on_disk,
        rules_problems=problems,
        daemon_url=url,
        daemon=daemon,
        problems=judge_status(stored, daemon, now=now, stale=stale),
    )
    return report, tz


def account_readyz(body: dict[str, Any] | None, sid: str) -> dict[str, Any] | None:
    """The part of a daemon's /readyz about account `sid`: the whole body when it serves
    one account, else its entry under `accounts` (ready unless failing); None when that
    daemon does not serve the account (another one may: that is no problem by itself)."""
    accounts = body.get("accounts") if body is not None else None
    if body is None or not isinstance(accounts, dict):
        return body
    entry = accounts.get(sid)
    if not isinstance(entry, dict):
        return None
    return {**entry, "ready": entry.get("state") != "failing"}


def _rules_file(
    path: Path, overrides: Overrides = NO_OVERRIDES
) -> tuple[ZoneInfo, str | None, tuple[str, ...]]:
    """The rules' zone, the file's hash and its located errors, without failing on them."""
    try:
        source = read_rules(path)
    except RulesError as exc:
        return ZoneInfo("UTC"), None, tuple(str(p) for p in exc.problems)
    try:
        return compile_rules(source, overrides).timezone, source.hash, ()
    except RulesError as exc:
        return ZoneInfo("UTC"), source.hash, tuple(str(p) for p in exc.problems)
