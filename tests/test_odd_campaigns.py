"""One odd campaign beside a healthy one: the odd one is set aside, the healthy one acted on.

A server (not our simulator: it cannot hold such data) answers a list with a healthy
in-progress campaign and one whose fields are out of any sane range. The tick must still
succeed and pause the healthy campaign outside business hours; the odd campaign is either
read with its impossible values dropped (logged) or set aside (counted), never acted on
with them, and never the reason a tick fails. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web

from lifecycle.client import ExotelClient, RateLimiter
from lifecycle.clock import FixedClock
from lifecycle.cycle import Reconciler
from lifecycle.errors import ApiUnavailable
from lifecycle.metrics import Metrics
from lifecycle.rules import parse_rules
from lifecycle.store import Store
from tests.fixtures.sim import serve

NOW = datetime(2026, 11, 27, 13, 30, tzinfo=UTC)  # Friday 19:00 in Mumbai
AUTH = "Basic " + base64.b64encode(b"k:t").decode()
HEALTHY = "a" * 32
ODD = "b" * 32

# Every time-bound condition there is, so each odd field meets the arithmetic it could break.
RULES = parse_rules(
    """
timezone: Asia/Kolkata
trust_date_updated: true
calendars:
  business-hours:
    weekly: {mon-fri: ["09:30-19:00"]}
rules:
  - name: complete-near-end
    match: {status: [in-progress], end_at: {within: 2h}}
    action: complete
  - name: archive-old
    match: {status: [completed], in_status_for: 7d}
    action: archive
  - name: complete-ancient
    match: {status: [paused], age: 30d}
    action: complete
  - name: pause-busy
    match: {status: [created], counters: {total: {above: 5}}}
    action: pause
  - name: pause-outside-business-hours
    when: {outside: business-hours}
    match: {status: [in-progress]}
    action: pause
"""
)

FAR = "9999-12-31T23:59:59+00:00"
ODD_FIELDS: dict[str, dict[str, Any]] = {
    "created-in-year-1": {"date_created": "0001-01-01T00:00:00+00:00", "status": "paused"},
    "ends-in-9999": {"end_at": FAR},
    "completed-updated-in-9999": {"status": "completed", "date_updated": FAR},
    "huge-counters": {"status": "created", "stats": {"total": 10**30, "failed": -(10**30)}},
    "huge-summary": {"summary": {"total": 10**30, "completed": -(10**30)}},
    "nul-in-name": {"name": "odd\x00name"},
    "nul-in-id": {"id": "b" * 16 + "\x00"},
    "slash-in-id": {"id": "b/../c"},
    "nul-in-caller-id": {"caller_id": "080\x00"},
}


# A row with these cannot be stored or sent to as it is: the client sets it aside.
UNREADABLE = {"nul-in-name", "nul-in-id", "slash-in-id"}


def campaign(cid: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": cid,
        "name": f"campaign-{cid[:4]}",
        "status": "in-progress",
        "date_created": "2026-11-01T00:00:00+00:00",
        **fields,
    }


@pytest.fixture
async def server(request: pytest.FixtureRequest) -> AsyncIterator[tuple[str, list[str], str]]:
    case: str = request.param
    odd = campaign(ODD, **ODD_FIELDS[case])
    rows = [campaign(HEALTHY), odd]
    puts: list[str] = []

    async def listing(request: web.Request) -> web.Response:
        assert request.headers.get("Authorization") == AUTH
        page = rows if request.query["offset"] == "0" else []
        body = {"response": [{"code": 200, "status": "success", "data": c} for c in page]}
        return web.json_response(body)

    async def act(request: web.Request) -> web.Response:
        puts.append(request.match_info["id"])
        return web.json_response({"response": [{"code": 200, "status": "success", "data": {}}]})

    app = web.Application()
    app.router.add_get("/v2/accounts/acme/campaigns", listing)
    app.router.add_put("/v2/accounts/acme/campaigns/{id}", act)
    async with serve(app) as url:
        yield url, puts, case


@pytest.mark.parametrize("server", sorted(ODD_FIELDS), indirect=True)
async def test_one_odd_campaign_does_not_stop_the_tick(
    server: tuple[str, list[str], str], store: Store
) -> None:
    url, puts, case = server
    metrics = Metrics()
    async with ExotelClient(
        base_url=url, account_sid="acme", api_key="k", api_token="t", limiter=RateLimiter(6000)
    ) as client:
        reconciler = Reconciler(
            client=client,
            store=store,
            ruleset=lambda: RULES,
            clock=FixedClock(NOW),
            metrics=metrics,
        )
        report = await reconciler.tick()

    assert report.ok, report.error
    assert puts.count(HEALTHY) == 1  # the pause, sent once
    assert await store.unresolved_intents() == []
    unreadable = _sample(metrics, "unreadable")
    if case in UNREADABLE:
        assert (unreadable, report.campaigns) == (1, 1)
        assert puts == [HEALTHY]
    else:  # read with the impossible values dropped: acted on, or not, as a sane campaign
        assert (unreadable, report.campaigns) == (0, 2)
        assert set(puts) <= {HEALTHY, ODD}


def _sample(metrics: Metrics, reason: str) -> float:
    value = metrics.registry.get_sample_value(
        "lifecycle_campaigns_set_aside_total", {"reason": reason}
    )
    return value or 0.0


@pytest.mark.parametrize("bad", [None, [], {}, "text"], ids=["null", "list", "empty", "string"])
async def test_a_list_answer_that_is_not_an_answer_is_read_again(bad: object) -> None:
    answers: list[object] = [bad, {"response": [{"code": 200, "data": campaign(HEALTHY)}]}]
    served: list[object] = []

    async def listing(request: web.Request) -> web.Response:
        body = answers.pop(0) if request.query["offset"] == "0" and answers else {"response": []}
        served.append(body)
        return web.json_response(body)

    app = web.Application()
    app.router.add_get("/v2/accounts/acme/campaigns", listing)
    async with (
        serve(app) as url,
        ExotelClient(
            base_url=url, account_sid="acme", api_key="k", api_token="t", sleep=_no_wait
        ) as client,
    ):
        listing_read = await client.list_campaigns()

    assert [c.id for c in listing_read] == [HEALTHY]
    assert served[0] == bad  # the first answer was read, refused, and the read retried


async def test_a_list_answer_that_stays_bad_is_unavailable_not_invalid() -> None:
    async def listing(request: web.Request) -> web.Response:
        return web.json_response(None)

    app = web.Application()
    app.router.add_get("/v2/accounts/acme/campaigns", listing)
    async with (
        serve(app) as url,
        ExotelClient(
            base_url=url,
            account_sid="acme",
            api_key="k",
            api_token="t",
            sleep=_no_wait,
            max_read_attempts=2,
        ) as client,
    ):
        with pytest.raises(ApiUnavailable, match="the answer is not a JSON object"):
            await client.list_campaigns()


async def _no_wait(seconds: float) -> None:
    return None
