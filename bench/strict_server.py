"""A strict rate-limited gateway in front of an upstream API, for bench_drain.py.

Written apart from lifecycle's limiter and the simulator's, so that neither can agree
with the other by sharing a mistake: it stamps each request when it *arrives* (after a
random inbound delay), admits it when fewer than `limit` requests were admitted in the
`window` seconds before, and otherwise answers 429 with `Retry-After` in whole seconds
(rounded up: the moment the oldest admitted request leaves the window). Admitted
requests are forwarded upstream unchanged. Each way adds half of a uniform
`latency ± jitter`, so a round trip costs `latency ± jitter` on top of the upstream.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
from aiohttp import web

_PASSED_ON = ("Authorization", "Content-Type")


class StrictServer:
    def __init__(
        self,
        upstream: str,
        *,
        limit: int,
        window: float = 60.0,
        latency: float = 0.050,
        jitter: float = 0.040,
        seed: int = 1,
    ) -> None:
        self.upstream = upstream.rstrip("/")
        self.limit = limit
        self.window = window
        self.latency = latency
        self.jitter = jitter
        self.admitted: list[float] = []  # arrival instants (time.monotonic), in order
        self.refused: list[float] = []
        self._recent: deque[float] = deque()
        self._rng = random.Random(seed)
        self._session: aiohttp.ClientSession | None = None

    def most_in_any_window(self) -> int:
        """The most admitted arrivals in any `window` seconds: never above `limit`."""
        return max(
            (sum(1 for t in self.admitted if s <= t < s + self.window) for s in self.admitted),
            default=0,
        )

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(self._one_way())
        arrived = time.monotonic()
        while self._recent and self._recent[0] <= arrived - self.window:
            self._recent.popleft()
        if len(self._recent) >= self.limit:
            self.refused.append(arrived)
            response = _too_many(math.ceil(self._recent[0] + self.window - arrived))
        else:
            self._recent.append(arrived)
            self.admitted.append(arrived)
            response = await self._forward(request)
        await asyncio.sleep(self._one_way())
        return response

    async def _forward(self, request: web.Request) -> web.Response:
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k in _PASSED_ON}
        body = await request.read()
        url = self.upstream + request.path_qs
        sent = self._session.request(request.method, url, headers=headers, data=body)
        async with sent as upstream:
            answer = await upstream.read()
            return web.Response(
                status=upstream.status, body=answer, content_type=upstream.content_type
            )

    def _one_way(self) -> float:
        round_trip = self._rng.uniform(self.latency - self.jitter, self.latency + self.jitter)
        return max(0.0, round_trip / 2)

    @asynccontextmanager
    async def serving(self) -> AsyncIterator[str]:
        """Serve on a free loopback port; yields the base URL."""
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        self._session = aiohttp.ClientSession()
        try:
            yield f"http://{host}:{port}"
        finally:
            await self._session.close()
            await runner.cleanup()


def _too_many(retry_after: int) -> web.Response:
    body = {
        "http_code": 429,
        "response": [
            {
                "code": 429,
                "status": "failure",
                "error_data": {"code": 429, "message": "Too Many Requests"},
            }
        ],
    }
    return web.Response(
        status=429,
        text=json.dumps(body),
        content_type="application/json",
        headers={"Retry-After": str(max(1, retry_after))},
    )
