"""Small fidelity fixes: what the client makes of answers the docs allow but rarely show.

- a 404 on the first list call names the account, the host and the regional hosts;
- `get_campaign` refuses an answer about another campaign;
- a PUT answered with a status that is not the step's target is kept in the audit row;
- the text of a 429 body is kept in the error and the audit row, whatever its grammar.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Literal

import pytest
from aiohttp import web

from lifecycle.client import ExotelClient, RateLimiter
from lifecycle.clock import FixedClock
from lifecycle.cycle import Reconciler
from lifecycle.errors import ApiAnswerInvalid, AuthFailed, NotFound
from lifecycle.model import Action, Outcome, Status
from lifecycle.rules import parse_rules
from lifecycle.simulator import Fault, Simulator
from lifecycle.store import Store
from tests.fixtures.sim import serve

PAUSE_RUNNING = parse_rules(
    "timezone: Asia/Kolkata\n"
    "rules:\n"
    "  - name: pause-running\n"
    "    match: {status: [in-progress]}\n"
    "    action: pause\n"
)
CAMPAIGN = "491dd6c97d64475ba0ce346a18530ce5"
OTHER = "6d49fb6fe1ee4abc8b2c4ea5d2f4015a"
REGIONS = "api.exotel.com for Singapore, api.in.exotel.com for Mumbai"

Handler = Callable[[web.Request], web.Response]


def client_on(url: str, *, account: str = "acme", key: str = "k", token: str = "t") -> ExotelClient:
    return ExotelClient(
        base_url=url, account_sid=account, api_key=key, api_token=token,
        limiter=RateLimiter(6000), max_read_attempts=1,
    )  # fmt: skip


def sim_client(sim: Simulator, url: str, **options: str) -> ExotelClient:
    config = sim.config
    return client_on(
        url,
        **{"account": config.account_sid, "key": config.api_key, "token": config.api_token}
        | options,
    )


@pytest.fixture
def answers() -> dict[str, Handler]:
    """The foreign server's answers, by route: tests replace the one they are about."""

    def listing(_: web.Request) -> web.Response:
        item = {"code": 200, "data": {"id": CAMPAIGN, "status": "in-progress"}}
        return web.json_response({"metadata": {"total": 1}, "response": [item]})

    def get(request: web.Request) -> web.Response:
        item = {"code": 200, "data": {"id": request.match_info["id"], "status": "in-progress"}}
        return web.json_response({"response": [item]})

    def put(request: web.Request) -> web.Response:
        item = {"code": 200, "data": {"id": request.match_info["id"], "status": "paused"}}
        return web.json_response({"response": [item]})

    return {"list": listing, "get": get, "put": put}


@pytest.fixture
async def foreign(answers: dict[str, Handler]) -> AsyncIterator[str]:
    async def route(request: web.Request) -> web.Response:
        if "id" not in request.match_info:
            return answers["list"](request)
        return answers["get" if request.method == "GET" else "put"](request)

    app = web.Application()
    app.router.add_get("/v2/accounts/acme/campaigns", route)
    app.router.add_route("*", "/v2/accounts/acme/campaigns/{id}", route)
    async with serve(app) as url:
        yield url


async def tick(url: str, store: Store, clock: FixedClock) -> None:
    async with client_on(url) as client:
        reconciler = Reconciler(
            client=client, store=store, ruleset=lambda: PAUSE_RUNNING, clock=clock,
        )  # fmt: skip
        assert (await reconciler.tick()).ok


async def test_a_404_on_the_first_list_names_the_account_the_host_and_the_regions(
    sim: Simulator, sim_url: str
) -> None:
    sim.config = replace(sim.config, wrong_sid_status=404)
    async with sim_client(sim, sim_url, account="acme-sg") as client:
        with pytest.raises(NotFound) as caught:
            await client.list_campaigns()
    message = str(caught.value)
    assert message.startswith(
        f"HTTP 404 listing campaigns for account acme-sg at {sim_url}: "
        f"check the account SID and the regional host ({REGIONS})"
    )
    assert "Account not found" in message  # and what the server said
    words = set(re.findall(r"[\w-]+", message))
    assert not {sim.config.api_key, sim.config.api_token} & words
    assert caught.value.http_status == 404


async def test_a_401_names_the_regional_hosts(sim: Simulator, sim_url: str) -> None:
    async with sim_client(sim, sim_url, token="wrong-token") as client:
        with pytest.raises(AuthFailed, match=re.escape(f"the regional host ({REGIONS})")):
            await client.list_campaigns()


async def test_get_campaign_refuses_an_answer_about_another_campaign(
    foreign: str, answers: dict[str, Handler]
) -> None:
    def wrong(_: web.Request) -> web.Response:
        return web.json_response({"response": [{"code": 200, "data": {"id": OTHER}}]})

    answers["get"] = wrong
    async with client_on(foreign) as client:
        with pytest.raises(ApiAnswerInvalid) as caught:
            await client.get_campaign(CAMPAIGN)
    assert f"asked for campaign {CAMPAIGN}, answered with {OTHER}" in str(caught.value)


async def test_a_put_answered_with_another_status_is_kept_in_the_audit_row_and_logged(
    foreign: str,
    answers: dict[str, Handler],
    store: Store,
    sim_clock: FixedClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def still_running(request: web.Request) -> web.Response:
        item = {"code": 200, "data": {"id": request.match_info["id"], "status": "InProgress"}}
        return web.json_response({"response": [item]})

    answers["put"] = still_running
    with caplog.at_level(logging.WARNING, logger="lifecycle.cycle"):
        await tick(foreign, store, sim_clock)

    (row,) = [r for r in await store.audit() if r.outcome == Outcome.SUCCEEDED]
    surprise = "the answer says the campaign is in-progress, not paused"
    assert (row.step, row.http_status, row.error) == (Action.PAUSE.value, 200, surprise)
    assert any(r.levelno == logging.WARNING and surprise in r.getMessage() for r in caplog.records)


async def test_a_put_answered_with_its_target_status_has_no_error_text(
    foreign: str, store: Store, sim_clock: FixedClock
) -> None:
    await tick(foreign, store, sim_clock)
    (row,) = [r for r in await store.audit() if r.outcome == Outcome.SUCCEEDED]
    assert row.error is None


@pytest.mark.parametrize(
    "body",
    [
        {"request_id": "r1", "http_code": 429, "response": {"error": "Slow down, acme"}},
        {"response": [{"code": 429, "error": {"message": "Slow down, acme"}}]},
        {"error": "Slow down, acme"},
    ],
)
async def test_the_text_of_an_undocumented_429_body_is_kept_in_the_audit_row(
    foreign: str,
    answers: dict[str, Handler],
    store: Store,
    sim_clock: FixedClock,
    body: dict[str, object],
) -> None:
    def limited(_: web.Request) -> web.Response:
        return web.json_response(body, status=429, headers={"Retry-After": "0"})

    answers["put"] = limited
    await tick(foreign, store, sim_clock)
    # The step is tried again after each Retry-After wait, and each refusal is audited.
    rows = [r for r in await store.audit() if r.outcome == Outcome.FAILED]
    assert rows
    for row in rows:
        assert row.http_status == 429
        assert row.error is not None and "HTTP 429: Slow down, acme" in row.error


@pytest.mark.parametrize("style", ["v2", "v1"])
async def test_the_text_of_a_documented_429_body_is_kept_in_the_audit_row(
    sim: Simulator, sim_url: str, sim_clock: FixedClock, store: Store, style: Literal["v2", "v1"]
) -> None:
    sim.config = replace(sim.config, rate_limit_style=style)  # v2 envelope or RestException
    sim.add_campaign(name="running", status=Status.IN_PROGRESS, numbers=50_000)
    sim.inject(Fault("429", method="PUT", seconds=0))
    async with sim_client(sim, sim_url) as client:
        reconciler = Reconciler(
            client=client, store=store, ruleset=lambda: PAUSE_RUNNING, clock=sim_clock,
        )  # fmt: skip
        assert (await reconciler.tick()).ok
    (row,) = [r for r in await store.audit() if r.outcome == Outcome.FAILED]
    assert row.http_status == 429
    text = "Too many requests: the Campaign API allows a limited number per minute"
    assert row.error is not None and f"HTTP 429: {text}" in row.error
