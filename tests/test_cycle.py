"""Whole ticks, end to end: the simulator over loopback HTTP, a real database, a fixed clock.

The shipped rules.yaml is used as written. The clock starts on Friday 27 November 2026 at
19:00 in Mumbai, the moment business hours close.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from lifecycle import engine
from lifecycle.client import ExotelClient, RateLimiter
from lifecycle.clock import FixedClock
from lifecycle.cycle import Reconciler, TickOptions
from lifecycle.lease import Lease
from lifecycle.metrics import Metrics
from lifecycle.model import Action, Campaign, Decision, Mode, Outcome, Status
from lifecycle.rules import load_rules
from lifecycle.simulator import Fault, Simulator
from lifecycle.store import IntentState, Store
from tests.fixtures.db import expire_lease

RULES = load_rules(Path(__file__).parents[1] / "rules.yaml")
IST = RULES.timezone


@pytest.fixture
async def client(sim: Simulator, sim_url: str) -> AsyncIterator[ExotelClient]:
    async with ExotelClient(
        base_url=sim_url,
        account_sid=sim.config.account_sid,
        api_key=sim.config.api_key,
        api_token=sim.config.api_token,
        limiter=RateLimiter(6000),
        timeout=2.0,
        sleep=_no_sleep,  # read retries back off on the fake clock's terms: not at all
    ) as c:
        yield c


@pytest.fixture
def reconciler(client: ExotelClient, store: Store, sim_clock: FixedClock) -> Reconciler:
    return Reconciler(client=client, store=store, ruleset=lambda: RULES, clock=sim_clock)


def seed(sim: Simulator) -> dict[str, str]:
    now = sim.clock.now()
    morning = now.astimezone(IST).replace(hour=9, minute=30)
    return {
        "running": sim.add_campaign(
            name="running", status=Status.IN_PROGRESS, send_at=morning,
            end_at=now + timedelta(days=3), numbers=50_000,
        ),
        "ended": sim.add_campaign(
            name="ended", status=Status.IN_PROGRESS, send_at=morning,
            end_at=now - timedelta(hours=1), numbers=50_000,
        ),
        "old": sim.add_campaign(
            name="old", status=Status.COMPLETED, numbers=10, done=10,
            date_created=now - timedelta(days=20), date_updated=now - timedelta(days=8),
        ),
        "by-hand": sim.add_campaign(
            name="by-hand", status=Status.PAUSED, send_at=morning, end_at=now + timedelta(days=3),
            date_updated=now - timedelta(hours=2),
        ),
        "fresh": sim.add_campaign(
            name="fresh", status=Status.COMPLETED, numbers=10, done=10,
            date_updated=now - timedelta(days=1),
        ),
    }  # fmt: skip


def puts(sim: Simulator) -> list[tuple[str, object]]:
    return [(r.path.rsplit("/", 1)[-1], r.body) for r in sim.requests if r.method == "PUT"]


def wrapped(action: str) -> dict[str, object]:
    return {"campaigns": [{"action": action}]}


async def seed_known(sim: Simulator, store: Store) -> dict[str, str]:
    """`seed`, with "old" known to the daemon as completed since 8 days ago: time in status
    counts from the daemon's first sight, never from date_updated under rules.yaml."""
    ids = seed(sim)
    known = Campaign(id=ids["old"], name="old", status=Status.COMPLETED)
    await store.observe([known], at=sim.clock.now() - timedelta(days=8))
    return ids


@pytest.fixture
async def seeded(sim: Simulator, store: Store) -> dict[str, str]:
    # The end_at lag keeps "ended" running past its end, as Exotel's scheduler can.
    sim.config = replace(sim.config, end_at_lag=timedelta(hours=2))
    return await seed_known(sim, store)


async def test_a_tick_sends_exactly_the_planned_puts_and_a_second_sends_nothing(
    sim: Simulator, seeded: dict[str, str], reconciler: Reconciler, client: ExotelClient,
    store: Store,
) -> None:  # fmt: skip
    ids = seeded
    expected = engine.plan(
        await client.list_campaigns(),
        RULES,
        await store.history(at=sim.clock.now()),
        sim.clock.now(),
    )
    assert {(d.campaign_id, d.steps) for d in expected.decisions} == {
        (ids["running"], (Action.PAUSE,)),
        (ids["ended"], (Action.PAUSE, Action.COMPLETE)),
        (ids["old"], (Action.ARCHIVE,)),
    }
    sim.requests.clear()

    report = await reconciler.tick()

    assert report.ok and report.sent == 4
    assert sorted(puts(sim), key=str) == sorted(
        [
            (ids["running"], wrapped("pause")),
            (ids["ended"], wrapped("pause")),
            (ids["ended"], wrapped("complete")),
            (ids["old"], wrapped("archive")),
        ],
        key=str,
    )
    # One list call and the PUTs: no GET before each PUT.
    assert [r.method for r in sim.requests].count("GET") == 1
    assert sim.campaign(ids["running"]).status == Status.PAUSED
    assert sim.campaign(ids["ended"]).status == Status.COMPLETED
    assert sim.campaign(ids["old"]).status == Status.ARCHIVED
    assert sim.campaign(ids["by-hand"]).status == Status.PAUSED
    # Every PUT has its intent and its outcome in the audit trail, intent first.
    trail = list(reversed(await store.audit(limit=100)))
    for campaign_id, body in puts(sim):
        step = body["campaigns"][0]["action"]  # type: ignore[index]
        outcomes = [r.outcome for r in trail if r.campaign_id == campaign_id and r.step == step]
        assert outcomes == [Outcome.INTENT, Outcome.SUCCEEDED]
    assert all(r.ruleset == RULES.hash for r in trail)

    sim.requests.clear()
    second = await reconciler.tick()
    assert second.ok and second.sent == 0 and puts(sim) == []


async def test_ownership_resumes_only_what_the_rule_paused(
    sim: Simulator, seeded: dict[str, str], reconciler: Reconciler, sim_clock: FixedClock
) -> None:
    await reconciler.tick()
    # Saturday 10:00 in Mumbai: business hours open again.
    sim_clock.set(sim_clock.now().astimezone(IST).replace(day=28, hour=10, minute=0))
    sim.requests.clear()

    report = await reconciler.tick()

    assert report.ok
    assert puts(sim) == [(seeded["running"], wrapped("resume"))]
    assert sim.campaign(seeded["by-hand"]).status == Status.PAUSED


async def test_a_lost_answer_is_resolved_by_rereading_not_by_sending_again(
    sim: Simulator, seeded: dict[str, str], reconciler: Reconciler, store: Store
) -> None:
    sim.inject(Fault(kind="drop_after_apply", method="PUT", path_contains=seeded["running"]))

    first = await reconciler.tick()

    assert first.ok
    assert sim.campaign(seeded["running"]).status == Status.PAUSED  # it was applied
    (open_intent,) = await store.unresolved_intents()
    assert (open_intent.campaign_id, open_intent.state) == (seeded["running"], IntentState.UNKNOWN)
    sim.requests.clear()

    await reconciler.tick()

    assert await store.unresolved_intents() == []
    assert puts(sim) == []  # resolved by a GET, not by a second PUT
    rows = await store.audit(campaign_id=seeded["running"])
    assert [r.outcome for r in rows][:2] == [Outcome.SUCCEEDED, Outcome.UNKNOWN]
    assert "resolved by re-reading: campaign is paused" in rows[0].reason


async def test_a_crash_between_intent_and_put_sends_the_step_once(
    sim: Simulator, seeded: dict[str, str], reconciler: Reconciler, store: Store
) -> None:
    now = sim.clock.now()
    tick = await store.start_tick(at=now, ruleset=RULES.hash, dry_run=False)
    decision = Decision(
        seeded["running"], "running", Status.IN_PROGRESS, "pause-outside-business-hours",
        Action.PAUSE, (Action.PAUSE,), Mode.ENFORCE, "outside business-hours",
    )  # fmt: skip
    await store.open_intent(tick, decision=decision, step=Action.PAUSE, at=now)
    # ... and the process died here, before the PUT left.

    await reconciler.tick()

    assert [c for c, _ in puts(sim)].count(seeded["running"]) == 1
    rows = await store.audit(campaign_id=seeded["running"])
    assert [r.outcome for r in reversed(rows)] == [
        Outcome.INTENT,
        Outcome.FAILED,  # resolved: the campaign was still running
        Outcome.INTENT,
        Outcome.SUCCEEDED,
    ]


async def test_a_rate_limited_action_waits_retry_after_and_the_tick_goes_on(
    sim: Simulator, seeded: dict[str, str], reconciler: Reconciler, store: Store
) -> None:
    sim.inject(Fault(kind="429", method="PUT", seconds=0.01))

    first = await reconciler.tick()

    assert first.ok and first.failed == 1 and first.sent == 4
    (row,) = [r for r in await store.audit() if r.outcome == Outcome.FAILED]
    assert row.http_status == 429 and "RateLimited" in (row.error or "")
    assert await store.unresolved_intents() == []
    assert [r.status for r in sim.requests if r.method == "PUT"] == [429, 200, 200, 200, 200]
    assert sim.campaign(seeded["running"]).status == Status.PAUSED
    assert sim.campaign(seeded["old"]).status == Status.ARCHIVED

    second = await reconciler.tick()
    assert second.ok and second.sent == 0


async def test_a_server_that_keeps_refusing_leaves_the_rest_to_the_next_tick(
    sim: Simulator, seeded: dict[str, str], reconciler: Reconciler, store: Store
) -> None:
    sim.inject(Fault(kind="429", method="PUT", seconds=0.01, times=3))

    first = await reconciler.tick()

    assert first.ok and first.sent == 0 and first.failed == 3
    assert [r.status for r in sim.requests if r.method == "PUT"] == [429, 429, 429]
    assert await store.unresolved_intents() == []
    assert (await reconciler.tick()).sent == 4


class Waits:
    """Virtual time for a limiter, moving the simulator's clock along with it; it notes
    which intents were open whenever something waited."""

    def __init__(self, clock: FixedClock, store: Store) -> None:
        self.now, self.clock, self.store = 0.0, clock, store
        self.open_while_waiting: list[list[str]] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        open_now = await self.store.unresolved_intents()
        self.open_while_waiting.append([i.campaign_id for i in open_now])
        self.now += seconds
        self.clock.advance(timedelta(seconds=seconds))


@asynccontextmanager
async def waiting_client(
    sim: Simulator, url: str, waits: Waits, rate: float
) -> AsyncIterator[ExotelClient]:
    limiter = RateLimiter(rate, monotonic=waits.monotonic, sleep=waits.sleep)
    async with ExotelClient(
        base_url=url, account_sid=sim.config.account_sid, api_key=sim.config.api_key,
        api_token=sim.config.api_token, limiter=limiter, sleep=waits.sleep,
    ) as c:  # fmt: skip
        yield c


async def test_every_wait_for_the_rate_comes_before_the_intent(
    sim: Simulator, sim_url: str, seeded: dict[str, str], store: Store, sim_clock: FixedClock
) -> None:
    waits = Waits(sim_clock, store)
    async with waiting_client(sim, sim_url, waits, rate=1) as client:  # one a minute
        reconciler = Reconciler(
            client=client, store=store, ruleset=lambda: RULES, clock=sim_clock,
        )  # fmt: skip
        report = await reconciler.tick()

    assert report.ok and report.sent == 4
    assert len(waits.open_while_waiting) == 4  # one wait before each PUT...
    assert waits.open_while_waiting == [[]] * 4  # ...and never with an intent open


async def test_after_a_retry_after_wait_each_decision_is_checked_again(
    sim: Simulator, sim_url: str, store: Store, sim_clock: FixedClock
) -> None:
    # Saturday 09:59:30 in Mumbai: still outside business hours, for half a minute.
    sim_clock.set(sim_clock.now().astimezone(IST).replace(day=28, hour=9, minute=59, second=30))
    sim.config = replace(sim.config, end_at_lag=timedelta(hours=2))
    ids = await seed_known(sim, store)
    sim.inject(Fault(kind="429", method="PUT", path_contains=ids["running"], seconds=60))
    waits = Waits(sim_clock, store)
    async with waiting_client(sim, sim_url, waits, rate=6000) as client:
        reconciler = Reconciler(
            client=client, store=store, ruleset=lambda: RULES, clock=sim_clock,
        )  # fmt: skip
        report = await reconciler.tick()

    assert report.ok and report.failed == 1
    # After the minute's wait business hours are open: "running" is no longer paused...
    assert [c for c, _ in puts(sim)].count(ids["running"]) == 1  # the refused PUT only
    assert sim.campaign(ids["running"]).status == Status.IN_PROGRESS
    # ...while the decisions still wanted went ahead in the same tick.
    assert sim.campaign(ids["ended"]).status == Status.COMPLETED
    assert sim.campaign(ids["old"]).status == Status.ARCHIVED
    assert await store.unresolved_intents() == []


async def test_global_dry_run_sends_nothing_and_records_once(
    sim: Simulator, seeded: dict[str, str], client: ExotelClient, store: Store,
    sim_clock: FixedClock,
) -> None:  # fmt: skip
    dry = Reconciler(
        client=client, store=store, ruleset=lambda: RULES, clock=sim_clock,
        options=TickOptions(dry_run=True),
    )  # fmt: skip
    await dry.tick()
    await dry.tick()

    assert puts(sim) == []
    rows = await store.audit(limit=100)
    assert {r.outcome for r in rows} == {Outcome.DRY_RUN}
    assert len(rows) == 4  # pause, pause+complete, archive: once, though two ticks matched


async def test_a_failed_tick_is_recorded_and_the_next_one_runs(
    sim: Simulator, seeded: dict[str, str], reconciler: Reconciler, store: Store
) -> None:
    sim.inject(Fault(kind="503", method="GET", times=4))  # every attempt of one tick

    failed = await reconciler.tick()

    assert not failed.ok and "ApiUnavailable" in (failed.error or "")
    tick = await store.last_tick()
    assert tick is not None and tick.error == failed.error
    assert puts(sim) == []

    assert (await reconciler.tick()).ok


async def test_only_the_lease_holder_acts(
    sim: Simulator, seeded: dict[str, str], client: ExotelClient, store: Store,
    sim_clock: FixedClock,
) -> None:  # fmt: skip
    def daemon(instance: str) -> Reconciler:
        lease = leased(store, instance)
        return Reconciler(
            client=client, store=store, ruleset=lambda: RULES, clock=sim_clock,
            options=TickOptions(may_act=lease.hold, fence=lease.fence),
        )  # fmt: skip

    first, second = daemon("a"), daemon("b")
    assert (await second.tick()).ok
    standby = await first.tick()
    assert standby.standby and standby.sent == 0
    assert len(puts(sim)) == 4


async def _no_sleep(_: float) -> None:
    return None


def leased(store: Store, instance: str) -> Lease:
    """The lease of a daemon with LIFECYCLE_INSTANCE=`instance` on this host."""
    return Lease.for_account(
        "acme1", store=store, instance=instance, ttl=timedelta(minutes=3),
        bound=timedelta(seconds=5), metrics=Metrics(), zone=IST,
    )  # fmt: skip


async def test_a_campaign_resumed_and_repaused_by_hand_is_not_resumed_by_a_rule(
    sim: Simulator, seeded: dict[str, str], reconciler: Reconciler, sim_clock: FixedClock
) -> None:
    campaign = seeded["running"]
    await reconciler.tick()  # Friday 19:00: we pause it
    assert sim.campaign(campaign).status == Status.PAUSED

    sim_clock.advance(timedelta(minutes=30))
    sim.set_status(campaign, Status.IN_PROGRESS)  # an operator resumes it...
    await reconciler.tick()  # ...and the rule respects that until the window changes
    assert sim.campaign(campaign).status == Status.IN_PROGRESS

    sim_clock.advance(timedelta(minutes=30))
    sim.set_status(campaign, Status.PAUSED)  # ...then pauses it by hand
    await reconciler.tick()

    sim_clock.set(sim_clock.now().astimezone(IST).replace(day=28, hour=10, minute=0))
    sim.requests.clear()
    await reconciler.tick()  # Saturday 10:00: business hours, but this pause is not ours

    assert puts(sim) == []
    assert sim.campaign(campaign).status == Status.PAUSED


@pytest.mark.parametrize(
    "variant",
    [
        {"status_style": "lower", "illegal_action_status": 400},
        {"strict_body": True, "rate_limit_style": "v1"},
        {"end_at_behaviour": "paused", "end_at_lag": timedelta(0)},
    ],
    ids=["lowercase-statuses", "strict-wrapped-body", "end-at-pauses"],
)
async def test_other_readings_of_the_api_docs_give_the_same_outcome(
    sim: Simulator, reconciler: Reconciler, store: Store, variant: dict[str, object]
) -> None:
    settings = {"end_at_lag": timedelta(hours=2), **variant}
    sim.config = replace(sim.config, **settings)  # type: ignore[arg-type]
    ids = await seed_known(sim, store)

    first = await reconciler.tick()
    second = await reconciler.tick()

    assert first.ok and second.ok and second.sent == 0
    assert sim.campaign(ids["running"]).status == Status.PAUSED
    assert sim.campaign(ids["ended"]).status == Status.COMPLETED
    assert sim.campaign(ids["old"]).status == Status.ARCHIVED
    assert sim.campaign(ids["by-hand"]).status == Status.PAUSED
    assert all(body == wrapped(body["campaigns"][0]["action"]) for _, body in puts(sim))  # type: ignore[index]


async def test_a_tick_stops_acting_when_a_standby_takes_its_lease(
    sim: Simulator, seeded: dict[str, str], client: ExotelClient, store: Store,
    sim_clock: FixedClock, db_url: str,
) -> None:  # fmt: skip
    # The PUT is slow enough that the standby takes the lease while it is in flight, not
    # after the tick renewed it for its next decision (0.3 s lost that race on a busy machine).
    sim.inject(Fault(kind="latency", method="PUT", seconds=1.0))
    lease = leased(store, "a")
    options = TickOptions(may_act=lease.hold, fence=lease.fence)
    slow = Reconciler(
        client=client, store=store, ruleset=lambda: RULES, clock=sim_clock,
        options=options,
    )  # fmt: skip
    tick = asyncio.create_task(slow.tick())
    for _ in range(500):  # until the first PUT is in flight (bounded)
        if await store.unresolved_intents():
            break
        await asyncio.sleep(0.01)
    # As if this tick had run on far past its lease: it lapsed, and a standby took it.
    await expire_lease(db_url, lease.name)
    assert await leased(store, "b").hold()

    report = await tick

    first = report.plan.decisions[0] if report.plan else None
    assert first is not None and report.sent == len(first.steps) == len(puts(sim))
    assert len(puts(sim)) < 4  # the other decisions were left to the new lease holder


async def test_a_step_in_flight_elsewhere_is_never_sent_beside(
    sim: Simulator, seeded: dict[str, str], reconciler: Reconciler, store: Store
) -> None:
    sim.inject(Fault(kind="latency", method="PUT", seconds=0.3))
    tick = asyncio.create_task(reconciler.tick())
    for _ in range(500):  # until the first PUT is in flight (bounded)
        if intents := await store.unresolved_intents():
            break
        await asyncio.sleep(0.01)
    busy = next(cid for cid in (seeded["old"], seeded["running"]) if cid != intents[0].campaign_id)
    other = Decision(
        busy, "x", Status.IN_PROGRESS, "by-another-process", Action.PAUSE, (Action.PAUSE,),
        Mode.ENFORCE, "another daemon without a lease",
    )  # fmt: skip
    elsewhere = await store.start_tick(at=sim.clock.now(), ruleset=RULES.hash, dry_run=False)
    await store.open_intent(elsewhere, decision=other, step=Action.PAUSE, at=sim.clock.now())

    report = await tick

    assert report.ok
    assert busy not in {campaign for campaign, _ in puts(sim)}
    assert len(puts(sim)) >= 2  # the others went ahead
