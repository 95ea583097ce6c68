"""Many accounts in one database: each account's rows are its own, on SQLite and Postgres;
and revision 0003 gives the rows of a single-account database to the configured account."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from alembic import command

from lifecycle.errors import ConfigError
from lifecycle.model import Action, Outcome, Plan, Status
from lifecycle.store import IntentConflict, Store
from lifecycle.store.schema import alembic_config
from tests.test_migrations import differences, run_sync
from tests.test_store import campaign, decision, skip, tick

BEFORE = "2026-11-27 13:30:00.000000"


async def test_the_same_campaign_id_in_two_accounts_is_two_campaigns(
    store: Store, now: datetime
) -> None:
    alpha, beta = store.for_account("alpha"), store.for_account("beta")
    await alpha.observe([campaign("c1", Status.IN_PROGRESS)], at=now)
    await beta.observe([campaign("c1", Status.PAUSED)], at=now + timedelta(minutes=1))
    assert [r.status for r in await alpha.status_timeline("c1")] == [Status.IN_PROGRESS]
    assert [r.status for r in await beta.status_timeline("c1")] == [Status.PAUSED]

    # One step in flight per campaign *of an account*: beta's c1 is not alpha's.
    first = await alpha.open_intent(await tick(alpha, now), decision=decision("c1"),
                                    step=Action.PAUSE, at=now)  # fmt: skip
    second = await beta.open_intent(await tick(beta, now), decision=decision("c1"),
                                    step=Action.PAUSE, at=now)  # fmt: skip
    with pytest.raises(IntentConflict):
        await alpha.open_intent(await tick(alpha, now), decision=decision("c1"),
                                step=Action.PAUSE, at=now)  # fmt: skip
    assert [i.id for i in await alpha.unresolved_intents()] == [first]
    assert [i.id for i in await beta.unresolved_intents()] == [second]
    assert (await alpha.history(at=now)).open_intents == {"c1"}

    await alpha.record_outcome(first, outcome=Outcome.SUCCEEDED, at=now)
    assert [r.outcome for r in await alpha.audit()] == [Outcome.SUCCEEDED, Outcome.INTENT]
    assert [r.outcome for r in await beta.audit()] == [Outcome.INTENT]
    assert (await alpha.history(at=now)).actions.keys() == {"c1"}
    assert (await beta.history(at=now)).actions == {}
    # An intent id from another account is not this account's to close.
    with pytest.raises(Exception, match="not open"):
        await alpha.record_outcome(second, outcome=Outcome.FAILED, at=now)


async def test_holds_decisions_and_ticks_are_per_account(store: Store, now: datetime) -> None:
    alpha, beta = store.for_account("alpha"), store.for_account("beta")
    until = now + timedelta(days=1)
    await alpha.add_hold(campaign_id="c1", until=until, reason="alpha's", at=now)
    await beta.add_hold(campaign_id="c1", until=until, reason="beta's", at=now)
    assert [h.reason for h in await alpha.holds(at=now)] == ["alpha's"]
    assert await beta.release_hold("c1", at=now)
    assert [h.reason for h in await alpha.holds(at=now)] == ["alpha's"]
    assert await beta.holds(at=now) == []

    plan = Plan(at=now, ruleset="sha256:abc", decisions=(decision("c1"),),
                skipped=(skip("c1", "held"),))  # fmt: skip
    await alpha.record_plan(await tick(alpha, now), plan)
    assert len(await alpha.decisions(campaign_id="c1")) == 2
    assert await beta.decisions(campaign_id="c1") == []
    assert [r.outcome for r in await alpha.audit()] == [Outcome.SKIPPED]
    assert await beta.audit() == []
    assert (await alpha.last_tick()) is not None and await beta.last_tick() is None


async def _rows_under_0002(db_url: str) -> None:
    """A single-account database as revision 0002 left it: one of each kind of row."""
    await run_sync(db_url, lambda c: command.upgrade(alembic_config(c), "0002"))
    statements = (
        "INSERT INTO ticks (id, started_at, ruleset, dry_run) "
        f"VALUES (1, '{BEFORE}', 'sha256:x', false)",
        "INSERT INTO campaigns (id, name, status, last_seen_at) "
        f"VALUES ('c1', 'evening', 'paused', '{BEFORE}')",
        "INSERT INTO status_history (campaign_id, status, since, first_seen_at, last_seen_at, "
        f"estimated) VALUES ('c1', 'paused', '{BEFORE}', '{BEFORE}', '{BEFORE}', false)",
        "INSERT INTO decisions (tick_id, at, campaign_id, campaign_name, status, rule, action, "
        f"steps, mode, kind, reason, ruleset) VALUES (1, '{BEFORE}', 'c1', 'evening', "
        "'in-progress', 'r', 'pause', 'pause', 'enforce', 'action', 'x', 'sha256:x')",
        "INSERT INTO intents (id, tick_id, campaign_id, campaign_name, rule, action, step, mode, "
        "reason, ruleset, state, created_at, closed_at, owner) VALUES (1, 1, 'c1', 'evening', "
        f"'r', 'pause', 'pause', 'enforce', 'x', 'sha256:x', 'succeeded', '{BEFORE}', "
        f"'{BEFORE}', 'host:default')",
        "INSERT INTO audit (at, tick_id, intent_id, campaign_id, campaign_name, rule, action, "
        f"step, outcome, reason, ruleset, mode) VALUES ('{BEFORE}', 1, 1, 'c1', 'evening', 'r', "
        "'pause', 'pause', 'intent', 'x', 'sha256:x', 'enforce')",
        "INSERT INTO audit (at, tick_id, intent_id, campaign_id, campaign_name, rule, action, "
        f"step, outcome, http_status, reason, ruleset, mode) VALUES ('{BEFORE}', 1, 1, 'c1', "
        "'evening', 'r', 'pause', 'pause', 'succeeded', 200, 'x', 'sha256:x', 'enforce')",
        "INSERT INTO holds (campaign_id, until, reason, created_at) "
        "VALUES ('c1', '2126-01-01 00:00:00', 'kept', '2026-11-27 13:30:00')",
    )
    await run_sync(db_url, lambda c: [c.exec_driver_sql(s) for s in statements])


async def test_0003_gives_every_existing_row_to_the_configured_account(
    db_url: str, now: datetime
) -> None:
    await _rows_under_0002(db_url)
    root = await Store.connect(db_url, account="acme1")
    try:
        await root.upgrade()
        await root.ensure_current()
        rows = await root.audit()
        assert [(r.outcome, r.intent_id, r.owner) for r in rows] == [
            (Outcome.SUCCEEDED, 1, "host:default"),
            (Outcome.INTENT, 1, "host:default"),
        ]
        assert [d.rule for d in await root.decisions(campaign_id="c1")] == ["r"]
        assert [h.reason for h in await root.holds(at=now)] == ["kept"]
        assert [s.status for s in await root.status_timeline("c1")] == [Status.PAUSED]
        history = await root.history(at=datetime.fromisoformat(BEFORE + "+00:00"))
        assert history.actions.keys() == {"c1"}
        last = await root.last_tick()
        assert last is not None and last.id == 1
        other = root.for_account("other")
        assert await other.audit() == [] and await other.holds(at=now) == []
    finally:
        await root.close()
    assert await run_sync(db_url, differences) == []
    # And back: 0003 downgrades with its rows.
    await run_sync(db_url, lambda c: command.downgrade(alembic_config(c), "0002"))
    count = await run_sync(db_url, lambda c: c.exec_driver_sql("SELECT count(*) FROM audit"))
    assert count.scalar_one() == 2


async def test_0003_will_not_guess_whose_rows_they_are(db_url: str) -> None:
    await _rows_under_0002(db_url)
    nobody = await Store.connect(db_url)
    try:
        with pytest.raises(ConfigError) as caught:
            await nobody.upgrade()
        assert "name the Exotel account they belong to" in str(caught.value)
        assert "ticks, campaigns, status_history, decisions, intents, audit, holds" in str(
            caught.value
        )
    finally:
        await nobody.close()
    # Nothing was changed: the upgrade still works once told.
    named = await Store.connect(db_url, account="acme1")
    try:
        await named.upgrade()
        assert len(await named.audit()) == 2
    finally:
        await named.close()


async def test_an_empty_database_needs_no_account(db_url: str) -> None:
    nobody = await Store.connect(db_url)
    try:
        await nobody.upgrade()
        await nobody.ensure_current()
    finally:
        await nobody.close()
