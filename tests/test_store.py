"""The store, on SQLite and on PostgreSQL (every test runs on both via `db_url`)."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from lifecycle.errors import ConfigError, StoreUnavailable
from lifecycle.model import (
    Action,
    ActionRecord,
    Campaign,
    Decision,
    Mode,
    Outcome,
    Plan,
    Skip,
    SkipKind,
    Status,
)
from lifecycle.store import IntentConflict, IntentNotOpen, IntentState, Store, Tick
from lifecycle.store.database import parse_url, safe_url
from lifecycle.store.tables import status_history
from tests.fixtures.db import expire_lease

IST = timezone(timedelta(hours=5, minutes=30))
RULESET = "sha256:abc"


def campaign(cid: str, status: Status, *, updated: datetime | None = None) -> Campaign:
    return Campaign(id=cid, name=f"name-{cid}", status=status, date_updated=updated)


def decision(
    cid: str, *, rule: str = "pause-outside-hours", action: Action = Action.PAUSE
) -> Decision:
    return Decision(
        campaign_id=cid,
        campaign_name=f"name-{cid}",
        status=Status.IN_PROGRESS,
        rule=rule,
        action=action,
        steps=(action,),
        mode=Mode.ENFORCE,
        reason="outside business-hours",
    )


def skip(cid: str, reason: str, *, kind: SkipKind = SkipKind.SKIPPED) -> Skip:
    return Skip(cid, f"name-{cid}", "resume-in-hours", Action.RESUME, reason, kind)


async def tick(store: Store, at: datetime, *, dry_run: bool = False) -> Tick:
    return await store.start_tick(at=at, ruleset=RULESET, dry_run=dry_run)


# UtcDateTime at the edge


async def test_instants_round_trip_as_aware_utc(store: Store, now: datetime) -> None:
    until = datetime(2026, 11, 28, 9, 30, 0, 123456, tzinfo=IST)
    await store.add_hold(campaign_id="c1", until=until, reason="audit", at=now)
    (hold,) = await store.holds(at=now)
    assert hold.until == until
    assert hold.until.tzinfo == UTC
    assert hold.until.hour == 4  # 09:30 IST is 04:00 UTC: converted, not relabelled
    assert hold.created_at == now


async def test_naive_datetime_is_refused(store: Store, now: datetime) -> None:
    with pytest.raises(ValueError, match="naive"):
        await store.add_hold(campaign_id="c1", until=datetime(2026, 12, 1), reason="x", at=now)
    assert await store.holds(at=now) == []


# observations → status history


async def test_first_sighting_is_a_lower_bound_whatever_date_updated_says(
    store: Store, now: datetime
) -> None:
    """date_updated may not move when the status does (docs/exotel-api.md): the store records
    the first sight, marked as such, and leaves trusting date_updated to the rules file."""
    created_only = Campaign(
        id="c2", name="n", status=Status.PAUSED, date_created=now - timedelta(1)
    )
    future = campaign("c4", Status.PAUSED, updated=now + timedelta(hours=1))
    await store.observe(
        [
            campaign("c1", Status.COMPLETED, updated=now - timedelta(days=3)),
            created_only,
            campaign("c3", Status.PAUSED),
            future,
        ],
        at=now,
    )
    history = await store.history(at=now)
    assert history.status_since == dict.fromkeys(("c1", "c2", "c3", "c4"), now)
    assert history.first_seen_in_status == {"c1", "c2", "c3", "c4"}
    (row,) = await store.status_timeline("c1")
    assert row.estimated and row.status == Status.COMPLETED
    assert row.since == row.first_seen_at == now


async def test_an_observed_change_is_no_longer_a_first_sight(store: Store, now: datetime) -> None:
    later = now + timedelta(minutes=1)
    await store.observe([campaign("c1", Status.IN_PROGRESS)], at=now)
    await store.observe([campaign("c1", Status.PAUSED)], at=later)
    history = await store.history(at=later)
    assert (history.status_since, history.first_seen_in_status) == ({"c1": later}, frozenset())


async def test_a_first_sight_row_written_with_date_updated_reads_as_its_first_sight(
    store: Store, now: datetime
) -> None:
    """Rows from before first sight became the rule hold date_updated in `since`."""
    old = {"campaign_id": "c1", "status": "completed", "since": now - timedelta(days=9),
           "first_seen_at": now, "last_seen_at": now, "estimated": True}  # fmt: skip
    async with store._transaction() as conn:
        await conn.execute(status_history.insert(), [old])
    history = await store.history(at=now)
    assert (history.status_since, history.first_seen_in_status) == ({"c1": now}, {"c1"})
    (row,) = await store.status_timeline("c1")
    assert row.since == now


async def test_status_change_starts_a_new_row(store: Store, now: datetime) -> None:
    await store.observe([campaign("c1", Status.IN_PROGRESS, updated=now - timedelta(1))], at=now)
    later, change = now + timedelta(minutes=1), now + timedelta(minutes=2)
    await store.observe([campaign("c1", Status.IN_PROGRESS, updated=later)], at=later)
    assert (await store.history(at=later)).status_since["c1"] == now
    await store.observe([campaign("c1", Status.PAUSED, updated=later)], at=change)
    assert (await store.history(at=change)).status_since["c1"] == change
    newest, oldest = await store.status_timeline("c1")
    assert (newest.status, newest.since, newest.estimated) == (Status.PAUSED, change, False)
    assert (oldest.status, oldest.last_seen_at, oldest.estimated) == (
        Status.IN_PROGRESS,
        later,
        True,
    )


async def test_history_can_be_limited_to_some_campaigns(store: Store, now: datetime) -> None:
    await store.observe([campaign(c, Status.PAUSED) for c in ("a", "b", "c")], at=now)
    assert set((await store.history(at=now, campaign_ids=["a", "c"])).status_since) == {"a", "c"}


async def test_history_in_bulk_for_a_thousand_campaigns(store: Store, now: datetime) -> None:
    fleet = [
        campaign(f"c{i:04}", Status.IN_PROGRESS, updated=now - timedelta(minutes=i))
        for i in range(1000)
    ]
    await store.observe(fleet, at=now)
    changed = [replace(c, status=Status.PAUSED) if i % 3 == 0 else c for i, c in enumerate(fleet)]
    later = now + timedelta(minutes=1)
    await store.observe(changed, at=later)
    t = await tick(store, later)
    blocked = await store.open_intent(t, decision=decision("c0001"), step=Action.PAUSE, at=later)
    done = await store.open_intent(t, decision=decision("c0002"), step=Action.PAUSE, at=later)
    await store.record_outcome(done, outcome=Outcome.SUCCEEDED, at=later)
    await store.add_hold(campaign_id="c0999", until=later + timedelta(1), reason="x", at=later)

    history = await store.history(at=later, campaign_ids=[c.id for c in fleet])

    assert len(history.status_since) == 1000
    for i in (0, 1, 2, 3, 998, 999):
        # Every third was seen paused at `later`; c0002 was paused by our step at `later`;
        # the rest are as first seen, at `now`.
        expected = later if i % 3 == 0 or i == 2 else now
        assert history.status_since[f"c{i:04}"] == expected
    assert history.first_seen_in_status == {c.id for c in fleet} - {"c0002"} - {
        c.id for c in changed if c.status == Status.PAUSED
    }
    assert history.open_intents == frozenset({"c0001"})
    assert set(history.actions) == {"c0002"}
    assert set(history.holds) == {"c0999"}
    assert blocked != done


# intents and outcomes


async def test_succeeded_step_appears_in_history(store: Store, now: datetime) -> None:
    t = await tick(store, now)
    intent = await store.open_intent(t, decision=decision("c1"), step=Action.PAUSE, at=now)
    assert (await store.history(at=now)).open_intents == frozenset({"c1"})
    done_at = now + timedelta(seconds=2)
    await store.record_outcome(
        intent, outcome=Outcome.SUCCEEDED, at=done_at, http_status=200, request_id="r-1"
    )
    history = await store.history(at=done_at)
    assert history.open_intents == frozenset()
    assert history.last_action("c1") == ActionRecord(
        "c1", "pause-outside-hours", Action.PAUSE, now, RULESET, done_at=done_at
    )
    # The step's effect starts the status history, so a later change by hand shows after it.
    assert history.status_since["c1"] == done_at
    (row,) = await store.status_timeline("c1")
    assert (row.status, row.since, row.estimated) == (Status.PAUSED, done_at, False)
    outcome, opened = await store.audit(campaign_id="c1")
    assert (opened.outcome, opened.step, opened.tick_id, opened.ruleset) == (
        Outcome.INTENT,
        Action.PAUSE,
        t.id,
        RULESET,
    )
    assert (outcome.outcome, outcome.http_status, outcome.request_id) == (
        Outcome.SUCCEEDED,
        200,
        "r-1",
    )
    assert outcome.reason == opened.reason == "outside business-hours"


async def test_failed_step_is_not_an_action(store: Store, now: datetime) -> None:
    t = await tick(store, now)
    intent = await store.open_intent(t, decision=decision("c1"), step=Action.PAUSE, at=now)
    await store.record_outcome(
        intent, outcome=Outcome.FAILED, at=now, http_status=409, error="illegal"
    )
    history = await store.history(at=now)
    assert history.actions == {} and history.open_intents == frozenset()
    assert (await store.audit(limit=1))[0].error == "illegal"


async def test_unknown_outcome_keeps_blocking_until_resolved(store: Store, now: datetime) -> None:
    t = await tick(store, now)
    step = decision("c1", rule="complete-after-end", action=Action.COMPLETE)
    intent = await store.open_intent(t, decision=step, step=Action.PAUSE, at=now)
    await store.record_outcome(intent, outcome=Outcome.UNKNOWN, at=now, error="timeout")

    assert (await store.history(at=now)).open_intents == frozenset({"c1"})
    (pending,) = await store.unresolved_intents()
    assert (pending.id, pending.campaign_id) == (intent, "c1")
    assert pending.state is IntentState.UNKNOWN
    assert (pending.action, pending.step, pending.expected) == (
        Action.COMPLETE,
        Action.PAUSE,
        Status.PAUSED,
    )
    with pytest.raises(IntentConflict):
        await store.open_intent(t, decision=step, step=Action.PAUSE, at=now)

    later = now + timedelta(minutes=1)
    await store.resolve_intent(
        intent, outcome=Outcome.SUCCEEDED, at=later, error="campaign is paused"
    )
    assert await store.unresolved_intents() == []
    assert (await store.history(at=later)).last_action("c1") is not None
    resolved = (await store.audit(campaign_id="c1", limit=1))[0]
    assert (resolved.outcome, resolved.reason) == (
        Outcome.SUCCEEDED,
        "resolved by re-reading: campaign is paused",
    )
    assert (resolved.rule, resolved.action, resolved.step) == (
        "complete-after-end",
        Action.COMPLETE,
        Action.PAUSE,
    )
    with pytest.raises(IntentNotOpen):
        await store.resolve_intent(intent, outcome=Outcome.FAILED, at=later)


async def test_unresolved_intents_oldest_first(store: Store, now: datetime) -> None:
    t = await tick(store, now)
    second = await store.open_intent(
        t, decision=decision("b"), step=Action.PAUSE, at=now + timedelta(1)
    )
    first = await store.open_intent(t, decision=decision("a"), step=Action.PAUSE, at=now)
    assert [i.id for i in await store.unresolved_intents()] == [first, second]
    assert {i.state for i in await store.unresolved_intents()} == {IntentState.OPEN}


async def test_one_unresolved_intent_per_campaign(store: Store, now: datetime) -> None:
    t = await tick(store, now)
    first = await store.open_intent(t, decision=decision("c1"), step=Action.PAUSE, at=now)
    with pytest.raises(IntentConflict):
        await store.open_intent(t, decision=decision("c1"), step=Action.PAUSE, at=now)
    await store.open_intent(t, decision=decision("c2"), step=Action.PAUSE, at=now)
    await store.record_outcome(first, outcome=Outcome.SUCCEEDED, at=now)
    await store.open_intent(t, decision=decision("c1"), step=Action.COMPLETE, at=now)
    assert [r.outcome for r in await store.audit(campaign_id="c1")].count(Outcome.INTENT) == 2


async def test_open_intent_is_committed_before_it_returns(
    store: Store, db_url: str, now: datetime
) -> None:
    t = await tick(store, now)
    intent = await store.open_intent(t, decision=decision("c1"), step=Action.PAUSE, at=now)
    other = await Store.connect(db_url)
    try:
        assert [i.id for i in await other.unresolved_intents()] == [intent]
    finally:
        await other.close()


async def test_outcome_must_be_a_result(store: Store, now: datetime) -> None:
    t = await tick(store, now)
    intent = await store.open_intent(t, decision=decision("c1"), step=Action.PAUSE, at=now)
    with pytest.raises(ValueError, match="succeeded, failed or unknown"):
        await store.record_outcome(intent, outcome=Outcome.SKIPPED, at=now)
    await store.record_outcome(intent, outcome=Outcome.FAILED, at=now)
    with pytest.raises(IntentNotOpen):
        await store.record_outcome(intent, outcome=Outcome.SUCCEEDED, at=now)


async def test_actions_within_lookback_newest_fifty(store: Store, now: datetime) -> None:
    t = await tick(store, now)
    for minutes in range(55):
        at = now - timedelta(minutes=55 - minutes)
        intent = await store.open_intent(t, decision=decision("c1"), step=Action.PAUSE, at=at)
        await store.record_outcome(intent, outcome=Outcome.SUCCEEDED, at=at)
    records = (await store.history(at=now)).actions["c1"]
    assert [r.at for r in records] == [now - timedelta(minutes=m) for m in range(50, 0, -1)]
    recent = await store.history(at=now, lookback=timedelta(minutes=10))
    assert len(recent.actions["c1"]) == 10


# dry runs, decisions, skipped rows


async def test_dry_run_writes_audit_only(store: Store, now: datetime) -> None:
    t = await tick(store, now, dry_run=True)
    assert await store.record_dry_run(t, decision("c1"))
    (row,) = await store.audit()
    assert (row.outcome, row.step, row.mode, row.tick_id, row.at, row.ruleset) == (
        Outcome.DRY_RUN,
        Action.PAUSE,
        Mode.ENFORCE,
        t.id,
        now,
        RULESET,
    )
    assert await store.unresolved_intents() == []
    assert (await store.history(at=now)).open_intents == frozenset()


async def test_dry_run_is_written_once_per_episode(store: Store, now: datetime) -> None:
    two_steps = replace(
        decision("c1", rule="complete", action=Action.COMPLETE),
        steps=(Action.PAUSE, Action.COMPLETE),
    )
    assert await store.record_dry_run(await tick(store, now, dry_run=True), two_steps)
    later = await tick(store, now + timedelta(minutes=1), dry_run=True)
    assert not await store.record_dry_run(later, two_steps)
    assert [r.step for r in await store.audit()] == [Action.COMPLETE, Action.PAUSE]
    # Another outcome in between (here a skip) starts a new episode.
    skipped = Skip("c1", "name-c1", "complete", Action.COMPLETE, "held until Monday")
    await store.record_plan(later, Plan(at=later.at, ruleset=RULESET, skipped=(skipped,)))
    again = await tick(store, now + timedelta(minutes=2), dry_run=True)
    assert await store.record_dry_run(again, two_steps)
    assert len(await store.audit()) == 5


async def test_plan_is_recorded_for_why(store: Store, now: datetime) -> None:
    complete = replace(
        decision("c1", rule="complete", action=Action.COMPLETE),
        steps=(Action.PAUSE, Action.COMPLETE),
    )
    shadowed = Skip(
        "c1",
        "name-c1",
        "pause-outside-hours",
        Action.PAUSE,
        "complete matched first",
        SkipKind.SHADOWED,
    )
    t1 = await tick(store, now)
    await store.record_plan(
        t1, Plan(at=now, ruleset=RULESET, decisions=(complete,), skipped=(shadowed,))
    )
    later = now + timedelta(minutes=1)
    t2 = await tick(store, later)
    await store.record_plan(
        t2, Plan(at=later, ruleset=RULESET, skipped=(skip("c1", "intent open"),))
    )

    newest, *older = await store.decisions(campaign_id="c1")
    assert (newest.kind, newest.at, newest.reason, newest.tick_id) == (
        "skipped",
        later,
        "intent open",
        t2.id,
    )
    assert {(d.kind, d.rule) for d in older} == {
        ("action", "complete"),
        ("shadowed", "pause-outside-hours"),
    }
    action = next(d for d in older if d.kind == "action")
    assert (action.steps, action.mode, action.status) == (
        (Action.PAUSE, Action.COMPLETE),
        Mode.ENFORCE,
        Status.IN_PROGRESS,
    )
    assert {d.tick_id for d in await store.decisions(campaign_id="c1", until=now)} == {t1.id}
    assert len(await store.decisions(campaign_id="c1", limit=1)) == 1
    # Only the skipped one reaches the audit trail; shadowed rules live in decisions.
    assert [r.outcome for r in await store.audit()] == [Outcome.SKIPPED]


async def test_repeated_skip_is_audited_once(store: Store, now: datetime) -> None:
    async def poll(at: datetime, *skips: Skip) -> None:
        await store.record_plan(await tick(store, at), Plan(at=at, ruleset=RULESET, skipped=skips))

    respected = "manual change respected until 2026-11-28T09:30:00+05:30"
    for minute in range(3):
        await poll(now + timedelta(minutes=minute), skip("c1", respected), skip("c2", respected))
    assert len(await store.audit(campaign_id="c1")) == 1
    await poll(now + timedelta(minutes=3), skip("c1", "max actions per tick reached"))
    await poll(now + timedelta(minutes=4), skip("c1", respected))
    assert [r.reason for r in await store.audit(campaign_id="c1")] == [
        respected,
        "max actions per tick reached",
        respected,
    ]
    assert len(await store.audit(campaign_id="c2")) == 1


# the audit query


async def test_audit_filters_order_and_json(store: Store, now: datetime) -> None:
    rows = [("c1", "r1", Action.PAUSE), ("c2", "r1", Action.PAUSE), ("c1", "r2", Action.PAUSE)]
    for minute, (cid, rule, action) in enumerate([*rows, ("c1", "r1", Action.ARCHIVE)]):
        t = await tick(store, now + timedelta(minutes=minute), dry_run=True)
        await store.record_dry_run(t, decision(cid, rule=rule, action=action))

    assert [r.at for r in await store.audit()] == [now + timedelta(minutes=m) for m in (3, 2, 1, 0)]
    assert [(r.campaign_id, r.rule) for r in await store.audit(campaign_id="c1", rule="r1")] == [
        ("c1", "r1")
    ] * 2
    assert len(await store.audit(since=now + timedelta(minutes=2))) == 2
    assert len(await store.audit(limit=3)) == 3
    row = (await store.audit(limit=1))[0].to_json()
    assert set(row) == {
        "intent_id",
        "owner",
        "at",
        "campaign_id",
        "rule",
        "action",
        "step",
        "outcome",
        "http_status",
        "request_id",
        "error",
        "ruleset",
        "reason",
        "mode",
    }
    assert row["at"] == "2026-11-27T13:33:00+00:00"
    assert (row["outcome"], row["step"], row["mode"], row["ruleset"]) == (
        "dry-run",
        "archive",
        "enforce",
        RULESET,
    )


# ticks


async def test_ticks(store: Store, now: datetime) -> None:
    await store.ping()
    assert await store.last_tick() is None
    first = await tick(store, now)
    second = await tick(store, now + timedelta(minutes=1))
    await store.finish_tick(
        second, at=now + timedelta(minutes=1, seconds=3), campaigns=7, actions=2, error=None
    )
    last = await store.last_tick()
    assert last is not None and last.id == second.id != first.id
    assert (last.campaigns, last.actions, last.error, last.dry_run) == (7, 2, None, False)
    assert last.finished_at == now + timedelta(minutes=1, seconds=3)


# holds


async def test_holds_add_replace_release_expire(store: Store, now: datetime) -> None:
    await store.add_hold(
        campaign_id="c1", until=now + timedelta(hours=1), reason="client asked", at=now
    )
    await store.add_hold(
        campaign_id="c1", until=now + timedelta(hours=5), reason="extended", at=now
    )
    await store.add_hold(campaign_id="c2", until=now + timedelta(hours=2), reason="x", at=now)
    assert [(h.campaign_id, h.reason) for h in await store.holds(at=now)] == [
        ("c1", "extended"),
        ("c2", "x"),
    ]
    assert set((await store.history(at=now)).holds) == {"c1", "c2"}
    in_three_hours = now + timedelta(hours=3)
    assert [h.campaign_id for h in await store.holds(at=in_three_hours)] == ["c1"]
    assert await store.release_hold("c1", at=now) is True
    assert await store.release_hold("c1", at=now) is False
    assert await store.release_hold("c2", at=in_three_hours) is False  # had expired already
    assert await store.holds(at=now) == []


# leases


async def test_lease_excludes_others_until_expiry(store: Store, db_url: str) -> None:
    ttl = timedelta(minutes=2)
    assert (
        await store.acquire_lease(name="tick:A", owner="one", incarnation="1", ttl=ttl)
    ).held_by("one", "1")
    taken = await store.acquire_lease(name="tick:A", owner="two", incarnation="2", ttl=ttl)
    assert not taken.held_by("two", "2") and taken.owner == "one"
    other = await store.acquire_lease(name="tick:B", owner="two", incarnation="2", ttl=ttl)
    assert other.held_by("two", "2")  # another name
    renewed = await store.acquire_lease(name="tick:A", owner="one", incarnation="1", ttl=ttl)
    assert renewed.held_by("one", "1")
    # by the database's clock, in the statement: expiry is renewal + ttl
    assert renewed.expires_at - renewed.renewed_at == ttl
    assert renewed.renewed_at <= renewed.db_now < renewed.expires_at

    await expire_lease(db_url, "tick:A")
    assert (
        await store.acquire_lease(name="tick:A", owner="two", incarnation="2", ttl=ttl)
    ).held_by("two", "2")
    lost = await store.acquire_lease(name="tick:A", owner="one", incarnation="1", ttl=ttl)
    assert not lost.held_by("one", "1")


async def test_lease_is_renewed_only_by_its_own_incarnation(store: Store) -> None:
    ttl = timedelta(minutes=2)
    await store.acquire_lease(name="tick:A", owner="h:default", incarnation="pid=1", ttl=ttl)
    twin = await store.acquire_lease(name="tick:A", owner="h:default", incarnation="pid=2", ttl=ttl)
    assert not twin.held_by("h:default", "pid=2") and twin.incarnation == "pid=1"
    # the caller proved pid=1 dead: it takes over at once, before the expiry
    resumed = await store.acquire_lease(
        name="tick:A", owner="h:default", incarnation="pid=2", ttl=ttl, replacing="pid=1"
    )
    assert resumed.held_by("h:default", "pid=2")
    # `replacing` names the holder it replaces: it never takes another owner's lease
    again = await store.acquire_lease(
        name="tick:A", owner="other", incarnation="pid=3", ttl=ttl, replacing="pid=2"
    )
    assert again.owner == "h:default"


async def test_lease_release(store: Store) -> None:
    ttl = timedelta(minutes=2)
    assert (
        await store.acquire_lease(name="tick:A", owner="one", incarnation="1", ttl=ttl)
    ).held_by("one", "1")
    await store.release_lease(name="tick:A", owner="two", incarnation="2")  # not theirs
    await store.release_lease(name="tick:A", owner="one", incarnation="9")  # not this process
    taken = await store.acquire_lease(name="tick:A", owner="two", incarnation="2", ttl=ttl)
    assert not taken.held_by("two", "2")
    await store.release_lease(name="tick:A", owner="one", incarnation="1")
    assert (
        await store.acquire_lease(name="tick:A", owner="two", incarnation="2", ttl=ttl)
    ).held_by("two", "2")
    assert await store.lease("tick:none") is None


async def test_lease_race_has_one_winner(store: Store, db_url: str) -> None:
    daemons = [await Store.connect(db_url) for _ in range(4)]
    try:
        rows = await asyncio.gather(
            *(
                d.acquire_lease(
                    name="tick:A", owner=f"daemon-{i}", incarnation="1", ttl=timedelta(minutes=1)
                )
                for i, d in enumerate(daemons)
            )
        )
    finally:
        for d in daemons:
            await d.close()
    won = [row.held_by(f"daemon-{i}", "1") for i, row in enumerate(rows)]
    assert sorted(won) == [False, False, False, True]


# retention


async def test_prune_keeps_unresolved_intents(store: Store, now: datetime) -> None:
    old = now - timedelta(days=100)
    t = await tick(store, old)
    await store.record_plan(t, Plan(at=old, ruleset=RULESET, decisions=(decision("done"),)))
    closed = await store.open_intent(t, decision=decision("done"), step=Action.PAUSE, at=old)
    await store.record_outcome(closed, outcome=Outcome.SUCCEEDED, at=old)
    stuck = await store.open_intent(t, decision=decision("stuck"), step=Action.PAUSE, at=old)
    await store.record_outcome(stuck, outcome=Outcome.UNKNOWN, at=old)
    recent = await tick(store, now)
    await store.record_dry_run(recent, decision("new"))

    deleted = await store.prune(before=now - timedelta(days=90))

    assert deleted == 4  # 1 decision, 2 audit rows and the closed intent; the tick stays
    assert [i.id for i in await store.unresolved_intents()] == [stuck]
    assert [r.outcome for r in await store.audit(campaign_id="stuck")] == [
        Outcome.UNKNOWN,
        Outcome.INTENT,
    ]
    assert await store.audit(campaign_id="done") == []
    assert await store.decisions(campaign_id="done") == []
    assert len(await store.audit(campaign_id="new")) == 1
    assert await store.prune(before=now - timedelta(days=90)) == 0


# failures


async def test_unreachable_database_is_store_unavailable_without_password(tmp_path: Path) -> None:
    for url in (
        "postgresql+asyncpg://lifecycle:s3cr3t-pw@127.0.0.1:1/lifecycle",
        "postgresql+asyncpg://lifecycle@127.0.0.1:1/lifecycle?password=s3cr3t-pw",
        f"sqlite+aiosqlite:///{tmp_path}/missing/dir/lifecycle.db",
    ):
        store = await Store.connect(url)
        try:
            with pytest.raises(StoreUnavailable):
                await store.ping()
            with pytest.raises(StoreUnavailable) as caught:
                await store.last_tick()
        finally:
            await store.close()
        assert "s3cr3t-pw" not in str(caught.value)
        assert "unavailable" in str(caught.value)
    await sqlite_workers_stopped()


async def sqlite_workers_stopped() -> None:
    """Wait for aiosqlite's worker threads to finish while this test's loop still runs.

    After a failed connect, aiosqlite stops its worker thread without awaiting it; if the
    loop closes first, the thread's last callback fails noisily after the test.
    """
    for thread in threading.enumerate():
        if "_connection_worker_thread" in thread.name:
            await asyncio.to_thread(thread.join, 5)


async def test_unsupported_url_is_a_config_error_without_password() -> None:
    with pytest.raises(ConfigError, match="sqlite\\+aiosqlite, postgresql\\+asyncpg") as caught:
        await Store.connect("mysql+pymysql://lifecycle:s3cr3t-pw@db/lifecycle")
    assert "s3cr3t-pw" not in str(caught.value)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("postgresql+asyncpg://u:s3cr3t-pw@db:abc/x", "unreadable host or port"),
        ("postgresql+asyncpg://u:s3cr3t-pw@[::1/x", "unreadable host or port"),
        ("postgresql+asyncpg://u:s3cr3t-pw@db:99999/x", "port 99999 is not in 1-65535"),
        ("postgresql+asyncpg://u:s3cr3t-pw@db/x?sslmode=sure", "sslmode must be one of"),
    ],
)
async def test_a_malformed_database_url_is_a_config_error(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        await Store.connect(url)
    assert "s3cr3t-pw" not in str(caught.value)


def test_sslmode_is_read_as_asyncpg_ssl_and_a_query_password_is_hidden() -> None:
    url = parse_url("postgresql+asyncpg://u@db/x?sslmode=require&password=s3cr3t-pw")
    assert url.query["ssl"] == "require" and "sslmode" not in url.query
    assert safe_url(url) == "postgresql+asyncpg://u@db/x?password=***&ssl=require"
