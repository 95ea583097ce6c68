"""Limits on what the API may send back: body size, pages, nesting, Retry-After, redirects,
and ids that are not plain path segments. Each against a small server on loopback."""

from __future__ import annotations

import gzip
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest
from aiohttp import web

from lifecycle.client import ExotelClient, RateLimiter
from lifecycle.client.answer import is_plain_id
from lifecycle.client.exotel import MAX_BODY_BYTES, MAX_PAGES, _seconds
from lifecycle.errors import ActionRejected, ApiError, ApiUnavailable, NotFound, OutcomeUnknown
from lifecycle.model import Action
from tests.fixtures.sim import serve

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
LIST = "/v2/accounts/acme/campaigns"
ONE = "/v2/accounts/acme/campaigns/{id}"


async def no_wait(_seconds: float) -> None:
    return None


@asynccontextmanager
async def client_of(routes: dict[tuple[str, str], Handler]) -> AsyncIterator[ExotelClient]:
    app = web.Application()
    for (method, path), handler in routes.items():
        app.router.add_route(method, path, handler)
    async with (
        serve(app) as url,
        ExotelClient(
            base_url=url,
            account_sid="acme",
            api_key="k",
            api_token="t",
            limiter=RateLimiter(60000),
            sleep=no_wait,
            max_read_attempts=1,
        ) as client,
    ):
        yield client


def campaign(cid: str) -> dict[str, object]:
    return {"code": 200, "status": "success", "data": {"id": cid, "status": "in-progress"}}


async def test_a_gzip_bomb_stops_at_the_body_cap() -> None:
    bomb = gzip.compress(b" " * (MAX_BODY_BYTES + 1024 * 1024), compresslevel=9)
    assert len(bomb) < 1024 * 1024

    async def handler(_request: web.Request) -> web.Response:
        headers = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
        return web.Response(body=bomb, headers=headers)

    async with client_of({("GET", LIST): handler, ("PUT", ONE): handler}) as client:
        with pytest.raises(ApiUnavailable, match="larger than 32 MiB"):
            await client.list_campaigns()
        with pytest.raises(OutcomeUnknown, match=r"larger than 32 MiB.*re-read"):
            await client.act("c1", Action.PAUSE)


async def test_pages_that_keep_changing_end_at_the_page_cap() -> None:
    served = itertools.count()

    async def handler(_request: web.Request) -> web.Response:
        # No metadata, never an empty page, never the same page twice.
        return web.json_response({"response": [campaign(f"c{next(served)}")]})

    async with client_of({("GET", LIST): handler}) as client:
        listing = await client.list_campaigns()
    assert next(served) == MAX_PAGES
    assert not listing.complete
    assert listing.shortfall is not None and f"stopped after {MAX_PAGES} pages" in listing.shortfall


async def test_the_page_cap_follows_metadata_total() -> None:
    served = itertools.count()

    async def handler(_request: web.Request) -> web.Response:
        n = next(served)  # a total that grows with every page: pages never catch up
        return web.json_response(
            {"metadata": {"total": 2 + 2 * n}, "response": [campaign(f"c{n}")]}
        )

    async with client_of({("GET", LIST): handler}) as client:
        listing = await client.list_campaigns()
    assert next(served) == 2 + 5  # ceil(2 / 1) pages, plus the slack
    assert not listing.complete


@pytest.mark.parametrize("method", ["GET", "PUT"])
async def test_deep_nesting_is_an_unreadable_body_not_a_crash(method: str) -> None:
    async def handler(_request: web.Request) -> web.Response:
        return web.Response(body=b"[" * 100_000, content_type="application/json")

    async with client_of({("GET", LIST): handler, ("PUT", ONE): handler}) as client:
        if method == "GET":
            with pytest.raises(ApiUnavailable, match="nested too deeply"):
                await client.list_campaigns()
        else:  # like any unreadable 2xx: maybe applied, re-read (an empty 2xx is a success)
            with pytest.raises(OutcomeUnknown, match=r"nested too deeply.*re-read"):
                await client.act("c1", Action.PAUSE)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("1e10", 300.0), ("inf", 300.0), ("nan", None), ("-1", None), ("12", 12.0), ("x", None)],
)
def test_retry_after_is_capped(header: str, seconds: float | None) -> None:
    assert _seconds(header) == seconds


async def test_a_429_with_an_endless_retry_after_blocks_for_the_cap_only() -> None:
    async def handler(_request: web.Request) -> web.Response:
        return web.json_response({}, status=429, headers={"Retry-After": "inf"})

    async with client_of({("PUT", ONE): handler}) as client:
        with pytest.raises(ApiError) as caught:
            await client.act("c1", Action.PAUSE)
    assert getattr(caught.value, "retry_after", None) == 300.0


@pytest.mark.parametrize("method", ["GET", "PUT"])
async def test_a_redirect_is_never_followed(method: str) -> None:
    elsewhere: list[str] = []

    async def redirect(_request: web.Request) -> web.Response:
        return web.Response(status=307, headers={"Location": "/elsewhere"})

    async def other(request: web.Request) -> web.Response:
        elsewhere.append(request.method)
        return web.json_response({"response": [campaign("c1")]})

    routes = {("GET", ONE): redirect, ("PUT", ONE): redirect}
    routes |= {("GET", "/elsewhere"): other, ("PUT", "/elsewhere"): other}
    async with client_of(routes) as client:
        if method == "GET":
            with pytest.raises(ApiError, match="307 redirect to /elsewhere, not followed"):
                await client.get_campaign("c1")
        else:
            with pytest.raises(OutcomeUnknown, match=r"307 redirect.*re-read the campaign"):
                await client.act("c1", Action.PAUSE)
    assert elsewhere == []


@pytest.mark.parametrize(
    ("cid", "plain"),
    [
        ("c1", True),
        ("0123abcdef", True),
        ("a.b-c_d~e", True),
        (".", False),
        ("..", False),
        ("", False),
        ("a/b", False),
        ("a%2Fb", False),
        ("a b", False),
        ("a\x00b", False),
        ("a?b", False),
        ("x" * 129, False),
    ],
)
def test_only_plain_path_segments_are_ids(cid: str, plain: bool) -> None:
    assert is_plain_id(cid) is plain


async def test_odd_ids_are_skipped_when_read_and_never_put_in_a_url() -> None:
    seen: list[str] = []

    async def listing(_request: web.Request) -> web.Response:
        rows = [campaign(".."), campaign("a/b"), campaign("c1")]
        return web.json_response({"metadata": {"total": 3}, "response": rows})

    async def anything(request: web.Request) -> web.Response:
        seen.append(request.path)
        return web.json_response({"response": [campaign("c1")]})

    routes = {("GET", LIST): listing, ("PUT", ONE): anything, ("GET", ONE): anything}
    async with client_of(routes) as client:
        listed = await client.list_campaigns()
        with pytest.raises(ActionRejected, match="not a plain path segment; not sent"):
            await client.act("..", Action.PAUSE)
        with pytest.raises(NotFound, match="not a plain path segment; not sent"):
            await client.get_campaign(".")
    assert [c.id for c in listed] == ["c1"]
    assert listed.unreadable == 2 and not listed.complete
    assert seen == []
