"""The checks before each step, without a read per step: time moving on (the plan's next
wake-up), a hold placed since the plan (in the intent's INSERT), and the count of
transactions a tick makes (two per step, whatever else it does)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from lifecycle import engine
from lifecycle.client import ExotelClient
from lifecycle.clock import FixedClock
from lifecycle.cycle import Reconciler, TickOptions
from lifecycle.simulator import Simulator
from lifecycle.store import Store
from tests.test_cycle import RULES, puts, seed_known
from tests.test_store_writes import counting


async def seed(sim: Simulator, store: Store) -> dict[str, str]:
    """test_cycle's fleet at Friday 19:00 IST: "running" to pause, "ended" (its end_at
    passed, still running) to pause and complete, "old" (completed 8 days ago) to archive."""
    sim.config = replace(sim.config, end_at_lag=timedelta(hours=2))
    return await seed_known(sim, store)


def reconciler(
    client: ExotelClient, store: Store, clock: FixedClock, options: TickOptions
) -> Reconciler:
    return Reconciler(client=client, store=store, ruleset=lambda: RULES, clock=clock,
                      options=options)  # fmt: skip


async def test_a_tick_is_two_transactions_per_step_while_time_moves(
    sim: Simulator, store: Store, client: ExotelClient, sim_clock: FixedClock
) -> None:
    await seed(sim, store)

    async def a_second_passes() -> bool:
        sim_clock.advance(timedelta(seconds=1))  # well before the next window edge
        return True

    ticking = reconciler(client, store, sim_clock, TickOptions(may_go=a_second_passes))
    with counting(store) as seen:
        report = await ticking.tick()
    assert report.ok and report.sent == 4  # pause, pause + complete, archive
    # start, open intents, poll (observe + history), plan rows, finish: then two per step.
    assert seen.transactions == 5 + 2 * report.sent


async def test_a_hold_placed_after_the_plan_stops_its_step_and_no_other(
    sim: Simulator, store: Store, client: ExotelClient, sim_clock: FixedClock
) -> None:
    ids = await seed(sim, store)

    async def an_operator_holds_running() -> bool:
        until = sim_clock.now() + timedelta(hours=1)
        await store.add_hold(campaign_id=ids["running"], until=until, reason="asked",
                             at=sim_clock.now())  # fmt: skip
        return True

    held = reconciler(client, store, sim_clock, TickOptions(may_go=an_operator_holds_running))
    report = await held.tick()
    sent = {campaign for campaign, _ in puts(sim)}
    assert report.ok and sent == {ids["ended"], ids["old"]}
    assert [a.campaign_id for a in await store.audit(campaign_id=ids["running"])] == []


async def test_a_window_edge_passed_since_the_plan_drops_its_decisions(
    sim: Simulator, store: Store, client: ExotelClient, sim_clock: FixedClock
) -> None:
    ids = await seed(sim, store)
    now = sim_clock.now()
    planned = engine.plan(await client.list_campaigns(), RULES, await store.history(at=now), now)
    assert planned.next_wakeup is not None
    edge = planned.next_wakeup

    async def past_the_edge() -> bool:
        if sim_clock.now() < edge:
            sim_clock.set(edge + timedelta(minutes=1))
        return True

    late = reconciler(client, store, sim_clock, TickOptions(may_go=past_the_edge))
    report = await late.tick()
    # Business hours have opened: "running" is no longer paused; the rules that do not
    # depend on the hour (end_at passed, completed a week ago) still act.
    assert report.ok and ids["running"] not in {campaign for campaign, _ in puts(sim)}
    assert {ids["ended"], ids["old"]} <= {campaign for campaign, _ in puts(sim)}
