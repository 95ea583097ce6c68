"""A fault-injecting HTTP proxy: one listening port per daemon, all forwarding to one server.

Each request is given at most one fault, drawn from a seeded `random.Random` of its own
per port, so a run is the same for the same seed and the same order of requests:

- "5xx": a 500, 502 or 503 from the proxy; nothing forwarded.
- "hang": no answer until the client gives up (closes the connection); nothing forwarded.
- "drop": forwarded and answered upstream, then the client's connection is closed
  without an answer (the server applied it; the client cannot know).
- "late": held `late_by` past the arrival (longer than the client's timeout), then
  forwarded although the client has gone: a request still on the wire when the client
  already re-read. This is what caused the illegal calls of issue 8.
- "garbage": forwarded, then answered 200 with the first half of the real body (not JSON).
- "429": a burst: this request and the next `burst` ones are answered 429 with a
  `Retry-After`, none forwarded.

Every request leaves a `ProxyEvent`. The proxy adds `X-Simulator-Tag: <event seq>` to
what it forwards, so the simulator's `transitions` say which event each change came from.
A PUT is shown to `on_put` (the soak's lease probe) on arrival, before anything else.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

import aiohttp
from aiohttp import web

from lifecycle.clock import wall_now
from lifecycle.simulator import TAG_HEADER

FaultKind = Literal["5xx", "hang", "drop", "late", "garbage", "429"]
FAULT_KINDS: tuple[FaultKind, ...] = ("5xx", "hang", "drop", "late", "garbage", "429")
_FORWARDED_HEADERS = ("Authorization", "Content-Type", "Accept")
_ANSWER_HEADERS = ("Content-Type", "Retry-After")
_CLIENT_GONE_POLL = 0.05  # how often a hung or late request looks for its client


@dataclass(frozen=True)
class FaultPlan:
    """The chance of each fault per request, and how long the slow ones last (seconds).

    `late_by` is (min, max) past arrival: set it above the client's timeout. `hang_limit`
    bounds a hang whose client never gives up.
    """

    rates: dict[FaultKind, float] = field(default_factory=dict)
    late_by: tuple[float, float] = (6.0, 8.0)
    hang_limit: float = 60.0
    burst: tuple[int, int] = (2, 6)  # further requests refused after a "429"
    retry_after: tuple[int, int] = (1, 4)

    def __post_init__(self) -> None:
        if sum(self.rates.values()) > 1.0 or any(r < 0 for r in self.rates.values()):
            raise ValueError(f"fault rates must be >= 0 and sum to at most 1: {self.rates}")

    def draw(self, rng: random.Random) -> FaultKind | None:
        roll = rng.random()
        for kind in FAULT_KINDS:
            roll -= self.rates.get(kind, 0.0)
            if roll < 0:
                return kind
        return None


CALM = FaultPlan()


@dataclass
class ProxyEvent:
    """One request through the proxy, filled in as it goes. Times are wall-clock UTC.

    `upstream_status` is None when the request was never forwarded (or the upstream call
    itself failed); `client_gone_at_forward` is True when the client had already closed
    its connection when the proxy forwarded it (a late delivery that outlived its client).
    """

    seq: int
    daemon: str
    method: str
    path: str
    action: str | None
    received_at: datetime
    fault: FaultKind | None = None
    lease: object | None = None  # whatever `on_put` returned, for the figures
    forwarded_at: datetime | None = None
    client_gone_at_forward: bool | None = None
    upstream_status: int | None = None
    upstream_request_id: str | None = None
    answered: int | None = None  # the status the client got; None: no answer

    @property
    def campaign_id(self) -> str | None:
        _, sep, tail = self.path.rpartition("/campaigns/")
        return tail.split("/", 1)[0] if sep else None

    @property
    def is_list(self) -> bool:
        return self.method == "GET" and self.path.endswith("/campaigns")


PutHook = Callable[[ProxyEvent], Awaitable[object]]


class FaultyProxy:
    """The proxy for one daemon. Mount `app()` on a port; `events` grows as requests come."""

    def __init__(
        self,
        *,
        daemon: str,
        upstream: str,
        plan: FaultPlan,
        seed: int,
        events: list[ProxyEvent],
        on_put: PutHook | None = None,
    ) -> None:
        self.daemon = daemon
        self.upstream = upstream.rstrip("/")
        self.plan = plan
        self.events = events  # shared by every proxy of a run: `seq` is unique across them
        self.on_put = on_put
        self._rng = random.Random(f"{seed}:proxy:{daemon}")
        self._burst_left = 0
        self._session: aiohttp.ClientSession | None = None

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        app.on_cleanup.append(self._close)
        return app

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        event = ProxyEvent(
            seq=len(self.events) + 1,
            daemon=self.daemon,
            method=request.method,
            path=request.path,
            action=_action_of(body) if request.method == "PUT" else None,
            received_at=wall_now(),
        )
        self.events.append(event)
        if request.method == "PUT" and self.on_put is not None:
            event.lease = await self.on_put(event)
        event.fault = self._fault()
        return await self._serve(request, body, event)

    def _fault(self) -> FaultKind | None:
        if self._burst_left > 0:
            self._burst_left -= 1
            return "429"
        kind = self.plan.draw(self._rng)
        if kind == "429":
            self._burst_left = self._rng.randint(*self.plan.burst)
        return kind

    async def _serve(
        self, request: web.Request, body: bytes, event: ProxyEvent
    ) -> web.StreamResponse:
        kind = event.fault
        if kind == "5xx":
            return _answer(event, self._gateway_error())
        if kind == "429":
            retry = str(self._rng.randint(*self.plan.retry_after))
            return _answer(event, web.json_response({}, status=429, headers={"Retry-After": retry}))
        if kind == "hang":
            await _until_client_gone(request, self.plan.hang_limit)
            return _close(request)
        if kind == "late":
            low, high = self.plan.late_by
            await asyncio.sleep(self._rng.uniform(low, high))
            await self._forward(request, body, event)
            return _close(request)
        status, headers, raw = await self._forward(request, body, event)
        if kind == "drop":
            return _close(request)
        if kind == "garbage":
            text = raw[: len(raw) // 2]
            return _answer(event, web.Response(status=200, body=text, content_type="text/html"))
        if status is None:
            return _answer(event, web.Response(status=502, text="upstream unreachable"))
        return _answer(event, web.Response(status=status, body=raw, headers=headers))

    def _gateway_error(self) -> web.Response:
        status = self._rng.choice((500, 502, 503))
        return web.Response(status=status, text=f"<html><h1>{status}</h1></html>")

    async def _forward(
        self, request: web.Request, body: bytes, event: ProxyEvent
    ) -> tuple[int | None, dict[str, str], bytes]:
        """Send the request upstream as received (plus the tag); its status, headers, body."""
        headers = {k: v for k, v in request.headers.items() if k in _FORWARDED_HEADERS}
        headers[TAG_HEADER] = str(event.seq)
        event.client_gone_at_forward = _client_gone(request)
        event.forwarded_at = wall_now()
        url = self.upstream + request.rel_url.path_qs
        try:
            async with self._http().request(
                request.method, url, data=body or None, headers=headers, allow_redirects=False
            ) as response:
                raw = await response.read()
                kept = {k: v for k, v in response.headers.items() if k in _ANSWER_HEADERS}
                event.upstream_status = response.status
                event.upstream_request_id = _request_id_of(raw)
                return response.status, kept, raw
        except (aiohttp.ClientError, TimeoutError):
            return None, {}, b""

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            timeout = aiohttp.ClientTimeout(total=30)
            self._session = aiohttp.ClientSession(timeout=timeout)
        return self._session

    async def _close(self, _app: web.Application) -> None:
        if self._session is not None:
            await self._session.close()


def _answer(event: ProxyEvent, response: web.Response) -> web.Response:
    event.answered = response.status
    return response


def _client_gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


async def _until_client_gone(request: web.Request, limit: float) -> None:
    waited = 0.0
    while waited < limit and not _client_gone(request):
        await asyncio.sleep(_CLIENT_GONE_POLL)
        waited += _CLIENT_GONE_POLL


def _close(request: web.Request) -> web.StreamResponse:
    """Close the client's connection without an answer (aiohttp discards the response)."""
    if request.transport is not None:
        request.transport.close()
    return web.Response(status=499)


def _action_of(body: bytes) -> str | None:
    try:
        parsed = json.loads(body)
        action = parsed["campaigns"][0]["action"]
    except (ValueError, KeyError, IndexError, TypeError):
        return None
    return action if isinstance(action, str) else None


def _request_id_of(raw: bytes) -> str | None:
    try:
        parsed = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    request_id = parsed.get("request_id") if isinstance(parsed, dict) else None
    return request_id if isinstance(request_id, str) else None
