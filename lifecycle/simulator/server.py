"""Serving a Simulator on a real socket: for tests, the demo and `lifecycle simulator`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web

from .account import Simulator

# How long a request still being answered may take once the server stops. A request
# stalled by a latency fault (a minute, say) is cut off, not waited out.
_SHUTDOWN_GRACE = 1.0


@asynccontextmanager
async def running(sim: Simulator, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
    """Serve sim on a real socket; yields the base URL, e.g. "http://127.0.0.1:54321".

    Port 0 picks a free port. The server stops when the block exits, giving requests
    still in progress a second to finish.
    """
    runner = web.AppRunner(sim.app(), access_log=None, shutdown_timeout=_SHUTDOWN_GRACE)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound_host, bound_port = runner.addresses[0][:2]
        yield f"http://{_url_host(bound_host)}:{bound_port}"
    finally:
        await runner.cleanup()


async def serve_forever(sim: Simulator, host: str = "127.0.0.1", port: int = 8080) -> None:
    """Serve until cancelled, after printing the base URL and the (fake) credentials."""
    async with running(sim, host, port) as url:
        config = sim.config
        print(f"Exotel simulator listening on {url}", flush=True)
        print(f"  EXOTEL_BASE_URL={url}", flush=True)
        print(f"  EXOTEL_ACCOUNT_SID={config.account_sid}", flush=True)
        print(f"  EXOTEL_API_KEY={config.api_key}", flush=True)
        print(f"  EXOTEL_API_TOKEN={config.api_token}", flush=True)
        await asyncio.Event().wait()


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
