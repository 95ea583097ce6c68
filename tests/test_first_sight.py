"""Time in status for a campaign the daemon first sees already in it, end to end: the
simulator over loopback, a real store (SQLite and Postgres), a FixedClock moved by hand.

`date_updated` may not move when the status does (docs/exotel-api.md), so by default a
campaign first seen `completed` counts its time from that first sight, a lower bound;
only a rules file with `trust_date_updated: true` reads `date_updated`.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from lifecycle import engine
from lifecycle.client import ExotelClient
from lifecycle.clock import FixedClock
from lifecycle.cycle import Reconciler
from lifecycle.model import Status
from lifecycle.rules import Ruleset, load_rules, parse_rules
from lifecycle.simulator import Simulator
from lifecycle.store import Store

SHIPPED_PATH = Path(__file__).parents[1] / "rules.yaml"
SHIPPED = load_rules(SHIPPED_PATH)
TRUSTING = parse_rules(
    SHIPPED_PATH.read_text().replace("\nrules:\n", "\ntrust_date_updated: true\n\nrules:\n", 1),
    filename="trusting.yaml",
)
WEEK = timedelta(days=7)


def daemon(client: ExotelClient, store: Store, clock: FixedClock, rules: Ruleset) -> Reconciler:
    return Reconciler(client=client, store=store, ruleset=lambda: rules, clock=clock)


def completed_long_ago(sim: Simulator) -> str:
    """Completed, by its date_updated, 30 days before the daemon first looks."""
    now = sim.clock.now()
    return sim.add_campaign(
        name="old-completed", status=Status.COMPLETED, numbers=10, done=10,
        date_created=now - timedelta(days=40), date_updated=now - timedelta(days=30),
    )  # fmt: skip


async def test_first_seen_completed_is_archived_7_days_after_first_sight_not_before(
    sim: Simulator, sim_clock: FixedClock, client: ExotelClient, store: Store
) -> None:
    cid = completed_long_ago(sim)
    reconciler = daemon(client, store, sim_clock, SHIPPED)
    first_sight = sim_clock.now()

    first = await reconciler.tick()
    assert first.ok and first.sent == 0
    assert sim.campaign(cid).status == Status.COMPLETED
    # What `why` shows: a lower bound from the first sight, not date_updated.
    history = await store.history(at=first_sight)
    (campaign,) = await client.list_campaigns()
    verdicts = engine.explain(campaign, SHIPPED, history, first_sight)
    (archive,) = [v for v in verdicts if v.rule == "archive-completed"]
    assert not archive.matched
    assert archive.reason == ("completed for ≥ 0s (< 7d), first seen 2026-11-27T19:00:00+05:30")

    sim_clock.advance(WEEK - timedelta(minutes=1))
    almost = await reconciler.tick()
    assert almost.ok and almost.sent == 0
    assert sim.campaign(cid).status == Status.COMPLETED

    sim_clock.advance(timedelta(minutes=1))
    due = await reconciler.tick()
    assert due.ok and due.sent == 1
    assert sim.campaign(cid).status == Status.ARCHIVED
    (row,) = [r for r in await store.audit(campaign_id=cid) if r.outcome.value == "succeeded"]
    assert (row.rule, row.at) == ("archive-completed", first_sight + WEEK)


async def test_a_rules_file_that_trusts_date_updated_archives_on_first_sight(
    sim: Simulator, sim_clock: FixedClock, client: ExotelClient, store: Store
) -> None:
    cid = completed_long_ago(sim)
    reconciler = daemon(client, store, sim_clock, TRUSTING)

    first = await reconciler.tick()

    assert first.ok and first.sent == 1
    assert sim.campaign(cid).status == Status.ARCHIVED
    (decision,) = await store.decisions(campaign_id=cid)
    assert (decision.kind, decision.rule) == ("action", "archive-completed")
    assert decision.reason == (
        "status is completed; completed since 2026-10-28T19:00:00+05:30 "
        "(from date_updated, trusted by the rules file): 30d (≥ 7d)"
    )


async def test_the_wakeup_after_a_first_sight_is_seven_days_later(
    sim: Simulator, sim_clock: FixedClock, client: ExotelClient, store: Store
) -> None:
    completed_long_ago(sim)
    now = sim_clock.now()
    await daemon(client, store, sim_clock, SHIPPED).tick()
    campaigns = await client.list_campaigns()
    history = await store.history(at=now)
    only_archive = [r for r in SHIPPED.rules if r.name == "archive-completed"]
    narrowed = Ruleset(SHIPPED.hash, SHIPPED.source, SHIPPED.timezone, {}, tuple(only_archive))
    assert engine.plan(campaigns, narrowed, history, now).next_wakeup == now + WEEK
