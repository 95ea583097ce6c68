"""The Store: the one object the rest of the program uses to reach the database.

Every method is one transaction. Instants in and out are aware UTC (naive ones are
refused with ValueError). Connection failures surface as StoreUnavailable, with the
database URL rendered without its password.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import URL, Row, exc, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from lifecycle.model import (
    TRANSITIONS,
    Action,
    Campaign,
    Decision,
    History,
    Hold,
    Outcome,
    Plan,
    Status,
)
from lifecycle.records import (
    AuditRow,
    DecisionRow,
    IntentState,
    LeaseFence,
    LeaseRow,
    OpenIntent,
    PendingNotification,
    StatusRow,
    Tick,
    TickRow,
)
from lifecycle.store import (
    decisions,
    holds,
    intents,
    notifications,
    observations,
    retention,
    schema,
    trail,
)
from lifecycle.store.database import make_engine, parse_url, translate_errors
from lifecycle.store.dbclock import db_now
from lifecycle.store.tables import ticks

_CLOSING = {Outcome.SUCCEEDED: IntentState.SUCCEEDED, Outcome.FAILED: IntentState.FAILED}
_RECORDABLE = {**_CLOSING, Outcome.UNKNOWN: IntentState.UNKNOWN}


class Store:
    """The rows of one Exotel account (`account`; "" for a store that was given none):
    every read is limited to it and every write carries it. `for_account` gives the same
    database as seen by another account; leases are named and so shared by all."""

    def __init__(self, engine: AsyncEngine, url: URL, account: str = "") -> None:
        self._engine = engine
        self._url = url
        self.account = account

    @classmethod
    async def connect(cls, url: str, *, account: str = "") -> Store:
        """A store on `url`; connections open lazily, so a down database fails later calls
        (with StoreUnavailable), not this one. ConfigError for an unsupported URL."""
        return cls(make_engine(url), parse_url(url), account)

    def for_account(self, account: str) -> Store:
        """The same database (and connection pool) for another account's rows. Close only
        the store that `connect` returned."""
        return Store(self._engine, self._url, account)

    async def close(self) -> None:
        await self._engine.dispose()

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[AsyncConnection]:
        """A transaction, committed when the block ends without an exception."""
        async with translate_errors(self._url), self._engine.begin() as conn:
            yield conn

    async def ping(self) -> None:
        """Return if the database answers; StoreUnavailable otherwise (for readiness)."""
        async with self._transaction() as conn:
            await conn.execute(select(1))

    # schema

    async def upgrade(self) -> None:
        """Alembic upgrade to head; rows from before accounts go to this store's account."""
        async with self._transaction() as conn:
            await conn.run_sync(schema.upgrade, self.account)

    async def ensure_current(self) -> None:
        """SchemaOutdated (saying to run `lifecycle db upgrade`) unless at head."""
        async with self._transaction() as conn:
            await conn.run_sync(schema.check_current)

    # ticks

    async def start_tick(self, *, at: datetime, ruleset: str, dry_run: bool) -> Tick:
        """A new tick at `at` on the rules with hash `ruleset`: pass it to every method
        that writes during the tick."""
        values = {"account": self.account, "started_at": at, "ruleset": ruleset}
        values["dry_run"] = dry_run
        async with self._transaction() as conn:
            result = await conn.execute(ticks.insert().values(values).returning(ticks.c.id))
            tick_id = int(result.scalar_one())
        return Tick(id=tick_id, at=at, ruleset=ruleset, dry_run=dry_run)

    async def finish_tick(
        self, tick: Tick, *, at: datetime, campaigns: int, actions: int, error: str | None
    ) -> None:
        values = {"finished_at": at, "campaigns": campaigns, "actions": actions, "error": error}
        async with self._transaction() as conn:
            await conn.execute(update(ticks).where(ticks.c.id == tick.id).values(values))

    async def last_tick(self) -> TickRow | None:
        async with self._transaction() as conn:
            query = select(ticks).where(ticks.c.account == self.account)
            query = query.order_by(ticks.c.id.desc()).limit(1)
            row = (await conn.execute(query)).first()
        if row is None:
            return None
        return TickRow(
            id=row.id,
            started_at=row.started_at,
            finished_at=row.finished_at,
            ruleset=row.ruleset,
            dry_run=bool(row.dry_run),
            campaigns=row.campaigns,
            actions=row.actions,
            error=row.error,
        )

    # observations and history

    async def observe(
        self, campaigns: Sequence[Campaign], *, at: datetime, listing: bool = True
    ) -> None:
        """Record what was read: the account's list (`listing`), or campaigns re-read one by
        one. Only changes are written: status history rows for new statuses, campaigns rows
        whose name or status moved. A campaign never seen before starts with `since` = now,
        marked as first sight."""
        async with self._transaction() as conn:
            await observations.observe(conn, self.account, campaigns, at=at, listing=listing)

    async def poll(
        self,
        campaigns: Sequence[Campaign],
        *,
        at: datetime,
        campaign_ids: Collection[str] | None = None,
        lookback: timedelta = timedelta(days=30),
    ) -> History:
        """`observe` a listing and read the `history` of `campaign_ids` (default: the
        listed campaigns), in one transaction that reads the newest status rows once: what
        a tick does. A campaign the list left out (a settled one carried between full
        lists) was last seen at the list before."""
        async with self._transaction() as conn:
            latest = await observations.observe(conn, self.account, campaigns, at=at)
            ids = {c.id for c in campaigns} if campaign_ids is None else campaign_ids
            if not campaigns:  # nothing observed: no newest rows were read
                return await self._history(conn, at=at, ids=ids, lookback=lookback)
            return await self._history(conn, at=at, ids=ids, lookback=lookback, latest=latest)

    async def history(
        self,
        *,
        at: datetime,
        campaign_ids: Collection[str] | None = None,
        lookback: timedelta = timedelta(days=30),
    ) -> History:
        """What the engine needs to know about the past, for `campaign_ids` (default all):
        status since (and which of those are only a first sight), succeeded steps within
        `lookback` (newest 50, oldest first), campaigns with unresolved intents, and holds
        in force at `at`. Four statements, whatever the number of campaigns."""
        async with self._transaction() as conn:
            return await self._history(conn, at=at, ids=campaign_ids, lookback=lookback)

    async def _history(
        self,
        conn: AsyncConnection,
        *,
        at: datetime,
        ids: Collection[str] | None,
        lookback: timedelta,
        latest: dict[str, observations.Latest] | None = None,
    ) -> History:
        account = self.account
        if latest is None:
            latest = await observations.latest_rows(conn, account, ids)
        since, first_seen = observations.status_since(latest, ids)
        done = await intents.succeeded_steps(conn, account, ids, at=at, lookback=lookback)
        blocked = await intents.blocked_campaigns(conn, account, ids)
        held = await holds.holds_in_force(conn, account, at=at, campaign_ids=ids)
        return History(
            status_since=since,
            actions=done,
            open_intents=blocked,
            holds={hold.campaign_id: hold for hold in held},
            first_seen_in_status=first_seen,
        )

    async def status_timeline(self, campaign_id: str, *, limit: int = 20) -> list[StatusRow]:
        """The campaign's status history, newest first."""
        async with self._transaction() as conn:
            return await observations.timeline(conn, self.account, campaign_id, limit=limit)

    async def latest_statuses(
        self, campaign_ids: Collection[str] | None = None
    ) -> dict[str, Status]:
        """Each campaign's status as last known: last observed, or made so by a step of
        ours since (all campaigns ever seen when `campaign_ids` is None)."""
        async with self._transaction() as conn:
            return await observations.latest_statuses(conn, self.account, campaign_ids)

    # decisions

    async def record_plan(self, tick: Tick, plan: Plan) -> None:
        """Every line of the plan as a decision row, and audit rows for skipped rules
        (not repeated while the newest row for that campaign and rule says the same)."""
        async with self._transaction() as conn:
            await decisions.insert_plan(conn, self.account, tick.id, plan)
            await trail.append_skips(
                conn, self.account, plan.skipped, at=plan.at, tick_id=tick.id, ruleset=plan.ruleset
            )

    async def decisions(
        self, *, campaign_id: str, until: datetime | None = None, limit: int = 20
    ) -> list[DecisionRow]:
        """Decisions about one campaign, newest first (for `lifecycle why`)."""
        async with self._transaction() as conn:
            return await decisions.about(conn, self.account, campaign_id, until=until, limit=limit)

    # intents and outcomes

    async def open_intent(
        self,
        tick: Tick,
        *,
        decision: Decision,
        step: Action,
        at: datetime,
        fence: LeaseFence | None = None,
        unless_held: bool = False,
    ) -> int:
        """Write an open intent and its audit row, and commit before returning: the step
        may be sent only after this returns. IntentConflict if the campaign already has
        an open or unknown intent. With a `fence`, the intent is written only if its lease
        is held for `fence.bound` more by the database's clock, checked in the INSERT
        itself; LeaseLost (nothing written, no audit row) otherwise. With `unless_held`,
        the INSERT also checks that no hold on the campaign is in force at `at`;
        CampaignHeld (nothing written) otherwise. Two statements, one transaction."""
        async with self._transaction() as conn:
            intent_id = await intents.insert(
                conn,
                account=self.account,
                tick_id=tick.id,
                decision=decision,
                step=step,
                at=at,
                ruleset=tick.ruleset,
                fence=fence,
                unless_held=unless_held,
            )
            row = trail.for_decision(
                decision,
                step=step,
                outcome=Outcome.INTENT,
                at=at,
                tick_id=tick.id,
                ruleset=tick.ruleset,
                intent_id=intent_id,
            )
            await trail.append(conn, self.account, [row])
        return intent_id

    async def record_outcome(
        self,
        intent_id: int,
        *,
        outcome: Outcome,
        at: datetime,
        http_status: int | None = None,
        request_id: str | None = None,
        error: str | None = None,
    ) -> None:
        """succeeded/failed close the intent; unknown leaves it blocking its campaign until
        `resolve_intent`. Always appends an audit row. IntentNotOpen if already closed."""
        if outcome not in _RECORDABLE:
            raise ValueError(f"an outcome is succeeded, failed or unknown, not {outcome.value}")
        async with self._transaction() as conn:
            row = await intents.transition(
                conn, self.account, intent_id, state=_RECORDABLE[outcome], at=at
            )
            entry = trail.for_intent(
                row,
                outcome=outcome,
                at=at,
                http_status=http_status,
                request_id=request_id,
                error=error,
            )
            await trail.append(conn, self.account, [entry])
            if outcome == Outcome.SUCCEEDED:
                await _record_effect(conn, self.account, row, at=at)

    async def unresolved_intents(self) -> list[OpenIntent]:
        """Open and unknown intents, oldest first: re-read these campaigns, then resolve."""
        async with self._transaction() as conn:
            return await intents.unresolved(conn, self.account)

    async def resolve_intent(
        self, intent_id: int, *, outcome: Outcome, at: datetime, error: str | None = None
    ) -> None:
        """Close an open/unknown intent from what re-reading the campaign showed.

        `error` is what was found ("campaign is paused"); it becomes the audit reason
        ("resolved by re-reading: campaign is paused"), and also the audit error when
        the outcome is failed."""
        if outcome not in _CLOSING:
            raise ValueError(f"an intent resolves to succeeded or failed, not {outcome.value}")
        reason = f"resolved by re-reading: {error}" if error else "resolved by re-reading"
        async with self._transaction() as conn:
            row = await intents.transition(
                conn, self.account, intent_id, state=_CLOSING[outcome], at=at
            )
            failure = error if outcome == Outcome.FAILED else None
            entry = trail.for_intent(row, outcome=outcome, at=at, reason=reason, error=failure)
            await trail.append(conn, self.account, [entry])
            if outcome == Outcome.SUCCEEDED:
                await _record_effect(conn, self.account, row, at=at)

    async def record_dry_run(self, tick: Tick, decision: Decision) -> bool:
        """Audit rows with outcome dry-run, one per step, at the tick's time: what would
        have been sent. No intent.

        A dry-run rule matches on every tick, so the rows are written once per episode: not
        again while the newest row for that campaign and rule is a dry run of the same
        action. Returns whether rows were written."""
        async with self._transaction() as conn:
            newest = await trail.newest_per_rule(conn, self.account, [decision.campaign_id])
            last = newest.get((decision.campaign_id, decision.rule))
            if last is not None and last[:2] == (Outcome.DRY_RUN.value, decision.action.value):
                return False
            rows = [
                trail.for_decision(
                    decision,
                    step=step,
                    outcome=Outcome.DRY_RUN,
                    at=tick.at,
                    tick_id=tick.id,
                    ruleset=tick.ruleset,
                )
                for step in decision.steps
            ]
            await trail.append(conn, self.account, rows)
            return True

    # queries

    async def audit(
        self,
        *,
        campaign_id: str | None = None,
        rule: str | None = None,
        since: datetime | None = None,
        limit: int = 100,
    ) -> list[AuditRow]:
        """The audit trail, newest first, filtered by every argument given."""
        async with self._transaction() as conn:
            return await trail.query(
                conn, self.account, campaign_id=campaign_id, rule=rule, since=since, limit=limit
            )

    # holds and leases

    async def add_hold(
        self, *, campaign_id: str, until: datetime, reason: str, at: datetime
    ) -> None:
        """Hold the campaign until `until`, replacing any earlier hold on it."""
        hold = Hold(campaign_id=campaign_id, until=until, reason=reason, created_at=at)
        async with self._transaction() as conn:
            await holds.put_hold(conn, self.account, hold)

    async def release_hold(self, campaign_id: str, *, at: datetime) -> bool:
        """Remove the campaign's hold; True if a hold was in force at `at`."""
        async with self._transaction() as conn:
            return await holds.delete_hold(conn, self.account, campaign_id, at=at)

    async def holds(self, *, at: datetime) -> list[Hold]:
        """Holds in force at `at`, by campaign id."""
        async with self._transaction() as conn:
            return await holds.holds_in_force(conn, self.account, at=at)

    async def acquire_lease(
        self,
        *,
        name: str,
        owner: str,
        incarnation: str,
        ttl: timedelta,
        replacing: str | None = None,
    ) -> LeaseRow:
        """Take or renew the lease until `ttl` past the database's clock, if it is free,
        expired, ours (same owner and incarnation) or held by incarnation `replacing` of
        the same owner; the lease as it stands afterwards (`held_by` says whether we hold
        it). Atomic across processes."""
        async with self._transaction() as conn:
            return await holds.take_lease(
                conn,
                name=name,
                owner=owner,
                incarnation=incarnation,
                ttl=ttl,
                replacing=replacing,
            )

    async def lease(self, name: str) -> LeaseRow | None:
        """The lease row and the database's clock, or None if nobody ever took it."""
        async with self._transaction() as conn:
            return await holds.read_lease(conn, name=name)

    async def release_lease(self, *, name: str, owner: str, incarnation: str) -> None:
        """Give the lease up, if this owner and incarnation hold it."""
        async with self._transaction() as conn:
            await holds.drop_lease(conn, name=name, owner=owner, incarnation=incarnation)

    async def heartbeat(
        self, daemon_id: str, accounts: Collection[str], *, window: timedelta
    ) -> dict[str, frozenset[str]]:
        """Say that daemon `daemon_id`, serving `accounts`, is alive (by the database's
        clock); the daemons seen alive within `window`, itself included, with the accounts
        each serves."""
        async with self._transaction() as conn:
            return await holds.beat(conn, daemon_id, accounts, window=window)

    async def leave(self, daemon_id: str) -> None:
        """Forget the daemon: the others take its accounts without waiting for its row to
        age out."""
        async with self._transaction() as conn:
            await holds.leave(conn, daemon_id)

    async def db_now(self) -> datetime:
        """The database's clock: what leases and the grace of unresolved intents use."""
        async with self._transaction() as conn:
            moment: datetime = (await conn.execute(select(db_now(conn.dialect)))).scalar_one()
        return moment

    # notifications

    async def claim_notification(
        self, *, channel: str, key: str, severity: str, payload: str, at: datetime
    ) -> int | None:
        """Record a message for a channel before it is sent: its row id, or None when
        (channel, key) was recorded before (sent, being sent, or given up): send nothing."""
        try:
            async with self._transaction() as conn:
                return await notifications.claim(
                    conn,
                    self.account,
                    channel=channel,
                    key=key,
                    severity=severity,
                    payload=payload,
                    at=at,
                )
        except exc.IntegrityError:
            return None

    async def settle_notification(
        self, row_id: int, *, at: datetime, attempts: int, error: str | None = None
    ) -> None:
        """Mark a claimed message sent (no `error`), or given up after `attempts`."""
        async with self._transaction() as conn:
            await notifications.settle(
                conn, self.account, row_id, at=at, attempts=attempts, error=error
            )

    async def failing_streak(self) -> list[tuple[datetime, str]]:
        """The failed ticks since the last tick that worked, oldest first: (started_at,
        error). What a restarted notifier knows of an outage already told."""
        async with self._transaction() as conn:
            return await notifications.failing_streak(conn, self.account)

    async def pending_notifications(self) -> list[PendingNotification]:
        """Messages claimed and never settled: their process stopped while sending."""
        async with self._transaction() as conn:
            return await notifications.pending(conn, self.account)

    # retention

    async def prune(self, *, before: datetime) -> int:
        """Delete decisions, settled audit rows, closed intents and unreferenced ticks older
        than `before`, of every account; never an open or unknown intent. Returns the rows
        deleted."""
        async with self._transaction() as conn:
            return await retention.prune(conn, before=before)


async def _record_effect(
    conn: AsyncConnection, account: str, intent: Row[Any], *, at: datetime
) -> None:
    target = TRANSITIONS[Action(intent.step)].target
    await observations.record_effect(conn, account, intent.campaign_id, target, at=at)
