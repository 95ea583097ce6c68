"""The edge: a tick plans its next wake-up in advance, and at the wake-up only the campaigns
that plan names are read again and acted on, before the full reconcile.

The simulator over loopback HTTP, a real database, a fixed clock. The shipped rules.yaml:
business hours close at 19:00 on Friday 27 November 2026 in Mumbai, and the rules pause
what is running then.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.typedefs import Handler

from lifecycle import cycle
from lifecycle.client import ExotelClient, RateLimiter
from lifecycle.clock import FixedClock
from lifecycle.cycle import Reconciler, TickOptions
from lifecycle.engine.edge import merged, moved
from lifecycle.model import Campaign, History, Mode, Outcome, Status
from lifecycle.rules import load_rules
from lifecycle.simulator import Simulator
from lifecycle.simulator.config import RequestRecord
from lifecycle.store import Store
from tests.conftest import NOW
from tests.fixtures.sim import serve
from tests.test_cycle import leased

RULES = load_rules(Path(__file__).parents[1] / "rules.yaml")
# The last poll before the edge, and the edge: Friday 19:00 in Mumbai (conftest.NOW).
EDGE = NOW
BEFORE = EDGE - timedelta(seconds=40)
HORIZON = timedelta(seconds=60)  # as the daemon sets it: the poll interval


@pytest.fixture
def sim_clock() -> FixedClock:
    return FixedClock(BEFORE)


def reconciler_for(
    client: ExotelClient, store: Store, clock: FixedClock, **options: object
) -> Reconciler:
    return Reconciler(
        client=client,
        store=store,
        ruleset=lambda: RULES,
        clock=clock,
        options=TickOptions(edge_horizon=HORIZON, **options),  # type: ignore[arg-type]
    )


def fleet(sim: Simulator, running: int, finished: int = 20) -> list[str]:
    """`running` campaigns that the 19:00 edge pauses, among `finished` ones it leaves."""
    now = sim.clock.now()
    ids = []
    for i in range(running):
        ids.append(sim.add_campaign(
            name=f"run-{i}", status=Status.IN_PROGRESS, send_at=now - timedelta(hours=8),
            end_at=now + timedelta(days=3), numbers=50_000,
        ))  # fmt: skip
    for i in range(finished):
        sim.add_campaign(
            name=f"done-{i}", status=Status.COMPLETED, numbers=10, done=10,
            date_updated=now - timedelta(days=1),
        )  # fmt: skip
    return ids


def reads(sim: Simulator) -> list[RequestRecord]:
    return [r for r in sim.requests if r.method == "GET"]


def put_ids(sim: Simulator) -> list[str]:
    return [r.path.rsplit("/", 1)[-1] for r in sim.requests if r.method == "PUT"]


async def planned(sim: Simulator, reconciler: Reconciler, clock: FixedClock) -> None:
    """The last poll before the edge: nothing to do yet, the edge planned; then the edge."""
    report = await reconciler.tick()
    assert report.ok and report.sent == 0
    assert report.plan is not None and report.plan.next_wakeup == EDGE
    sim.requests.clear()
    clock.set(EDGE + timedelta(milliseconds=200))  # the daemon's wake-up margin


async def test_the_edge_reads_only_its_campaigns_acts_and_the_full_tick_finds_nothing_left(
    sim: Simulator, client: ExotelClient, store: Store, sim_clock: FixedClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setattr(cycle, "_EDGE_CHUNK", 1)  # planned and recorded 1, then 2 at a time
    running = fleet(sim, running=3)
    reconciler = reconciler_for(client, store, sim_clock)
    await planned(sim, reconciler, sim_clock)

    edge = await reconciler.edge_tick()

    assert edge is not None and edge.ok and edge.edge and edge.sent == 3
    # One list filtered to the status the edge acts on (3 GETs would cost more), then the
    # PUTs: none of the 20 finished campaigns is read, none of the others is planned.
    (listed,) = reads(sim)
    assert listed.query.get("status") == Status.IN_PROGRESS.to_api()
    assert sorted(put_ids(sim)) == sorted(running)
    assert all(sim.campaign(c).status == Status.PAUSED for c in running)
    rows = await store.audit(limit=50)
    assert {r.tick_id for r in rows} == {edge.tick_id}
    assert sorted(r.outcome for r in rows) == [Outcome.INTENT] * 3 + [Outcome.SUCCEEDED] * 3
    # The full reconcile right after it lists everything and finds nothing left to do.
    sim.requests.clear()
    full = await reconciler.tick()
    assert full.ok and full.sent == 0 and full.campaigns == 23 and put_ids(sim) == []
    assert reconciler.last is full  # the status page keeps the full reading


async def test_one_campaign_at_the_edge_is_read_by_itself_just_before_its_step(
    sim: Simulator, client: ExotelClient, store: Store, sim_clock: FixedClock
) -> None:
    (running,) = fleet(sim, running=1)
    reconciler = reconciler_for(client, store, sim_clock)
    await planned(sim, reconciler, sim_clock)

    edge = await reconciler.edge_tick()

    assert edge is not None and edge.sent == 1
    assert [(r.method, r.path.rsplit("/", 1)[-1]) for r in sim.requests] == [
        ("GET", running),
        ("PUT", running),
    ]


async def test_a_manual_change_or_a_hold_since_the_plan_is_respected_at_the_edge(
    sim: Simulator, client: ExotelClient, store: Store, sim_clock: FixedClock
) -> None:
    by_hand, held, left = fleet(sim, running=3)
    reconciler = reconciler_for(client, store, sim_clock)
    await reconciler.tick()
    assert reconciler.edge_plan is not None and len(reconciler.edge_plan.decisions) == 3
    # After the plan, before the edge: an operator completes one campaign by hand (pause,
    # then complete, in Exotel's console) and holds another in lifecycle.
    sim.set_status(by_hand, Status.PAUSED)
    sim.set_status(by_hand, Status.COMPLETED)
    await store.add_hold(campaign_id=held, until=EDGE + timedelta(hours=1), reason="vip", at=BEFORE)
    sim.requests.clear()
    sim_clock.set(EDGE)

    edge = await reconciler.edge_tick()

    assert edge is not None and edge.sent == 1
    assert put_ids(sim) == [left]  # nothing sent to the campaign changed by hand, or held
    assert sim.campaign(by_hand).status == Status.COMPLETED
    assert sim.campaign(held).status == Status.IN_PROGRESS


async def test_a_rules_reload_or_a_newer_tick_voids_the_edge_plan(
    sim: Simulator, client: ExotelClient, store: Store, sim_clock: FixedClock
) -> None:
    fleet(sim, running=2)
    rules = [RULES]
    reconciler = reconciler_for(client, store, sim_clock)
    reconciler.ruleset = lambda: rules[0]
    await planned(sim, reconciler, sim_clock)
    rules[0] = replace(RULES, hash="sha256:an-edit")  # what a SIGHUP or a saved edit does

    assert await reconciler.edge_tick() is None
    assert sim.requests == [] and reconciler.edge_plan is None  # used up: not kept for later
    # A newer tick plans afresh: here the edge has passed, and it acts as any tick does.
    assert (await reconciler.tick()).sent == 2
    assert reconciler.edge_plan is None  # the next wake-up is no longer within the horizon


async def test_nothing_is_planned_or_done_at_the_edge_before_its_instant_or_without_a_horizon(
    sim: Simulator, client: ExotelClient, store: Store, sim_clock: FixedClock
) -> None:
    fleet(sim, running=1)
    bare = Reconciler(client=client, store=store, ruleset=lambda: RULES, clock=sim_clock)
    await bare.tick()
    assert bare.edge_plan is None  # `run --once`, or a Reconciler told no horizon
    early = reconciler_for(client, store, sim_clock)
    await early.tick()
    sim.requests.clear()
    sim_clock.set(EDGE - timedelta(seconds=1))
    assert await early.edge_tick() is None and sim.requests == []


async def test_a_standby_never_plans_nor_acts_at_the_edge(
    sim: Simulator, client: ExotelClient, store: Store, sim_clock: FixedClock
) -> None:
    running = fleet(sim, running=2)
    lease_a, lease_b = leased(store, "a"), leased(store, "b")
    first = reconciler_for(client, store, sim_clock, may_act=lease_a.hold, fence=lease_a.fence)
    second = reconciler_for(client, store, sim_clock, may_act=lease_b.hold, fence=lease_b.fence)
    await first.tick()
    assert first.edge_plan is not None
    assert (await second.tick()).standby and second.edge_plan is None
    assert await second.edge_tick() is None  # a standby has no edge plan to act on
    await lease_a.release()  # the leader steps down before the edge; the standby leads
    assert await lease_b.hold()
    sim.requests.clear()
    sim_clock.set(EDGE)

    report = await first.edge_tick()

    assert report is not None and report.standby and report.sent == 0
    assert sim.requests == [] and put_ids(sim) == []
    assert all(sim.campaign(c).status == Status.IN_PROGRESS for c in running)
    assert [r for r in await store.audit() if r.outcome == Outcome.INTENT] == []


async def test_dry_run_at_the_edge_records_what_it_would_send_once(
    sim: Simulator, client: ExotelClient, store: Store, sim_clock: FixedClock
) -> None:
    running = fleet(sim, running=2)
    reconciler = reconciler_for(client, store, sim_clock, dry_run=True)
    await planned(sim, reconciler, sim_clock)

    edge = await reconciler.edge_tick()
    await reconciler.tick()

    assert edge is not None and edge.ok and put_ids(sim) == []
    rows = await store.audit()
    assert sorted(r.campaign_id for r in rows) == sorted(running)
    assert {(r.outcome, r.mode, r.tick_id) for r in rows} == {
        (Outcome.DRY_RUN, Mode.DRY_RUN, edge.tick_id)
    }


def test_the_edge_is_planned_from_the_statuses_and_trail_the_tick_left() -> None:
    """A campaign the tick moved is planned at the edge in its new status, with its new
    audit trail; every other campaign keeps what the tick read."""
    a, b = Campaign("a", "a", Status.IN_PROGRESS), Campaign("b", "b", Status.PAUSED)
    old, new = EDGE - timedelta(days=1), EDGE - timedelta(seconds=30)
    history = History(
        status_since={"a": old, "b": old}, open_intents=frozenset({"a"}),
        first_seen_in_status=frozenset({"a", "b"}),
    )  # fmt: skip
    fresh = History(status_since={"a": new})

    assert [c.status for c in moved([a, b], {"a": Status.PAUSED})] == [
        Status.PAUSED,
        Status.PAUSED,
    ]
    both = merged(history, fresh, ["a"])
    assert both.status_since == {"a": new, "b": old}
    assert both.open_intents == frozenset()
    assert both.first_seen_in_status == frozenset({"b"})


async def test_a_server_that_ignores_the_status_filter_is_noticed_and_read_one_by_one_after(
    sim: Simulator, store: Store, sim_clock: FixedClock, caplog: pytest.LogCaptureFixture
) -> None:
    @web.middleware
    async def unfiltered(request: web.Request, handler: Handler) -> web.StreamResponse:
        return await handler(request.clone(rel_url=request.rel_url.without_query_params("status")))

    app = sim.app()
    app.middlewares.insert(0, unfiltered)
    running = fleet(sim, running=3, finished=5)
    async with (
        serve(app) as url,
        ExotelClient(
            base_url=url, account_sid=sim.config.account_sid, api_key=sim.config.api_key,
            api_token=sim.config.api_token, limiter=RateLimiter(6000), timeout=2.0,
        ) as client,
    ):  # fmt: skip
        reconciler = reconciler_for(client, store, sim_clock)
        await planned(sim, reconciler, sim_clock)
        edge = await reconciler.edge_tick()
        # Every campaign came back, and only the edge's own were acted on, once each.
        assert edge is not None and edge.sent == 3 and sorted(put_ids(sim)) == sorted(running)
        assert "ignores its status filter" in caplog.text
        # The next edge plan (the same edge planned anew, the campaigns running again) is
        # read campaign by campaign: one GET each, no list.
        for campaign in running:
            sim.set_status(campaign, Status.IN_PROGRESS)
        sim_clock.set(BEFORE)
        await planned(sim, reconciler, sim_clock)
        await reconciler.edge_tick()
    gets = [r.path.rsplit("/", 1)[-1] for r in reads(sim)]
    assert sorted(gets) == sorted(running)
