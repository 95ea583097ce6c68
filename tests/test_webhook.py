"""Webhooks: both documented key styles, a clear error for anything else, bodies read whole
and bounded (size, depth), the optional token."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import cast

import aiohttp
import pytest

from lifecycle.client import ExotelClient
from lifecycle.clock import FixedClock
from lifecycle.cycle import Reconciler
from lifecycle.rules import load_rules
from lifecycle.store import Store
from lifecycle.web import (
    Callback,
    CallbackInvalid,
    Listen,
    WebState,
    make_app,
    parse_callback,
    start,
)
from lifecycle.web.callbacks import MAX_BODY
from lifecycle.web.server import is_loopback
from tests.conftest import NOW
from tests.fixtures.sim import serve

ID = "491dd6c97d64475ba0ce346a18530ce5"
RULES = load_rules(Path(__file__).parents[1] / "rules.yaml")


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"campaign_sid": ID, "status": "Completed"}, Callback(ID, "Completed")),
        ({"CampaignSid": ID, "Status": "Canceled", "Stats": "{}"}, Callback(ID, "Canceled")),
        ({"CampaignSid": ID, "FinalStatus": "failed", "To": "+9198"}, Callback(ID, "failed")),
        ({"campaign_sid": ID, "call_sid": "abc", "number": "+91"}, Callback(ID, None)),
    ],
)
def test_parse_callback_accepts_both_key_styles(
    fields: dict[str, object], expected: Callback
) -> None:
    assert parse_callback(fields) == expected


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({}, "missing campaign id: expected one of campaign_sid, CampaignSid, campaign_id"),
        ({"campaign_sid": 42}, "missing campaign id"),
        ({"campaign_sid": "../../etc/passwd"}, "campaign_sid: not an Exotel id"),
        ({"campaign_sid": ID, "status": ["x"]}, "status: must be a string"),
    ],
)
def test_parse_callback_names_what_is_wrong(fields: dict[str, object], message: str) -> None:
    with pytest.raises(CallbackInvalid, match=message.replace(".", r"\.")):
        parse_callback(fields)


# The handler over real HTTP: bodies read whole and bounded, the optional token.


def web_state(hints: list[str], token: str = "") -> WebState:
    """A WebState whose early ticks are recorded in `hints` (no tick runs here)."""
    clock = FixedClock(NOW)
    reconciler = Reconciler(
        client=cast(ExotelClient, None), store=cast(Store, None), ruleset=lambda: RULES,
        clock=clock,
    )  # fmt: skip
    return WebState(
        reconciler=reconciler, clock=clock, poll_seconds=60, nudge=hints.append,
        started_at=NOW, token=token, body_timeout=5,
    )  # fmt: skip


async def raw_post(base: str, head: bytes, parts: list[bytes]) -> bytes:
    """POST over a raw socket, each part written and flushed on its own, a pause between
    (so they leave as separate packets); the whole answer."""
    host, port = base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(head)
        for part in parts:
            writer.write(part)
            await writer.drain()
            await asyncio.sleep(0.1)
        return await reader.read()
    finally:
        writer.close()


def form_head(length: int) -> bytes:
    return (
        "POST /webhooks/exotel HTTP/1.1\r\nHost: lifecycle\r\nConnection: close\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


async def test_a_body_split_across_packets_is_read_whole() -> None:
    hints: list[str] = []
    body = b"CampaignSid=abc123&Status=Completed"
    async with serve(make_app(web_state(hints))) as base:
        # Cut inside the id: one read of what arrived first would see "abc1".
        answer = await raw_post(base, form_head(len(body)), [body[:16], body[16:]])
    assert answer.startswith(b"HTTP/1.1 202 ")
    assert hints == ["abc123"]


@pytest.mark.parametrize(
    ("body", "content_type", "status", "error"),
    [
        (b"[" * 30_000, "application/json", 400, "JSON nested deeper than 16 levels at char 16"),
        (b'{"a":' * 17 + b"1" + b"}" * 17, "application/json", 400,
         "JSON nested deeper than 16 levels at char 80"),
        (b"CampaignSid=" + b"a" * MAX_BODY, "application/x-www-form-urlencoded", 413,
         f"body larger than {MAX_BODY} bytes"),
        (b"{nope", "application/json", 400,
         "body is not valid JSON: Expecting property name enclosed in double quotes at char 1"),
        (b"\xff=1", "application/x-www-form-urlencoded", 400,
         "body is neither JSON nor form-encoded"),
    ],
)  # fmt: skip
async def test_bad_bodies_get_a_located_4xx(
    body: bytes, content_type: str, status: int, error: str
) -> None:
    hints: list[str] = []
    async with (
        serve(make_app(web_state(hints))) as base,
        aiohttp.ClientSession() as http,
        http.post(
            f"{base}/webhooks/exotel", data=body, headers={"Content-Type": content_type}
        ) as answer,
    ):
        assert (answer.status, (await answer.json())["error"]) == (status, error)
    assert hints == []


@pytest.mark.parametrize(
    "body",
    [
        # Brackets inside strings are text, not nesting; a body of exactly the cap is fine.
        json.dumps({"campaign_sid": ID, "note": "[[[[" * 20 + '\\"{{{{' * 20}).encode(),
        json.dumps({"campaign_sid": ID, "pad": "x" * (MAX_BODY - 50)}).encode()[:MAX_BODY - 2]
        + b'"}',
        json.dumps({"CampaignSid": ID, "call_sids": [["a"], ["b"]], "Status": "failed"}).encode(),
    ],
)  # fmt: skip
async def test_good_json_bodies_are_accepted(body: bytes) -> None:
    hints: list[str] = []
    async with (
        serve(make_app(web_state(hints))) as base,
        aiohttp.ClientSession() as http,
        http.post(
            f"{base}/webhooks/exotel", data=body, headers={"Content-Type": "application/json"}
        ) as answer,
    ):
        assert answer.status == 202, await answer.text()
    assert hints == [ID]


TOKEN = "s3cret-t0ken"


@pytest.mark.parametrize(
    ("token", "query", "headers", "status"),
    [
        ("", "", {}, 202),  # no token configured: none needed
        (TOKEN, "", {}, 401),
        (TOKEN, "?token=wrong", {}, 401),
        (TOKEN, f"?token={TOKEN}x", {}, 401),
        (TOKEN, "", {"Authorization": "Basic czNjcmV0LXQwa2Vu"}, 401),
        (TOKEN, f"?token={TOKEN}", {}, 202),  # as Exotel's callback URL carries it
        (TOKEN, "", {"Authorization": f"Bearer {TOKEN}"}, 202),
        (TOKEN, "", {"X-Lifecycle-Token": TOKEN}, 202),
    ],
)
async def test_the_webhook_token(
    token: str,
    query: str,
    headers: dict[str, str],
    status: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    hints: list[str] = []
    form = {"CampaignSid": ID, "Status": "Completed"}
    async with (
        serve(make_app(web_state(hints, token=token))) as base,
        aiohttp.ClientSession() as http,
        http.post(f"{base}/webhooks/exotel{query}", data=form, headers=headers) as answer,
    ):
        assert answer.status == status
        if status == 401:
            assert await answer.json() == {"error": "unauthorized"}
    assert hints == ([ID] if status == 202 else [])
    assert TOKEN not in caplog.text


@pytest.mark.parametrize(
    ("host", "token", "warned"),
    [("0.0.0.0", "", True), ("0.0.0.0", TOKEN, False), ("127.0.0.1", "", False)],
)
async def test_listening_beyond_loopback_without_a_token_is_a_warning(
    host: str, token: str, warned: bool, caplog: pytest.LogCaptureFixture
) -> None:
    runner = await start(web_state([], token=token), Listen(host, 0))
    await runner.cleanup()
    assert ("without LIFECYCLE_WEBHOOK_TOKEN" in caplog.text) is warned
    assert TOKEN not in caplog.text


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.8.0.1", True), ("::1", True), ("[::1]", True),
     ("localhost", True), ("0.0.0.0", False), ("::", False), ("10.0.0.5", False),
     ("lifecycle.internal", False)],
)  # fmt: skip
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
