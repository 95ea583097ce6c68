"""Writes that scale with change, not with the fleet (issue 11): counted statements pin
how much each store call costs, on SQLite and PostgreSQL.

- a poll of an unchanged fleet writes no status or campaign row;
- history is a fixed number of statements whatever the number of campaigns;
- a step is one transaction before its PUT and one after, with no read in either;
- when a campaign was last seen keeps its meaning without a write per poll.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic import command
from sqlalchemy import event

from lifecycle.lease import Lease
from lifecycle.metrics import Metrics
from lifecycle.model import Action, Campaign, Decision, Mode, Outcome, Status
from lifecycle.settings import LEASE_HEADROOM
from lifecycle.store import CampaignHeld, LeaseFence, Store
from lifecycle.store.batch import CHUNK
from lifecycle.store.schema import alembic_config
from tests.test_migrations import run_sync


@dataclass
class Statements:
    """The SQL the store sent, and the transactions it began."""

    sql: list[str] = field(default_factory=list)
    transactions: int = 0

    def writing(self, table: str) -> list[str]:
        """Statements that write `table` (INSERT INTO / UPDATE / DELETE FROM it)."""
        heads = (f"INSERT INTO {table} ", f"UPDATE {table} ", f"DELETE FROM {table} ")
        return [s for s in self.sql if s.lstrip().startswith(heads)]


@contextmanager
def counting(store: Store) -> Iterator[Statements]:
    seen = Statements()
    engine = store._engine.sync_engine

    def on_statement(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.sql.append(statement)

    def on_begin(_conn: Any) -> None:
        seen.transactions += 1

    event.listen(engine, "before_cursor_execute", on_statement)
    event.listen(engine, "begin", on_begin)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", on_statement)
        event.remove(engine, "begin", on_begin)


def fleet(n: int, status: Status = Status.COMPLETED) -> list[Campaign]:
    return [Campaign(id=f"c{i:05}", name=f"campaign {i}", status=status) for i in range(n)]


def decision(campaign_id: str) -> Decision:
    return Decision(
        campaign_id=campaign_id, campaign_name=f"name-{campaign_id}", status=Status.IN_PROGRESS,
        rule="pause-outside-hours", action=Action.PAUSE, steps=(Action.PAUSE,),
        mode=Mode.ENFORCE, reason="outside business-hours",
    )  # fmt: skip


async def test_a_steady_poll_writes_no_status_or_campaign_row(store: Store, now: datetime) -> None:
    await store.observe(fleet(40), at=now)
    with counting(store) as seen:
        await store.observe(fleet(40), at=now + timedelta(minutes=1))
    assert seen.writing("status_history") == [] and seen.writing("campaigns") == []
    assert len(seen.writing("polls")) == 1  # when the list was read: one row per account
    assert len(seen.sql) == 3 and seen.transactions == 1


async def test_a_poll_writes_only_what_changed(store: Store, now: datetime) -> None:
    before = fleet(40)
    await store.observe(before, at=now)
    after = list(before)
    after[3] = replace(after[3], status=Status.ARCHIVED)
    after[7] = replace(after[7], name="renamed")
    later = now + timedelta(minutes=1)
    with counting(store) as seen:
        history = await store.poll(after, at=later)
    # One statement per kind of write, each carrying only the changed campaigns: the old
    # status row stops being seen, the new one starts; the campaigns rows that moved.
    assert [s.split()[0] for s in seen.writing("status_history")] == ["UPDATE", "INSERT"]
    assert len(seen.writing("campaigns")) == 1
    assert history.status_since["c00003"] == later and history.status_since["c00004"] == now
    (newest, oldest) = await store.status_timeline("c00003")
    assert (newest.status, oldest.status) == (Status.ARCHIVED, Status.COMPLETED)
    assert (await store.latest_statuses(["c00003", "c00007"])) == {
        "c00003": Status.ARCHIVED,
        "c00007": Status.COMPLETED,
    }


@pytest.mark.parametrize("n", [10, CHUNK + 1])
async def test_history_is_four_statements_whatever_the_fleet_size(
    store: Store, now: datetime, n: int
) -> None:
    campaigns = fleet(n)
    await store.observe(campaigns, at=now)
    await store.add_hold(campaign_id="c00001", until=now + timedelta(days=1), reason="r", at=now)
    with counting(store) as seen:
        history = await store.history(at=now, campaign_ids=[c.id for c in campaigns[:-1]])
    assert len(seen.sql) == 4
    assert len(history.status_since) == n - 1 and "c00001" in history.holds
    assert f"c{n - 1:05}" not in history.status_since  # left out, though read with the rest
    with counting(store) as seen:
        polled = await store.poll(campaigns, at=now + timedelta(minutes=1))
    assert len(seen.sql) == 6 and seen.transactions == 1  # the newest rows are read once
    assert polled.status_since == {c.id: now for c in campaigns}


async def test_a_step_is_one_transaction_before_its_put_and_one_after(
    store: Store, now: datetime
) -> None:
    await store.observe([Campaign(id="c1", name="name-c1", status=Status.IN_PROGRESS)], at=now)
    lease = await store.acquire_lease(name="tick:a", owner="me", incarnation="i", ttl=timedelta(1))
    assert lease.owner == "me"
    fence = LeaseFence("tick:a", "me", "i", timedelta(seconds=30))
    tick = await store.start_tick(at=now, ruleset="sha256:x", dry_run=False)
    with counting(store) as before:
        intent = await store.open_intent(
            tick, decision=decision("c1"), step=Action.PAUSE, at=now, fence=fence, unless_held=True
        )
    with counting(store) as after:
        await store.record_outcome(intent, outcome=Outcome.SUCCEEDED, at=now, http_status=200)
    # Before: the fenced intent INSERT and its audit row. After: close the intent, its audit
    # row, and the status effect (the old status row stops being seen, the new one).
    assert (before.transactions, len(before.sql)) == (1, 2)
    assert (after.transactions, len(after.sql)) == (1, 4)
    assert all(s.lstrip().startswith(("INSERT", "UPDATE")) for s in before.sql + after.sql)
    assert [r.status for r in await store.status_timeline("c1")] == [
        Status.PAUSED,
        Status.IN_PROGRESS,
    ]
    assert [r.outcome for r in await store.audit(campaign_id="c1")] == [
        Outcome.SUCCEEDED,
        Outcome.INTENT,
    ]


async def test_a_hold_placed_since_the_plan_stops_the_intent_in_its_insert(
    store: Store, now: datetime
) -> None:
    tick = await store.start_tick(at=now, ruleset="sha256:x", dry_run=False)
    await store.add_hold(campaign_id="c1", until=now + timedelta(hours=1), reason="r", at=now)
    with pytest.raises(CampaignHeld):
        await store.open_intent(tick, decision=decision("c1"), step=Action.PAUSE, at=now,
                                unless_held=True)  # fmt: skip
    assert await store.unresolved_intents() == [] and await store.audit() == []
    later = now + timedelta(hours=2)  # the hold has ended
    await store.open_intent(tick, decision=decision("c1"), step=Action.PAUSE, at=later,
                            unless_held=True)  # fmt: skip
    assert [i.campaign_id for i in await store.unresolved_intents()] == ["c1"]


async def test_last_seen_is_the_last_list_a_campaign_was_in(store: Store, now: datetime) -> None:
    one, two, three = (now + timedelta(minutes=m) for m in (1, 2, 3))
    both = fleet(2)
    await store.observe(both, at=now)
    await store.observe(both, at=one)
    (row,) = await store.status_timeline("c00001")
    assert row.last_seen_at == one  # no write for it: it follows the list
    await store.observe(both[:1], at=two)  # c00001 missing from this list
    await store.observe(both[:1], at=three)
    (row,) = await store.status_timeline("c00001")
    assert row.last_seen_at == one
    await store.observe(both, at=three + timedelta(minutes=1))  # back
    (row,) = await store.status_timeline("c00001")
    assert row.last_seen_at == three + timedelta(minutes=1)
    (row,) = await store.status_timeline("c00000")
    assert row.last_seen_at == three + timedelta(minutes=1)


async def test_a_re_read_and_a_step_of_ours_date_last_seen_too(store: Store, now: datetime) -> None:
    running = Campaign(id="c1", name="c1", status=Status.IN_PROGRESS)
    await store.observe([running], at=now)
    reread = now + timedelta(seconds=30)
    await store.observe([running], at=reread, listing=False)
    (row,) = await store.status_timeline("c1")
    assert row.last_seen_at == reread
    tick = await store.start_tick(at=now, ruleset="sha256:x", dry_run=False)
    done = now + timedelta(minutes=1)
    intent = await store.open_intent(tick, decision=decision("c1"), step=Action.PAUSE, at=done)
    await store.record_outcome(intent, outcome=Outcome.SUCCEEDED, at=done)
    paused, was_running = await store.status_timeline("c1")
    assert (paused.status, paused.since, paused.last_seen_at) == (Status.PAUSED, done, done)
    assert (was_running.status, was_running.last_seen_at) == (Status.IN_PROGRESS, reread)
    later = done + timedelta(minutes=1)
    await store.observe([replace(running, status=Status.PAUSED)], at=later)
    paused, _ = await store.status_timeline("c1")
    assert paused.last_seen_at == later


def _lease(store: Store, ttl: timedelta) -> Lease:
    return Lease.for_account(
        "acme1", store=store, instance="a", ttl=ttl, bound=timedelta(seconds=30),
        metrics=Metrics(), zone=UTC,
    )  # fmt: skip


async def test_keep_renews_only_within_its_margin_of_expiry(store: Store) -> None:
    roomy = _lease(store, timedelta(minutes=10))
    assert await roomy.hold()
    with counting(store) as seen:
        assert await roomy.keep() and await roomy.keep()
    assert seen.sql == []  # minutes left: the fenced INSERT is the guarantee
    await roomy.release()
    # A lease no longer than what each INSERT needs is within its margin at once.
    tight = _lease(store, timedelta(seconds=30) + LEASE_HEADROOM)
    assert await tight.hold()
    with counting(store) as seen:
        assert await tight.keep()
    assert seen.sql != []
    assert not await _lease(store, timedelta(minutes=10)).keep()  # a second process: hold()


async def test_0005_keeps_the_times_of_rows_written_before_it(db_url: str) -> None:
    """Status rows from 0004 keep their last-seen times; the next poll lets the campaigns
    it sees follow the list; downgrading gives every row a time of its own again."""
    await run_sync(db_url, lambda c: command.upgrade(alembic_config(c), "0004"))
    at, seen = "2026-11-27 13:30:00.000000", "2026-11-27 13:45:00.000000"
    await run_sync(
        db_url,
        lambda c: c.exec_driver_sql(
            "INSERT INTO status_history (account, campaign_id, status, since, first_seen_at, "
            f"last_seen_at, estimated) VALUES ('', 'c1', 'paused', '{at}', '{at}', '{seen}', "
            f"false), ('', 'c2', 'paused', '{at}', '{at}', '{seen}', false)"
        ),
    )
    store = await Store.connect(db_url)
    try:
        await store.upgrade()
        (row,) = await store.status_timeline("c1")
        assert row.last_seen_at == datetime(2026, 11, 27, 13, 45, tzinfo=UTC)
        later = datetime(2026, 11, 27, 14, 0, tzinfo=UTC)
        await store.observe([Campaign(id="c1", name="c1", status=Status.PAUSED)], at=later)
        (row,) = await store.status_timeline("c1")
        assert row.last_seen_at == later
        (row,) = await store.status_timeline("c2")  # not in that list: keeps its time
        assert row.last_seen_at == datetime(2026, 11, 27, 13, 45, tzinfo=UTC)
    finally:
        await store.close()
    await run_sync(db_url, lambda c: command.downgrade(alembic_config(c), "0004"))
    rows = await run_sync(
        db_url,
        lambda c: c.exec_driver_sql(
            "SELECT campaign_id, last_seen_at FROM status_history ORDER BY campaign_id"
        ).all(),
    )
    assert [(r[0], str(r[1])[:16]) for r in rows] == [
        ("c1", "2026-11-27 14:00"),
        ("c2", "2026-11-27 13:45"),
    ]
