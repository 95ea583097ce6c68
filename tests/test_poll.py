"""The settled poll (LIFECYCLE_SETTLED_POLL): filtered lists each tick, a full list per period.

The simulator serves over loopback HTTP on a FixedClock; requests are counted where they
arrive. Each simulator switch is one reading of the undocumented `status` filter.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import pytest

from lifecycle.accounts import configured_accounts
from lifecycle.client import PAGE_LIMIT, ExotelClient, Listing, RateLimiter
from lifecycle.client.poll import LISTED, Poll, Poller
from lifecycle.clock import FixedClock
from lifecycle.cycle import Reconciler, TickOptions
from lifecycle.errors import ConfigError, RulesError
from lifecycle.metrics import Metrics
from lifecycle.model import Action, Campaign, Status
from lifecycle.rules import load_rules
from lifecycle.settings import load_settings
from lifecycle.simulator import Simulator, SimulatorConfig, running
from lifecycle.simulator.config import DeletedCampaigns, StatusFilter
from lifecycle.store import Store

DAY = timedelta(hours=24)
TICK = timedelta(minutes=1)
FILTER = "Completed,Created,InProgress,Paused"
RULES = load_rules(Path(__file__).parents[1] / "rules.yaml")


def fleet(sim: Simulator) -> dict[str, str]:
    """Campaigns that stay put while the clock moves: nothing here dials."""
    later = sim.clock.now() + timedelta(days=30)
    ids = {
        "created": sim.add_campaign(name="created", send_at=later),
        "paused": sim.add_campaign(name="paused", status=Status.PAUSED),
        "completed": sim.add_campaign(name="completed", status=Status.COMPLETED),
        "failed": sim.add_campaign(name="failed", status=Status.FAILED),
    }
    for n in range(6):
        ids[f"archived-{n}"] = sim.add_campaign(name=f"archived-{n}", status=Status.ARCHIVED)
    return ids


@asynccontextmanager
async def served(
    clock: FixedClock,
    *,
    status_filter: StatusFilter = "comma",
    deleted: DeletedCampaigns = "listed",
) -> AsyncIterator[tuple[Simulator, ExotelClient]]:
    config = SimulatorConfig(rate_per_minute=None, status_filter=status_filter, deleted=deleted)
    sim = Simulator(config, clock=clock)
    async with (
        running(sim) as url,
        ExotelClient(
            base_url=url,
            account_sid=config.account_sid,
            api_key=config.api_key,
            api_token=config.api_token,
            limiter=RateLimiter(6000),
            timeout=2.0,
        ) as client,
    ):
        yield sim, client


def requests_since(sim: Simulator, start: int) -> list[tuple[str, str | None]]:
    """(endpoint, status filter) of each request after the first `start`."""
    return [
        ("list" if r.path.endswith("/campaigns") else "get", r.query.get("status"))
        for r in sim.requests[start:]
    ]


async def tick(
    poller: Poller, sim: Simulator, clock: FixedClock
) -> tuple[Poll, list[tuple[str, str | None]]]:
    clock.advance(TICK)
    start = len(sim.requests)
    poll = await poller.poll(clock.now())
    return poll, requests_since(sim, start)


def by_id(poll: Poll) -> dict[str, Status]:
    return {c.id: c.status for c in poll.listing}


async def test_between_full_lists_only_the_listed_statuses_are_asked_for(
    sim_clock: FixedClock,
) -> None:
    async with served(sim_clock) as (sim, client):
        ids = fleet(sim)
        poller = Poller(client, period=DAY)
        first, asked = await tick(poller, sim, sim_clock)
        assert asked == [("list", None)] and first.full
        assert len(first.listing) == len(first.fresh) == len(ids)

        second, asked = await tick(poller, sim, sim_clock)
        assert asked == [("list", FILTER)]  # one request, the four listed statuses
        assert not second.full
        assert {c.status for c in second.fresh} <= LISTED and len(second.fresh) == 3
        assert by_id(second) == by_id(first)  # the settled ones are carried, unchanged
        assert second.listing.complete and poller.carried == 7


async def test_the_full_list_comes_back_once_a_period_on_the_clock(sim_clock: FixedClock) -> None:
    async with served(sim_clock) as (sim, client):
        fleet(sim)
        poller = Poller(client, period=timedelta(minutes=5))
        kinds = []
        for _ in range(11):
            poll, asked = await tick(poller, sim, sim_clock)
            kinds.append("full" if poll.full else "filtered")
            assert len(asked) == 1
        # Full at minute 1, 6 and 11: the period runs from the full list, on the clock.
        assert [n for n, kind in enumerate(kinds, 1) if kind == "full"] == [1, 6, 11]

        poller.forget()  # a standby tick: another process may have led meanwhile
        poll, _ = await tick(poller, sim, sim_clock)
        assert poll.full
        poll, _ = await tick(poller, sim, sim_clock)
        assert not poll.full


async def test_a_campaign_archived_between_ticks_is_read_again_by_one_get(
    sim_clock: FixedClock,
) -> None:
    async with served(sim_clock) as (sim, client):
        ids = fleet(sim)
        poller = Poller(client, period=DAY)
        await tick(poller, sim, sim_clock)
        await client.act(ids["completed"], Action.ARCHIVE)

        poll, asked = await tick(poller, sim, sim_clock)
        assert asked == [("list", FILTER), ("get", None)]  # one page would cost the same
        assert by_id(poll)[ids["completed"]] == Status.ARCHIVED
        assert {c.id for c in poll.fresh} == {ids["created"], ids["paused"], ids["completed"]}

        sim.set_status(ids["paused"], Status.CANCELED)  # Exotel's own move, past end_at
        poll, asked = await tick(poller, sim, sim_clock)
        assert asked == [("list", FILTER), ("get", None)]
        assert by_id(poll)[ids["paused"]] == Status.CANCELED
        assert by_id(poll)[ids["completed"]] == Status.ARCHIVED  # carried, not read again
        assert {c.id for c in poll.fresh} == {ids["created"], ids["paused"]}

        poll, asked = await tick(poller, sim, sim_clock)  # settled now: carried, not read
        assert asked == [("list", FILTER)]
        assert poller.carried == 9


@pytest.mark.parametrize("deleted", ["listed", "gone"])
async def test_a_deleted_campaign_is_noticed(
    sim_clock: FixedClock, deleted: DeletedCampaigns
) -> None:
    async with served(sim_clock, deleted=deleted) as (sim, client):
        ids = fleet(sim)
        poller = Poller(client, period=DAY)
        await tick(poller, sim, sim_clock)
        sim.delete(ids["created"])

        poll, asked = await tick(poller, sim, sim_clock)
        assert asked == [("list", FILTER), ("get", None)]
        if deleted == "listed":
            assert by_id(poll)[ids["created"]] == Status.DELETED
        else:  # a 404: gone from the fleet, as a full list would say
            assert ids["created"] not in by_id(poll)
        assert poller.broken is None

        sim_clock.advance(DAY)  # the next full list agrees
        full, _ = await tick(poller, sim, sim_clock)
        assert full.full and by_id(full) == by_id(poll)


async def test_many_campaigns_leaving_at_once_cost_one_full_list_not_a_get_each(
    sim_clock: FixedClock,
) -> None:
    async with served(sim_clock) as (sim, client):
        later = sim.clock.now() + timedelta(days=30)
        created = [sim.add_campaign(name=f"c{n}", send_at=later) for n in range(3)]
        poller = Poller(client, period=DAY)
        await tick(poller, sim, sim_clock)  # 3 campaigns: a full list is one page
        for campaign_id in created[:2]:
            sim.delete(campaign_id)
        poll, asked = await tick(poller, sim, sim_clock)
        assert asked == [("list", FILTER), ("list", None)]
        assert poll.full and poller.broken is None
        assert sorted(by_id(poll).values()) == [Status.CREATED, Status.DELETED, Status.DELETED]


async def test_a_server_that_ignores_the_filter_is_used_as_a_full_list_and_given_up(
    sim_clock: FixedClock, caplog: pytest.LogCaptureFixture
) -> None:
    async with served(sim_clock, status_filter="ignore") as (sim, client):
        ids = fleet(sim)
        poller = Poller(client, period=DAY)
        first, _ = await tick(poller, sim, sim_clock)
        with caplog.at_level(logging.WARNING, logger="lifecycle.client.poll"):
            second, asked = await tick(poller, sim, sim_clock)
            assert asked == [("list", FILTER)]  # no second request: the answer was all
            assert second.full and by_id(second) == by_id(first) == by_id(second)
            assert len(second.fresh) == len(ids)  # every campaign was read this tick
            assert "ignores the filter" in (poller.broken or "")
            for _ in range(3):
                _, asked = await tick(poller, sim, sim_clock)
                assert asked == [("list", None)]
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1 and "given up" in warnings[0].getMessage()


async def test_a_server_that_refuses_the_filter_is_listed_in_full_the_same_tick(
    sim_clock: FixedClock,
) -> None:
    async with served(sim_clock, status_filter="reject") as (sim, client):
        ids = fleet(sim)
        poller = Poller(client, period=DAY)
        await tick(poller, sim, sim_clock)
        poll, asked = await tick(poller, sim, sim_clock)
        assert asked == [("list", FILTER), ("list", None)]
        assert poll.full and len(poll.listing) == len(ids)
        assert "refused the status filter" in (poller.broken or "")


async def test_a_server_that_matches_one_status_name_is_caught_by_a_get(
    sim_clock: FixedClock,
) -> None:
    async with served(sim_clock, status_filter="single") as (sim, client):
        sim.add_campaign(name="paused", status=Status.PAUSED)
        sim.add_campaign(name="archived", status=Status.ARCHIVED)
        poller = Poller(client, period=DAY)
        await tick(poller, sim, sim_clock)
        # "Completed,Created,InProgress,Paused" matches nothing there: the paused one
        # vanishes, its GET shows it still paused, so the tick lists in full instead.
        poll, asked = await tick(poller, sim, sim_clock)
        assert asked == [("list", FILTER), ("get", None), ("list", None)]
        assert poll.full and len(poll.listing) == 2
        assert "paused by GET" in (poller.broken or "")


async def test_a_server_that_matches_one_status_name_is_caught_by_the_full_list_instead(
    sim_clock: FixedClock,
) -> None:
    async with served(sim_clock, status_filter="single") as (sim, client):
        ids = fleet(sim)
        poller = Poller(client, period=DAY)
        await tick(poller, sim, sim_clock)
        # Three vanish: more than the one page of a full list, which then shows them.
        poll, asked = await tick(poller, sim, sim_clock)
        assert asked == [("list", FILTER), ("list", None)]
        assert poll.full and len(poll.listing) == len(ids)
        assert "in a full list" in (poller.broken or "")


async def test_a_campaign_the_filter_never_showed_is_caught_by_the_full_list(
    sim_clock: FixedClock,
) -> None:
    async with served(sim_clock, status_filter="single") as (sim, client):
        sim.add_campaign(name="archived", status=Status.ARCHIVED)
        poller = Poller(client, period=timedelta(minutes=10))
        await tick(poller, sim, sim_clock)  # nothing listed: nothing to miss yet
        sim.add_campaign(name="new", send_at=sim.clock.now() + DAY)
        for _ in range(9):
            poll, _ = await tick(poller, sim, sim_clock)
            assert not poll.full and len(poll.listing) == 1  # unseen: nothing to compare
        poll, _ = await tick(poller, sim, sim_clock)
        assert poll.full and len(poll.listing) == 2
        assert "left out of every filtered list" in (poller.broken or "")


async def test_off_lists_everything_every_tick(sim_clock: FixedClock) -> None:
    async with served(sim_clock) as (sim, client):
        fleet(sim)
        poller = Poller(client)
        for _ in range(3):
            poll, asked = await tick(poller, sim, sim_clock)
            assert asked == [("list", None)] and poll.full and poller.carried == 0


async def test_a_tick_observes_only_what_it_read(
    sim_clock: FixedClock, store: Store, sim: Simulator, client: ExotelClient
) -> None:
    """The status history is truthful: a carried campaign was not seen by a filtered tick."""
    ids = fleet(sim)
    leading = True

    async def may_act() -> bool:
        return leading

    poller = Poller(client, period=DAY)
    reconciler = Reconciler(
        client=client,
        store=store,
        ruleset=lambda: RULES,
        clock=sim_clock,
        options=TickOptions(may_act=may_act),
        poller=poller,
    )
    first = await reconciler.tick()
    sim_clock.advance(TICK)
    second = await reconciler.tick()
    assert first.ok and second.ok
    assert first.campaigns == second.campaigns == len(ids)  # planned on every campaign
    (archived,) = await store.status_timeline(ids["archived-0"])
    assert archived.last_seen_at == first.at  # carried, not seen again
    (paused,) = await store.status_timeline(ids["paused"])
    assert paused.last_seen_at == second.at

    leading = False  # a standby tick forgets what it carried: the leader may have acted
    assert (await reconciler.tick()).standby and poller.carried == 0
    leading = True
    start = len(sim.requests)
    assert (await reconciler.tick()).ok
    assert requests_since(sim, start) == [("list", None)]


@pytest.mark.parametrize(("mode", "gauge"), [("comma", [1, 1]), ("ignore", [1, 0])])
async def test_the_settled_poll_gauge_says_whether_it_is_in_use(
    sim_clock: FixedClock, store: Store, mode: StatusFilter, gauge: list[int]
) -> None:
    """An operator sees on /metrics that the filter was given up, not only in the log."""
    async with served(sim_clock, status_filter=mode) as (sim, client):
        fleet(sim)
        metrics = Metrics()
        reconciler = Reconciler(
            client=client, store=store, ruleset=lambda: RULES, clock=sim_clock,
            metrics=metrics, poller=Poller(client, period=DAY),
        )  # fmt: skip
        seen = []
        for _ in range(2):  # a full list, then a filtered one (given up when ignored)
            assert (await reconciler.tick()).ok
            seen.append(metrics.registry.get_sample_value("lifecycle_settled_poll"))
            sim_clock.advance(TICK)
    assert seen == gauge


def test_the_setting_reads_off_on_and_durations(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().settled_poll is None
    for raw, period in (("off", None), ("on", DAY), ("6h", timedelta(hours=6)), ("1d", DAY)):
        monkeypatch.setenv("LIFECYCLE_SETTLED_POLL", raw)
        assert load_settings().settled_poll == period


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("daily", "LIFECYCLE_SETTLED_POLL: must be off, on (every 1d) or a duration"),
        ("20s", "LIFECYCLE_SETTLED_POLL: must be at least 1m, got 20s"),
        ("2m", "LIFECYCLE_SETTLED_POLL (2m) must be at least LIFECYCLE_POLL_SECONDS (300s)"),
    ],
)
def test_a_bad_setting_is_named(monkeypatch: pytest.MonkeyPatch, raw: str, message: str) -> None:
    monkeypatch.setenv("LIFECYCLE_SETTLED_POLL", raw)
    monkeypatch.setenv("LIFECYCLE_POLL_SECONDS", "300")
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_settings()


def test_an_account_may_set_its_own_period(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEY", "k")
    monkeypatch.setenv("TOKEN", "t")
    accounts = tmp_path / "accounts.yaml"
    accounts.write_text(
        "accounts:\n"
        "  - {sid: tried, key: 'env:KEY', token: 'env:TOKEN', settled_poll: 12h}\n"
        "  - {sid: untried, key: 'env:KEY', token: 'env:TOKEN', settled_poll: off}\n"
        "  - {sid: inherits, key: 'env:KEY', token: 'env:TOKEN'}\n"
    )
    settings = load_settings(LIFECYCLE_ACCOUNTS=str(accounts), LIFECYCLE_SETTLED_POLL="on")
    periods = {a.sid: a.settings.settled_poll for a in configured_accounts(settings)}
    assert periods == {"tried": timedelta(hours=12), "untried": None, "inherits": DAY}

    accounts.write_text(
        "accounts:\n  - {sid: a, key: 'env:KEY', token: 'env:TOKEN', settled_poll: soon}\n"
    )
    with pytest.raises(RulesError, match=r"accounts.yaml:2:\d+: .*must be off, on"):
        configured_accounts(settings)
    accounts.write_text(
        "accounts:\n  - {sid: a, key: 'env:KEY', token: 'env:TOKEN', settled_poll: 30m}\n"
    )
    hourly = load_settings(LIFECYCLE_ACCOUNTS=str(accounts), LIFECYCLE_POLL_SECONDS=3600)
    with pytest.raises(ConfigError, match=r"account a: settled_poll \(30m\) must be at least"):
        configured_accounts(hourly)


def test_a_row_skipped_by_paging_is_forgiven_once_on_a_long_answer() -> None:
    """Offset paging over a changing set may skip a row of a filtered answer of several
    pages: one such miss is taken for that; two ticks running, or any miss in an answer
    of one page, condemn the filter."""
    poller = Poller(ExotelClient(base_url="http://127.0.0.1:9", account_sid="a",
                                 api_key="k", api_token="t"), period=DAY)  # fmt: skip
    paused = Campaign(id="c", name="c", status=Status.PAUSED)
    long_answer = Listing((paused,) * PAGE_LIMIT, total=PAGE_LIMIT)
    assert not poller._strike(long_answer)
    poller._missed = True
    assert poller._strike(long_answer)
    poller._missed = False
    assert poller._strike(Listing((paused,), total=1))
