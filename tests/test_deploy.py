"""The service as installed: the systemd unit, sd_notify and its watchdog, journald
priorities, and the container's health check."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp import web

from lifecycle.clock import FixedClock
from lifecycle.cycle import Progress
from lifecycle.daemon import _feed_watchdog
from lifecycle.simulator import Simulator
from lifecycle.store import Store
from lifecycle.systemd import notify, watchdog_interval
from tests.fixtures.sim import SIM_NOW, serve
from tests.test_daemon import running_campaign, serving, settings_for

ROOT = Path(__file__).resolve().parents[1]
UNIT = ROOT / "deploy" / "lifecycle.service"


@pytest.fixture
def notify_socket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    """A datagram socket where systemd would listen, named in NOTIFY_SOCKET."""
    path = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.settimeout(10)
        monkeypatch.setenv("NOTIFY_SOCKET", str(path))
        yield sock


def test_sd_notify_sends_one_datagram_and_is_silent_outside_systemd(
    notify_socket: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert notify("READY=1")
    assert notify_socket.recv(4096) == b"READY=1"
    monkeypatch.setenv("NOTIFY_SOCKET", "/nonexistent/socket")
    assert not notify("READY=1")  # a lost datagram never raises
    monkeypatch.delenv("NOTIFY_SOCKET")
    assert not notify("READY=1")


@pytest.mark.parametrize(
    ("usec", "pid", "interval"),
    [("", None, None), ("0", None, None), ("300000000", None, 150.0),
     ("2000000", "self", 1.0), ("2000000", "1", None), ("abc", None, None)],
)  # fmt: skip
def test_the_watchdog_is_fed_at_half_its_period_and_only_for_its_process(
    usec: str, pid: str | None, interval: float | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", usec)
    if pid is None:
        monkeypatch.delenv("WATCHDOG_PID", raising=False)
    else:
        monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()) if pid == "self" else pid)
    assert watchdog_interval() == interval


async def test_the_daemon_says_ready_feeds_the_watchdog_and_says_stopping(
    sim: Simulator, sim_url: str, sim_clock: FixedClock, tmp_path: Path,
    notify_socket: socket.socket, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    db = f"sqlite+aiosqlite:///{tmp_path / 'daemon.db'}"
    store = await Store.connect(db)
    await store.upgrade()
    await store.close()
    monkeypatch.setenv("WATCHDOG_USEC", "100000")  # fed every 0.05 s
    running_campaign(sim)
    loop = asyncio.get_running_loop()
    received: list[str] = []

    async def next_message() -> str:
        received.append((await loop.run_in_executor(None, notify_socket.recv, 4096)).decode())
        return received[-1]

    async with serving(settings_for(sim, sim_url, db), sim_clock):
        assert await next_message() == "READY=1"
        while "campaigns" not in await next_message():  # after the first tick's report
            pass
    while await next_message() != "STOPPING=1":
        pass
    fed = [m for m in received if m.startswith("WATCHDOG=1\n")]
    assert (
        fed[-1] == "WATCHDOG=1\nSTATUS=tick at 2026-11-27T19:00:00+05:30: 1 campaigns, 1 steps sent"
    )


async def test_a_stuck_tick_loop_is_not_fed_to_the_watchdog(
    notify_socket: socket.socket, sim_clock: FixedClock
) -> None:
    class Loop:
        clock = sim_clock
        last = None

        def __init__(self, progress: Progress) -> None:
            self.progress = progress

        def ruleset(self) -> object:
            from lifecycle.rules import load_rules

            return load_rules(ROOT / "rules.yaml")

    stuck = Loop(Progress(started=SIM_NOW, at=SIM_NOW))
    sim_clock.advance(timedelta(minutes=2))
    await _feed_watchdog([stuck], timedelta(minutes=3))  # type: ignore[list-item]
    assert notify_socket.recv(4096) == b"WATCHDOG=1\nSTATUS=no tick yet"
    sim_clock.advance(timedelta(minutes=2))  # 4 minutes without progress: stuck
    await _feed_watchdog([stuck], timedelta(minutes=3))  # type: ignore[list-item]
    notify_socket.settimeout(0.2)
    with pytest.raises(TimeoutError):
        notify_socket.recv(4096)
    # Several accounts: one stuck loop among moving ones is enough to starve the watchdog.
    moving = Loop(Progress(started=None, at=sim_clock.now()))
    await _feed_watchdog([moving, stuck], timedelta(minutes=3))  # type: ignore[list-item]
    with pytest.raises(TimeoutError):
        notify_socket.recv(4096)


LOGS = """
import logging
from lifecycle.cli import _configure_logging
_configure_logging("{level}", "{fmt}")
log = logging.getLogger("lifecycle.test")
log.debug("d"); log.info("i"); log.warning("w"); log.error("e1\\ne2")
"""


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_under_journald_every_line_carries_its_priority(tmp_path: Path, fmt: str) -> None:
    out = tmp_path / "stderr"
    with out.open("w") as sink:
        found = os.fstat(sink.fileno())
        env = {**os.environ, "JOURNAL_STREAM": f"{found.st_dev}:{found.st_ino}"}
        code = LOGS.format(level="DEBUG", fmt=fmt)
        subprocess.run([sys.executable, "-c", code], stderr=sink, env=env, check=True, timeout=60)
    lines = out.read_text().splitlines()
    assert [line[:3] for line in lines] == (
        ["<7>", "<6>", "<4>", "<3>", "<3>"] if fmt == "text" else ["<7>", "<6>", "<4>", "<3>"]
    )
    if fmt == "json":
        assert json.loads(lines[-1][3:])["message"] == "e1\ne2"


def test_outside_journald_lines_are_plain(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "JOURNAL_STREAM"}
    done = subprocess.run(
        [sys.executable, "-c", LOGS.format(level="INFO", fmt="text")],
        env=env, capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    assert [line.split()[1] for line in done.stderr.splitlines()[:3]] == [
        "INFO",
        "WARNING",
        "ERROR",
    ]


def test_the_unit_reads_only_files_its_install_steps_create() -> None:
    text = UNIT.read_text()
    settings = [line for line in text.splitlines() if line and not line.startswith("#")]
    read = {m for line in settings for m in re.findall(r"(/etc/lifecycle/[\w./-]+)", line)}
    installed = set(re.findall(r"install -D .*?(/etc/lifecycle/[\w./-]+)", text, re.S))
    assert read == {"/etc/lifecycle/lifecycle.env", "/etc/lifecycle/rules/rules.yaml"}
    assert read <= installed
    assert "Type=notify" in settings and "StateDirectory=lifecycle" in settings
    assert not any(line.startswith(("LoadCredential", "ReadWritePaths")) for line in settings)


def test_systemd_analyze_verifies_the_unit(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (apt-get install systemd)")
    # The unit names /opt/lifecycle/bin/lifecycle, which verify requires to exist: point it
    # at this venv's entry point, changing nothing else.
    here = Path(sys.executable).with_name("lifecycle")
    unit = tmp_path / "lifecycle.service"
    unit.write_text(UNIT.read_text().replace("/opt/lifecycle/bin/lifecycle", str(here)))
    done = subprocess.run(
        [analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert (done.returncode, done.stderr) == (0, "")


def healthcheck_command() -> list[str]:
    line = next(
        x for x in (ROOT / "Dockerfile").read_text().splitlines() if x.startswith("HEALTHCHECK")
    )
    command = json.loads(line.split(" CMD ", 1)[1])
    assert isinstance(command, list)
    return [sys.executable if part == "python" else part for part in command]


@pytest.mark.parametrize("host", ["0.0.0.0", "127.0.0.1"])
async def test_the_container_health_check_follows_lifecycle_http(host: str) -> None:
    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    async with serve(app) as url:
        port = url.rpartition(":")[2]
        env = {**os.environ, "LIFECYCLE_HTTP": f"{host}:{port}"}
        check = await asyncio.create_subprocess_exec(*healthcheck_command(), env=env)
        assert await check.wait() == 0
    env = {**os.environ, "LIFECYCLE_HTTP": f"{host}:{port}"}  # nothing listens any more
    check = await asyncio.create_subprocess_exec(
        *healthcheck_command(), env=env, stderr=asyncio.subprocess.DEVNULL
    )
    assert await check.wait() != 0
