"""The Gate: what every request passes before and after its route.

Order, as a real deployment would layer it: injected faults (a gateway in front), Basic
auth, the account SID, the per-account rate limit, the automatic moves up to now, the
route itself, and last the request log entry. A Refusal from any step becomes a v2 error
envelope; credentials are checked but never copied anywhere.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp import web

from .config import Fault, RequestRecord
from .quota import Admission
from .wire import GATEWAY_PAGE, Refusal, envelope, failure_item, rest_exception

if TYPE_CHECKING:
    from .account import Simulator

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
DROPPED = 0  # the status recorded for a request whose connection was closed unanswered


class Gate:
    def __init__(self, sim: Simulator) -> None:
        self.sim = sim

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        body = await read_json_or_none(request)
        response = await self._pass(request, handler)
        self._record(request, body, DROPPED if isinstance(response, _Dropped) else response.status)
        return response

    async def _pass(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        method, path = request.method, request.path
        stall = self.sim.faults.take_latency(method, path)
        if stall:
            await asyncio.sleep(stall)
        fault = self.sim.faults.take(method, path)
        if fault is not None and fault.kind == "drop_before":
            return _drop(request)
        if fault is not None and fault.kind != "drop_after_apply":
            return self._fault_response(request, fault)
        response = await self._admitted(request, handler)
        if fault is not None:  # drop_after_apply: the route ran, the answer is lost
            return _drop(request)
        return response

    async def _admitted(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        headers: dict[str, str] = {}
        try:
            self._authenticate(request)
            verdict = self._admit(request)
            if verdict is not None:
                headers = verdict.headers()
                if not verdict.allowed:
                    return self._rate_limited(request, verdict.retry_after, headers)
            self.sim.advance()
            response = await handler(request)
        except Refusal as refusal:
            response = self._refuse(request, refusal)
        except web.HTTPException as exc:  # the router's 404/405
            response = self._refuse(request, Refusal(exc.status, exc.reason))
        response.headers.update(headers)
        return response

    def _authenticate(self, request: web.Request) -> None:
        if not self._is_authorized(request):
            raise Refusal(401, "Authentication failed", code=1010)
        sid = request.match_info.get("sid")
        if sid is not None and sid != self.sim.config.account_sid:
            status = self.sim.config.wrong_sid_status
            raise Refusal(status, "Account not found", code=1010 if status == 401 else None)

    def _is_authorized(self, request: web.Request) -> bool:
        config = self.sim.config
        return basic_credentials(request) == (config.api_key, config.api_token)

    def _admit(self, request: web.Request) -> Admission | None:
        if self.sim.quota is None:
            return None
        return self.sim.quota.admit(self.sim.config.account_sid, self.sim.clock.now())

    def _rate_limited(
        self, request: web.Request, retry_after: int | float, headers: dict[str, str]
    ) -> web.Response:
        message = "Too many requests: the Campaign API allows a limited number per minute"
        if self.sim.config.rate_limit_style == "v1":
            body: object = rest_exception(429, message, "RATE_LIMIT_EXCEEDED")
        else:
            body = self._envelope(request, Refusal(429, message))
        headers = {**headers, "Retry-After": _seconds(retry_after)}
        return web.json_response(body, status=429, headers=headers)

    def _fault_response(self, request: web.Request, fault: Fault) -> web.Response:
        if fault.kind == "429":
            return self._rate_limited(request, fault.seconds, {})
        if fault.kind == "500":
            return self._refuse(request, Refusal(500, "Internal server error", code=1100))
        status = 200 if fault.kind == "garbage" else int(fault.kind)
        reason = {200: "OK", 502: "Bad Gateway", 503: "Service Temporarily Unavailable"}[status]
        page = GATEWAY_PAGE.format(status=status, reason=reason)
        retry = {"Retry-After": _seconds(fault.seconds)} if status == 503 and fault.seconds else {}
        return web.Response(status=status, text=page, content_type="text/html", headers=retry)

    def _refuse(self, request: web.Request, refusal: Refusal) -> web.Response:
        return web.json_response(self._envelope(request, refusal), status=refusal.http_status)

    def _envelope(self, request: web.Request, refusal: Refusal) -> object:
        request_id = self.sim.new_request_id()
        return envelope(request_id, request.method, refusal.http_status, [failure_item(refusal)])

    def _record(self, request: web.Request, body: object | None, status: int) -> None:
        self.sim.requests.append(
            RequestRecord(
                method=request.method,
                path=request.path,
                query=dict(request.query),
                body=body,
                status=status,
                authorized=self._is_authorized(request),
                authorization_header_present="Authorization" in request.headers,
                url=str(request.url),
            )
        )


def basic_credentials(request: web.Request) -> tuple[str, str] | None:
    """(key, token) from an `Authorization: Basic` header, or None when absent or malformed."""
    scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    key, sep, token = decoded.partition(":")
    return (key, token) if sep else None


async def read_json_or_none(request: web.Request) -> object | None:
    """The body parsed as JSON, or None when empty or not JSON (the log keeps what it can)."""
    raw = await request.read()
    if not raw:
        return None
    try:
        parsed: object = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    return parsed


async def read_json(request: web.Request) -> object:
    """The body parsed as JSON; a 400 Refusal when missing or malformed."""
    raw = await request.read()
    try:
        parsed: object = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise Refusal(400, "request body must be valid JSON") from None
    return parsed


class _Dropped(web.Response):
    """Stands in for the answer that was never sent."""


def _drop(request: web.Request) -> web.StreamResponse:
    # Closing the transport makes aiohttp discard whatever we return; the client sees
    # ServerDisconnectedError. Note that aiohttp's ClientSession silently re-sends an
    # idempotent request (GET, PUT, DELETE) once after such a disconnect.
    if request.transport is not None:
        request.transport.close()
    return _Dropped(status=499)


def _seconds(value: int | float) -> str:
    """Retry-After text: whole seconds as an integer, a fraction (tests only) as a decimal."""
    return str(int(value)) if float(value).is_integer() else str(value)
