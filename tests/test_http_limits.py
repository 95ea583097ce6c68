"""What a stranger can do to the HTTP side: idle connections past the cap, and floods of
log lines. Judged by what the server did (connections it closed, lines it wrote)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import cast

import aiohttp
import pytest
from aiohttp import web

from lifecycle.client import ExotelClient
from lifecycle.clock import FixedClock
from lifecycle.cycle import Reconciler
from lifecycle.rules import load_rules
from lifecycle.store import Store
from lifecycle.web import Listen, WebState, start
from lifecycle.web.repeats import RepeatFilter, install
from tests.conftest import NOW

RULES = load_rules(Path(__file__).parents[1] / "rules.yaml")
CAP = 8


@pytest.fixture
async def runner() -> AsyncIterator[web.AppRunner]:
    """The web side alone, with a small cap and a short idle timeout."""
    clock = FixedClock(NOW)
    reconciler = Reconciler(
        client=cast(ExotelClient, None), store=cast(Store, None), ruleset=lambda: RULES,
        clock=clock,
    )  # fmt: skip
    state = WebState(
        reconciler=reconciler, clock=clock, poll_seconds=60, nudge=lambda _: None,
        started_at=NOW,
    )  # fmt: skip
    started = await start(state, Listen("127.0.0.1", 0, max_connections=CAP, idle_timeout=1.0))
    try:
        yield started
    finally:
        await started.cleanup()


async def test_idle_connections_past_the_cap_never_take_healthz_down(
    runner: web.AppRunner, caplog: pytest.LogCaptureFixture
) -> None:
    host, port = runner.addresses[0][:2]
    assert runner.server is not None
    # Half of them send half a request line and stop; the rest send nothing at all.
    idle = [await asyncio.open_connection(host, port) for _ in range(3 * CAP)]
    for _, writer in idle[::2]:
        writer.write(b"GET /heal")
    await asyncio.sleep(0)

    async with aiohttp.ClientSession() as http, http.get(f"http://{host}:{port}/healthz") as r:
        assert r.status == 200
        assert len(runner.server.connections) <= CAP

    # Every idle one is closed by the server: the oldest to make room, the rest once idle
    # for the timeout (the read ends with EOF, or a reset, instead of waiting for good).
    for reader, writer in idle:
        with contextlib.suppress(ConnectionResetError):
            assert await asyncio.wait_for(reader.read(), 10) == b""
        writer.close()
    closing = [r for r in caplog.records if "closed the longest-open idle one" in r.getMessage()]
    assert len(closing) == 1  # a flood of them is one line per 30 s


def test_a_repeated_line_is_let_through_once_per_period_with_a_count(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    logger = logging.getLogger("lifecycle.test.repeats")
    remove = install(RepeatFilter(30, clock=lambda: now[0]), logger)
    try:
        for second in range(100):
            now[0] = float(second)
            logger.warning("rejected webhook from %s: %s", f"10.0.0.{second}", "bad body")
            logger.error("another line")  # counted on its own
            if second == 50:
                logger.warning("rejected webhook from %s: %s", "10.0.0.1", "bad body")
    finally:
        remove()
    assert [r.getMessage() for r in caplog.records] == [
        "rejected webhook from 10.0.0.0: bad body",
        "another line",
        "rejected webhook from 10.0.0.30: bad body (… repeated 29 times in the last 30s)",
        "another line (… repeated 29 times in the last 30s)",
        "rejected webhook from 10.0.0.60: bad body (… repeated 30 times in the last 30s)",
        "another line (… repeated 29 times in the last 30s)",
        "rejected webhook from 10.0.0.90: bad body (… repeated 29 times in the last 30s)",
        "another line (… repeated 29 times in the last 30s)",
    ]
    assert logger.filters == []


# A child process left with few descriptors after start (start would lower the cap to fit
# them), so that accepting fails with EMFILE.
_CHILD = """
import asyncio, logging, resource, sys
from typing import cast
from lifecycle.clock import FixedClock
from lifecycle.cycle import Reconciler
from lifecycle.web import Listen, WebState, start
from tests.conftest import NOW

logging.basicConfig(level=logging.INFO, stream=sys.stderr)

async def main() -> None:
    if sys.argv[1] == "before":
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))
    clock = FixedClock(NOW)
    reconciler = Reconciler(client=None, store=None, ruleset=lambda: None, clock=clock)
    state = WebState(reconciler=reconciler, clock=clock, poll_seconds=60,
                     nudge=lambda _: None, started_at=NOW)
    runner = await start(state, Listen("127.0.0.1", 0, max_connections=1000, idle_timeout=60))
    if sys.argv[1] == "after":  # the cap stays 1000
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
    print(runner.addresses[0][1], flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await runner.cleanup()

asyncio.run(main())
"""


async def spawn(limit_set: str) -> asyncio.subprocess.Process:
    """The child, its rlimit set `before` or `after` the server starts."""
    return await asyncio.create_subprocess_exec(
        sys.executable, "-c", _CHILD, limit_set, cwd=Path(__file__).parents[1],
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def test_the_cap_is_lowered_to_fit_the_descriptor_limit() -> None:
    started = await spawn("before")
    _, stderr = await asyncio.wait_for(started.communicate(b""), 30)
    assert started.returncode == 0
    assert (
        "LIFECYCLE_HTTP_MAX_CONNECTIONS=1000 is too close to the limit of 256 open files: using 192"
    ) in stderr.decode()


async def test_accept_errors_when_descriptors_run_out_are_one_line_per_period() -> None:
    child = await spawn("after")
    assert child.stdin is not None and child.stdout is not None and child.stderr is not None
    port = int(await asyncio.wait_for(child.stdout.readline(), 30))
    held = []
    for _ in range(100):  # more than the child's 64 descriptors
        with contextlib.suppress(OSError):
            held.append(await asyncio.open_connection("127.0.0.1", port))
    # asyncio retries the accept every second: over 3 s, each retry fails again.
    for _ in range(30):
        await asyncio.sleep(0.1)
    for _, writer in held:
        writer.close()
    child.stdin.close()
    _, stderr = await asyncio.wait_for(child.communicate(), 30)
    text = stderr.decode()
    assert child.returncode == 0, text
    assert text.count("socket.accept() out of system resource") == 1, text
