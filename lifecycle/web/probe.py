"""Ask a running daemon how it is: `lifecycle status` reads its `/readyz`, when it answers.

The database says what every leader did; only the daemon's memory holds a rejected rules
edit, the next wake-up and whether its ticks are stalled. A daemon that does not answer
within `timeout` is reported as such, never waited for.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp

# Listening on every address: ask it on loopback.
_WILDCARDS = {"", "0.0.0.0", "::", "[::]"}


def readyz_url(host: str, port: int) -> str:
    host = "127.0.0.1" if host in _WILDCARDS else host
    return f"http://{host}:{port}/readyz"


async def fetch_readyz(url: str, *, within: float = 1.0) -> dict[str, Any] | None:
    """The daemon's `/readyz` body (200 or 503 alike), or None when nothing answers with
    one: no daemon, another program on the port, or no answer `within` seconds."""
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=within)) as http,
            http.get(url, allow_redirects=False) as answer,
        ):
            body = json.loads(await answer.read())
    except (aiohttp.ClientError, TimeoutError, ValueError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) and "ready" in body else None
