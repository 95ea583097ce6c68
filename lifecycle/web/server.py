"""Listening: how many connections, for how long, and how loudly a flood is logged.

A stranger who can reach the port must not be able to take `/healthz` down. So:
- an idle connection is closed after `idle_timeout` (aiohttp's keep-alive timer runs from
  the moment a connection is accepted, so one that never completes its request line and
  headers is closed too), and a request body must arrive within the same time;
- at most `max_connections` are open: at the cap, accepting one more closes the
  longest-open connection that is not in a handler (an idle or slow-header one), so a
  probe still gets in; when every connection is in a handler, the new one is refused;
- the cap sits well below the usual 1,024-descriptor limit, and what is logged about it
  (and asyncio's own accept errors, should descriptors run out anyway) goes through a
  `RepeatFilter`: one line per 30 s, with a count.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import resource
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from lifecycle.errors import ConfigError
from lifecycle.web.app import WebState, make_app
from lifecycle.web.repeats import RepeatFilter, install

log = logging.getLogger("lifecycle.web")

_REPEAT_EVERY = 30.0
# Descriptors kept for everything but HTTP clients: the database pool, Exotel's
# connections, the rules file, the log.
_RESERVED_FDS = 64
# Handlers still running at stop get this long: the daemon exits within seconds.
_SHUTDOWN_SECONDS = 2.0


@dataclass(frozen=True)
class Listen:
    """Where and how the HTTP side listens (LIFECYCLE_HTTP, LIFECYCLE_HTTP_*)."""

    host: str
    port: int
    max_connections: int = 128
    idle_timeout: float = 10.0


class Admission:
    """The protocol factory in front of aiohttp's server: it keeps the connection cap."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self.server: web.Server | None = None  # the runner's, once it is set up
        self.busy: set[web.RequestHandler] = set()  # connections inside a handler

    def __call__(self) -> asyncio.BaseProtocol:
        assert self.server is not None, "set Admission.server before listening"
        open_ = [h for h in self.server.connections if h.transport is not None]
        if len(open_) >= self._limit:
            idle = next((h for h in open_ if h not in self.busy), None)
            if idle is None:
                log.warning("%d connections, all busy: refused a new one", self._limit)
                return _Refused()
            log.warning("%d connections: closed the longest-open idle one", self._limit)
            idle.force_close()
        return self.server()

    @web.middleware
    async def track(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        """Mark the connection busy while its request is handled: never closed for room."""
        self.busy.add(request.protocol)
        try:
            return await handler(request)
        finally:
            self.busy.discard(request.protocol)


class _Refused(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.abort()  # at once: its descriptor is free again


class _CappedSite(web.BaseSite):
    """aiohttp's TCPSite, with `Admission` in front of the server."""

    def __init__(self, runner: web.AppRunner, listen: Listen, admission: Admission) -> None:
        super().__init__(runner)
        self._listen = listen
        self._admission = admission

    @property
    def name(self) -> str:
        return f"http://{self._listen.host}:{self._listen.port}"

    async def start(self) -> None:
        await super().start()
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._admission, self._listen.host, self._listen.port, backlog=self._backlog
        )


async def start(state: WebState, listen: Listen) -> web.AppRunner:
    """Serve `state` until the returned runner's `cleanup()`."""
    app = make_app(state)
    admission = Admission(_within_descriptors(listen.max_connections))
    app.middlewares.append(admission.track)
    remove_filter = install(RepeatFilter(_REPEAT_EVERY), log, logging.getLogger("asyncio"))
    app.on_cleanup.append(lambda _: _call(remove_filter))
    runner = web.AppRunner(
        app,
        access_log=None,
        keepalive_timeout=listen.idle_timeout,
        shutdown_timeout=_SHUTDOWN_SECONDS,
    )
    await runner.setup()
    admission.server = runner.server
    try:
        await _CappedSite(runner, listen, admission).start()
    except OSError as exc:
        await runner.cleanup()
        where = f"{listen.host}:{listen.port}"
        raise ConfigError(f"LIFECYCLE_HTTP={where}: cannot listen: {exc.strerror}") from None
    port = runner.addresses[0][1] if runner.addresses else listen.port  # port 0: the bound one
    log.info(
        "http listening on %s:%d (/healthz /readyz /metrics /webhooks/exotel); at most %d "
        "connections, closed after %gs idle",
        listen.host,
        port,
        listen.max_connections,
        listen.idle_timeout,
    )
    if not state.token and not is_loopback(listen.host):
        log.warning(
            "listening on %s without LIFECYCLE_WEBHOOK_TOKEN: anyone who reaches this port "
            "can ask for early ticks (README, Deploy: protecting the HTTP port)",
            listen.host,
        )
    return runner


def _within_descriptors(wanted: int) -> int:
    """The cap, lowered (with a warning) to leave `_RESERVED_FDS` of the process's
    descriptor limit: a cap above it would let accept fail with EMFILE, and /healthz too."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or wanted <= soft - _RESERVED_FDS:
        return wanted
    cap = max(1, soft - _RESERVED_FDS)
    log.warning(
        "LIFECYCLE_HTTP_MAX_CONNECTIONS=%d is too close to the limit of %d open files: using %d",
        wanted,
        soft,
        cap,
    )
    return cap


async def _call(function: Callable[[], None]) -> None:
    function()


def is_loopback(host: str) -> bool:
    """Whether only this machine can reach `host` (a name other than localhost: no)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
