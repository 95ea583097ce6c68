"""An incomplete campaign list is loud, and a campaign missing from it is unknown, not gone.

The simulator's `paging="page"` switch plays a server that pages by page/page_size (as an
old Exotel sample does) and so ignores our offset: every page is the first 20 campaigns,
while `metadata.total` says 45. Before, that read 20 of 45 campaigns silently.
"""

from __future__ import annotations

import base64
import logging
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from lifecycle.client import ExotelClient, Listing, RateLimiter
from lifecycle.clock import FixedClock
from lifecycle.cycle import Reconciler
from lifecycle.model import Status
from lifecycle.rules import Ruleset, parse_rules
from lifecycle.simulator import Simulator
from lifecycle.store import Store
from tests.fixtures.sim import serve
from tests.test_daemon import serving, settings_for, until

# No window: what a tick does here does not depend on the hour.
PAUSE_RUNNING = """\
timezone: Asia/Kolkata
rules:
  - name: pause-running
    match: {status: [in-progress]}
    action: pause
"""
NOTHING = PAUSE_RUNNING.replace("in-progress", "created")  # no campaign here is created


@pytest.fixture
async def db(tmp_path: Path) -> str:
    """A SQLite file at the head revision, for the daemon to open itself."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'daemon.db'}"
    store = await Store.connect(url)
    await store.upgrade()
    await store.close()
    return url


def running_fleet(sim: Simulator, n: int = 45) -> list[str]:
    """`n` running campaigns, oldest first (the order the list returns them in)."""
    now = sim.clock.now()
    return [
        sim.add_campaign(
            name=f"c{i:02}", status=Status.IN_PROGRESS, numbers=50_000,
            date_created=now - timedelta(days=2, minutes=n - i),
        )
        for i in range(n)
    ]  # fmt: skip


def client_for(sim: Simulator, url: str) -> ExotelClient:
    config = sim.config
    return ExotelClient(
        base_url=url, account_sid=config.account_sid, api_key=config.api_key,
        api_token=config.api_token, limiter=RateLimiter(6000),
    )  # fmt: skip


def paged_by_page(sim: Simulator) -> None:
    sim.config = replace(sim.config, paging="page")


def put_ids(sim: Simulator) -> set[str]:
    return {r.path.rsplit("/", 1)[-1] for r in sim.requests if r.method == "PUT"}


async def test_a_server_that_ignores_offset_gives_an_incomplete_listing_and_an_error_log(
    sim: Simulator, sim_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    ids = running_fleet(sim)
    paged_by_page(sim)
    with caplog.at_level(logging.ERROR, logger="lifecycle.client"):
        async with client_for(sim, sim_url) as client:
            listing = await client.list_campaigns()

    assert [c.id for c in listing] == ids[:20]  # still the campaigns that were read
    assert (listing.read, listing.total, listing.complete) == (20, 45, False)
    assert listing.shortfall == (
        "read 20 of 45 campaigns: the server sent the same page again (does it ignore offset?)"
    )
    (record,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert record.getMessage() == f"incomplete campaign list for acme1: {listing.shortfall}"
    assert len(sim.requests) == 2  # the repeated page ends the paging


async def test_a_complete_listing_says_so_and_logs_no_error(
    sim: Simulator, sim_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    ids = running_fleet(sim)
    async with client_for(sim, sim_url) as client:
        listing = await client.list_campaigns()
    assert [c.id for c in listing] == ids
    assert (listing.read, listing.total, listing.complete, listing.shortfall) == (
        45,
        45,
        True,
        None,
    )
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_pages_that_end_before_the_total_are_incomplete_and_say_what_was_unreadable() -> None:
    rows = [{"id": f"{i:032x}", "status": "paused"} for i in range(2)]
    pages = {0: [*rows, {"name": "no id"}], 3: []}  # a malformed row, then an early empty page

    async def listing(request: web.Request) -> web.Response:
        page = pages[int(request.query["offset"])]
        return web.json_response(
            {"metadata": {"total": 4}, "response": [{"code": 200, "data": c} for c in page]}
        )

    app = web.Application()
    app.router.add_get("/v2/accounts/acme/campaigns", listing)
    async with (
        serve(app) as url,
        ExotelClient(
            base_url=url, account_sid="acme", api_key="k", api_token="t", limiter=RateLimiter(6000)
        ) as client,
    ):
        found = await client.list_campaigns()
    assert (found.read, found.total, found.complete) == (2, 4, False)
    assert found.shortfall == (
        "read 2 of 4 campaigns: the pages ended before metadata.total; 1 rows could not be read"
    )


async def test_the_simulator_in_page_mode_pages_by_page_and_page_size(
    sim: Simulator, sim_url: str
) -> None:
    ids = running_fleet(sim)
    paged_by_page(sim)
    config = sim.config
    auth = base64.b64encode(f"{config.api_key}:{config.api_token}".encode()).decode()
    url = f"{sim_url}/v2/accounts/{config.account_sid}/campaigns"
    async with aiohttp.ClientSession(headers={"Authorization": f"Basic {auth}"}) as http:
        for query, expected in [
            ({"offset": 20, "limit": 500}, ids[:20]),  # offset and limit mean nothing
            ({"page": 2, "page_size": 10}, ids[10:20]),
            ({"page": 3}, ids[40:]),
        ]:
            async with http.get(url, params=query) as r:
                body = await r.json()
            assert [item["data"]["id"] for item in body["response"]] == expected
            assert body["metadata"]["total"] == 45


def test_a_listing_is_the_sequence_of_its_campaigns() -> None:
    assert len(Listing()) == 0 and Listing().complete and list(Listing()) == []
    assert not Listing(total=3).complete  # nothing read of 3
    assert not Listing(repeated=True).complete  # the server repeated a page: unknown rest


async def test_a_tick_on_an_incomplete_list_acts_on_what_was_read_and_treats_the_rest_as_unknown(
    sim: Simulator, sim_url: str, sim_clock: FixedClock, store: Store
) -> None:
    ids = running_fleet(sim)
    rules: list[Ruleset] = [parse_rules(NOTHING)]
    async with client_for(sim, sim_url) as client:
        reconciler = Reconciler(
            client=client, store=store, ruleset=lambda: rules[0], clock=sim_clock,
        )  # fmt: skip
        first = await reconciler.tick()  # a complete list: all 45 observed running
        assert first.ok and first.campaigns == 45 and first.warning is None
        before = await store.history(at=sim_clock.now())

        rules[0] = parse_rules(PAUSE_RUNNING)
        paged_by_page(sim)
        sim.requests.clear()
        sim_clock.advance(timedelta(minutes=1))
        second = await reconciler.tick()

    assert second.ok and second.campaigns == 20
    assert second.warning is not None and second.warning.startswith("read 20 of 45 campaigns")
    assert put_ids(sim) == set(ids[:20])  # acted on every campaign that was read
    assert all(sim.campaign(i).status == Status.IN_PROGRESS for i in ids[20:])
    # The 25 not read are not gone: their history is as it was, no status row was added.
    after = await store.history(at=sim_clock.now())
    assert {i: after.status_since[i] for i in ids[20:]} == {
        i: before.status_since[i] for i in ids[20:]
    }
    for campaign_id in ids[20:]:
        (row,) = await store.status_timeline(campaign_id)
        assert row.status == Status.IN_PROGRESS
    assert reconciler.metrics.incomplete_lists._value.get() == 1


async def test_a_server_that_ignores_offset_the_warning_the_metric_and_the_readiness_reason(
    sim: Simulator,
    sim_url: str,
    sim_clock: FixedClock,
    db: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ids = running_fleet(sim)
    paged_by_page(sim)
    rules = tmp_path / "rules.yaml"
    rules.write_text(PAUSE_RUNNING)
    expected = "read 20 of 45 campaigns: the server sent the same page again"

    async def ready_and_degraded() -> bool:
        try:
            async with http.get(f"{base}/readyz") as r:
                return r.status == 200 and bool((await r.json())["degraded"])
        except aiohttp.ClientConnectionError:
            return False

    with caplog.at_level(logging.ERROR, logger="lifecycle.client"):
        async with (
            serving(settings_for(sim, sim_url, db, rules=rules), sim_clock) as base,
            aiohttp.ClientSession() as http,
        ):
            await until(ready_and_degraded)
            async with http.get(f"{base}/readyz") as r:
                ready = await r.json()
            async with http.get(f"{base}/metrics") as r:
                metrics = await r.text()

    assert r.status == 200
    assert ready["ready"] is True
    assert ready["reason"].startswith(f"degraded: {expected}")
    assert 'lifecycle_incomplete_campaign_lists_total{account="acme1"} 1.0' in metrics
    assert (
        'lifecycle_campaigns{account="acme1",status="in-progress"} 20.0' in metrics
    )  # as read, before acting
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert f"incomplete campaign list for acme1: {expected} (does it ignore offset?)" in errors
    assert put_ids(sim) == set(ids[:20])  # and it still acted on the campaigns it read
