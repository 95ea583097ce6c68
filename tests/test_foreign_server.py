"""A tick against a server that is not our simulator but reads the docs its own way.

It keeps campaigns in a dict, answers lists without `metadata` (so paging ends on a short
page), spells statuses `inprogress`, calls ids `sid`, puts the schedule at the top level,
answers a PUT with 204 and no body, and insists on the wrapped action body. The daemon
must still send exactly the PUTs its plan calls for, once.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp import web

from lifecycle.client import ExotelClient, RateLimiter
from lifecycle.clock import FixedClock
from lifecycle.cycle import Reconciler
from lifecycle.model import Status
from lifecycle.rules import load_rules
from lifecycle.store import Store
from tests.fixtures.sim import serve

RULES = load_rules(Path(__file__).parents[1] / "rules.yaml")
NOW = datetime(2026, 11, 27, 13, 30, tzinfo=UTC)  # Friday 19:00 in Mumbai
AUTH = "Basic " + base64.b64encode(b"k:t").decode()
NEXT = {("inprogress", "pause"): "paused", ("paused", "complete"): "completed"}


def fleet() -> dict[str, dict[str, object]]:
    def iso(delta: timedelta) -> str:
        return (NOW + delta).isoformat()

    return {
        f"{i:032x}": {
            "sid": f"{i:032x}",
            "name": f"campaign-{i}",
            "status": "inprogress",
            "send_at": iso(timedelta(hours=-9)),
            "end_at": iso(timedelta(hours=-1 if i % 2 else 48)),
        }
        for i in range(7)
    }


@pytest.fixture
async def foreign() -> AsyncIterator[tuple[str, dict[str, dict[str, object]], list[object]]]:
    campaigns, puts = fleet(), []

    async def listing(request: web.Request) -> web.Response:
        assert request.headers.get("Authorization") == AUTH
        offset, limit = int(request.query["offset"]), int(request.query["limit"])
        page = list(campaigns.values())[offset : offset + min(limit, 3)]  # pages of 3 at most
        return web.json_response({"response": [{"code": 200, "data": c} for c in page]})

    async def act(request: web.Request) -> web.Response:
        body = await request.json()
        puts.append((request.match_info["id"], body))
        action = body["campaigns"][0]["action"]  # the wrapped form, or a KeyError → 500
        campaign = campaigns[request.match_info["id"]]
        campaign["status"] = NEXT[(str(campaign["status"]), action)]
        return web.Response(status=204)

    app = web.Application()
    app.router.add_get("/v2/accounts/acme/campaigns", listing)
    app.router.add_put("/v2/accounts/acme/campaigns/{id}", act)
    async with serve(app) as url:
        yield url, campaigns, puts


async def test_a_tick_against_another_reading_of_the_docs(
    foreign: tuple[str, dict[str, dict[str, object]], list[object]], store: Store
) -> None:
    url, campaigns, puts = foreign
    async with ExotelClient(
        base_url=url, account_sid="acme", api_key="k", api_token="t", limiter=RateLimiter(6000)
    ) as client:
        reconciler = Reconciler(
            client=client,
            store=store,
            ruleset=lambda: RULES,
            clock=FixedClock(NOW),
        )
        first = await reconciler.tick()
        second = await reconciler.tick()

    assert first.ok and second.ok and first.campaigns == 7
    ended = [cid for cid, c in campaigns.items() if int(cid, 16) % 2]
    expected = {(cid, "pause") for cid in campaigns} | {(cid, "complete") for cid in ended}
    sent = [(cid, body["campaigns"][0]["action"]) for cid, body in puts]  # type: ignore[misc,index]
    assert sorted(sent) == sorted(expected)  # each exactly once, the second tick sent nothing
    statuses = {Status.from_api(c["status"]) for cid, c in campaigns.items() if cid in ended}
    assert statuses == {Status.COMPLETED}
    assert await store.unresolved_intents() == []


async def test_a_server_that_ignores_offset_cannot_keep_us_paging() -> None:
    calls = 0

    async def listing(request: web.Request) -> web.Response:
        nonlocal calls
        calls += 1
        page = list(fleet().values())[:3]  # always the first page, whatever the offset
        return web.json_response({"response": [{"code": 200, "data": c} for c in page]})

    app = web.Application()
    app.router.add_get("/v2/accounts/acme/campaigns", listing)
    async with (
        serve(app) as url,
        ExotelClient(
            base_url=url, account_sid="acme", api_key="k", api_token="t", limiter=RateLimiter(6000)
        ) as client,
    ):
        campaigns = await client.list_campaigns()
    assert len(campaigns) == 3 and calls == 2
    assert (campaigns.complete, campaigns.total) == (False, None)  # and it says so
