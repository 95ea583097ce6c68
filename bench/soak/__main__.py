"""The soak: two daemons on one PostgreSQL, behind fault-injecting proxies, under chaos.

    .venv/bin/python -m bench.soak [--minutes 10] [--seed 1]      # or: make soak

Everything but the daemons runs in this process: the simulator (real time), one proxy
port per daemon, the lease probe, the operator, the chaos and the RSS sampler. The run:

1. a schema of its own in PostgreSQL (`soak_<hex>`, dropped afterwards unless --keep);
2. a rules file for this run (workload.py), checked with `lifecycle check`;
3. both daemons started (`lifecycle run`, poll 5 s, HTTP timeout 4 s), then `--minutes`
   of faults, freezes, kills and manual changes;
4. a quiet period (`--quiet` seconds): no faults, no chaos, no operator, both daemons
   running, so that every unknown outcome can be resolved; then SIGTERM to both;
5. the figures (figures.py): a table on stdout and JSON in `--out`, beside the daemon
   logs, the chaos log and the rules file. Exit 1 when a target figure is not zero.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import signal
import subprocess
import sys
import uuid
from collections import Counter
from contextlib import AsyncExitStack
from dataclasses import asdict, dataclass, is_dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from aiohttp import web
from sqlalchemy import make_url

from lifecycle.clock import wall_now
from lifecycle.simulator import Simulator, SimulatorConfig, running

from .daemons import Chaos, ChaosEvent, ChaosPlan, Daemon, RssSampler
from .figures import TARGETS, AuditLink, Inputs, Intent, compute
from .leases import LeaseProbe, Roster
from .proxy import CALM, FaultPlan, FaultyProxy, ProxyEvent
from .workload import Operator, flip_windows, rules_text, seed_fleet

log = logging.getLogger("soak")

ROOT = Path(__file__).parents[2]
LIFECYCLE = ROOT / ".venv" / "bin" / "lifecycle"
DEFAULT_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
POLL_SECONDS = 5.0
HTTP_TIMEOUT = 4.0
DAEMONS = ("soak-a", "soak-b")
# Moderate rates, so actions still flow: about one request in five meets a fault.
FAULTS = FaultPlan(
    rates={"5xx": 0.05, "hang": 0.03, "drop": 0.04, "late": 0.04, "garbage": 0.03, "429": 0.02},
    late_by=(HTTP_TIMEOUT + 2, HTTP_TIMEOUT + 4),
    hang_limit=3 * HTTP_TIMEOUT,
)


@dataclass(frozen=True)
class Options:
    minutes: float
    seed: int
    campaigns: int
    quiet: float
    port_base: int
    out: Path
    postgres: str
    keep: bool
    lifecycle: Path


def parse_args(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bench.soak", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--minutes", type=float, default=float(os.environ.get("SOAK_MINUTES", 10)))
    parser.add_argument("--seed", type=int, default=int(os.environ.get("SOAK_SEED", 1)))
    parser.add_argument("--campaigns", type=int, default=100)
    parser.add_argument("--quiet", type=float, default=120.0, help="seconds of calm at the end")
    parser.add_argument("--port-base", type=int, default=18400, help="uses this and the next 4")
    parser.add_argument("--out", type=Path, default=None, help="default: /tmp/lifecycle-soak-*")
    parser.add_argument(
        "--postgres",
        default=os.environ.get("LIFECYCLE_TEST_POSTGRES_URL") or DEFAULT_POSTGRES,
        help="a SQLAlchemy URL of a database to make a schema in",
    )
    parser.add_argument("--keep", action="store_true", help="keep the schema afterwards")
    parser.add_argument(
        "--lifecycle", type=Path, default=LIFECYCLE, help="the daemon's executable to soak"
    )
    args = parser.parse_args(argv)
    stamp = wall_now().strftime("%Y%m%dT%H%M%S")
    out = args.out or Path(f"/tmp/lifecycle-soak-{stamp}-seed{args.seed}")
    return Options(
        args.minutes,
        args.seed,
        args.campaigns,
        args.quiet,
        args.port_base,
        out,
        args.postgres,
        args.keep,
        args.lifecycle,
    )


class Soak:
    """One run. `run()` returns the figures."""

    def __init__(self, options: Options) -> None:
        self.options = options
        self.rng = random.Random(f"{options.seed}:soak")
        self.schema = f"soak_{uuid.uuid4().hex[:12]}"
        self.events: list[ProxyEvent] = []
        self.chaos_log: list[ChaosEvent] = []
        self.roster = Roster()
        self.stop = asyncio.Event()
        self.probe: LeaseProbe | None = None

    async def run(self) -> dict[str, Any]:
        options = self.options
        options.out.mkdir(parents=True, exist_ok=True)
        start = wall_now()
        end = start + timedelta(minutes=options.minutes)
        sim = Simulator(
            SimulatorConfig(
                rate_per_minute=120, end_at_behaviour="paused", end_at_lag=timedelta(seconds=20)
            ),
            seed=options.seed,
        )
        ids = seed_fleet(
            sim, campaigns=options.campaigns, ending=0.3, start=start, end=end, rng=self.rng
        )
        rules = options.out / "rules.yaml"
        windows = flip_windows(start, end + timedelta(seconds=options.quiet), self.rng)
        rules.write_text(rules_text(windows, archive_after="2m"))
        _must(options.lifecycle, "check", str(rules))
        dsn = _asyncpg_dsn(options.postgres)
        async with AsyncExitStack() as stack:
            admin = await asyncpg.connect(dsn)
            stack.push_async_callback(admin.close)
            await admin.execute(f'CREATE SCHEMA "{self.schema}"')
            if not options.keep:
                stack.push_async_callback(admin.execute, f'DROP SCHEMA "{self.schema}" CASCADE')
            pool = await asyncpg.create_pool(dsn, min_size=1, max_size=3)
            stack.push_async_callback(pool.close)
            sim_url = await stack.enter_async_context(running(sim, port=options.port_base))
            probe = LeaseProbe(
                pool, schema=self.schema, lease_name=f"tick:{sim.config.account_sid}"
            )
            self.probe = probe  # the chaos aims at whoever holds the lease
            proxies = [
                await self._proxy(stack, name, sim_url, probe, options.port_base + 1 + i)
                for i, name in enumerate(DAEMONS)
            ]
            daemons = self._daemons(sim, rules)
            stack.push_async_callback(_kill_survivors, daemons)  # after an error or Ctrl-C
            _must(options.lifecycle, "db", "upgrade", env=daemons[0].env)
            rss = await self._chaos(sim, ids, daemons, proxies, end)
            figures = await self._figures(admin, sim, rss)
        figures["run"] = {
            "seed": options.seed,
            "minutes": options.minutes,
            "quiet_seconds": options.quiet,
            "campaigns": options.campaigns,
            "started_at": start.isoformat(),
            "schema": self.schema,
            "kept": options.keep,
            "chaos": dict(Counter(e.kind for e in self.chaos_log)),
            "daemon_pids": {d.name: d.pids for d in daemons},
        }
        return figures

    async def _proxy(
        self, stack: AsyncExitStack, name: str, upstream: str, probe: LeaseProbe, port: int
    ) -> FaultyProxy:
        async def on_put(_event: ProxyEvent) -> object:
            return await probe.sight()

        proxy = FaultyProxy(
            daemon=name,
            upstream=upstream,
            plan=FAULTS,
            seed=self.options.seed,
            events=self.events,
            on_put=on_put,
        )
        runner = web.AppRunner(proxy.app(), access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        await web.TCPSite(runner, "127.0.0.1", port).start()
        return proxy

    def _daemons(self, sim: Simulator, rules: Path) -> list[Daemon]:
        options, config = self.options, sim.config
        url = make_url(options.postgres).update_query_dict({"schema": self.schema})
        daemons = []
        for i, name in enumerate(DAEMONS):
            env = {
                **os.environ,
                "EXOTEL_ACCOUNT_SID": config.account_sid,
                "EXOTEL_API_KEY": config.api_key,
                "EXOTEL_API_TOKEN": config.api_token,
                "EXOTEL_BASE_URL": f"http://127.0.0.1:{options.port_base + 1 + i}",
                "LIFECYCLE_DATABASE_URL": url.render_as_string(hide_password=False),
                "LIFECYCLE_RULES": str(rules),
                "LIFECYCLE_POLL_SECONDS": str(POLL_SECONDS),
                "LIFECYCLE_API_RATE_PER_MINUTE": "60",
                "LIFECYCLE_HTTP": f"127.0.0.1:{options.port_base + 3 + i}",
                "LIFECYCLE_HTTP_TIMEOUT": str(HTTP_TIMEOUT),
                # The stable part of the owner id after issue 8's fix, if it is read from here.
                "LIFECYCLE_INSTANCE": name,
            }
            self.roster.add(name, name)
            log_path = options.out / f"{name}.log"
            daemons.append(
                Daemon(name, [str(options.lifecycle), "run"], env, log_path, self.chaos_log)
            )
        return daemons

    async def _chaos(
        self,
        sim: Simulator,
        ids: list[str],
        daemons: list[Daemon],
        proxies: list[FaultyProxy],
        end: datetime,
    ) -> RssSampler:
        for daemon in daemons:
            await daemon.start()
        rss = RssSampler(daemons)
        operator = Operator(sim, ids, every=10.0, rng=random.Random(f"{self.options.seed}:op"))
        chaos = Chaos(
            daemons, ChaosPlan(), random.Random(f"{self.options.seed}:chaos"), self._leader
        )
        calm = asyncio.Event()
        tasks = [
            asyncio.create_task(rss.run(self.stop)),
            asyncio.create_task(operator.run(calm)),
            asyncio.create_task(chaos.run(calm)),
            asyncio.create_task(self._track_pids(daemons)),
        ]
        try:
            await self._calm_down(daemons, proxies, tasks, calm, end)
        finally:  # on Ctrl-C too: nothing may restart a daemon once the stack unwinds
            for task in tasks:
                task.cancel()
        return rss

    async def _calm_down(
        self,
        daemons: list[Daemon],
        proxies: list[FaultyProxy],
        tasks: list[asyncio.Task[None]],
        calm: asyncio.Event,
        end: datetime,
    ) -> None:
        """Chaos until `end`, then the calm, then SIGTERM to both daemons."""
        await asyncio.sleep(max(0.0, (end - wall_now()).total_seconds()))
        log.info("chaos over: %d s of calm with both daemons running", self.options.quiet)
        calm.set()
        for proxy in proxies:
            proxy.plan = CALM
        await asyncio.gather(tasks[1], tasks[2])
        for daemon in daemons:
            if not daemon.is_alive():
                await daemon.start()
            elif daemon.stopped:
                daemon.cont()
        await asyncio.sleep(self.options.quiet)
        for daemon in daemons:
            code = await daemon.terminate(grace=30.0)
            log.info("%s exited with %s", daemon.name, code)
        self.stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _leader(self) -> str | None:
        """The daemon holding an unexpired lease now, by the database's clock."""
        sight = await self.probe.sight() if self.probe is not None else None
        if sight is None or sight.expires_at is None or sight.expires_at <= sight.db_now:
            return None
        return self.roster.owner_to_daemon(sight.owner)

    async def _track_pids(self, daemons: list[Daemon]) -> None:
        while not self.stop.is_set():
            for daemon in daemons:
                for pid in daemon.pids:
                    self.roster.add(daemon.name, str(pid))
            await asyncio.sleep(0.2)

    async def _figures(
        self, admin: asyncpg.Connection, sim: Simulator, rss: RssSampler
    ) -> dict[str, Any]:
        schema = self.schema
        intents = [
            Intent(
                r["id"], r["campaign_id"], r["step"], r["state"], r["created_at"], r["closed_at"]
            )
            for r in await admin.fetch(
                "SELECT id, campaign_id, step, state, created_at, closed_at "
                f'FROM "{schema}".intents'
            )
        ]
        links = [
            AuditLink(r["intent_id"], r["request_id"])
            for r in await admin.fetch(
                f'SELECT intent_id, request_id FROM "{schema}".audit '
                "WHERE intent_id IS NOT NULL AND request_id IS NOT NULL"
            )
        ]
        inputs = Inputs(
            self.events, list(sim.transitions), intents, links, self.roster, rss.max_kib
        )
        self._dump(sim)
        _write_lines(self.options.out / "intents.jsonl", [asdict(i) for i in intents])
        _write_lines(self.options.out / "audit-links.jsonl", [asdict(a) for a in links])
        return compute(inputs)

    def _dump(self, sim: Simulator) -> None:
        """The raw records beside the figures, for reading an offending step's story."""
        out = self.options.out
        rows = [{**asdict(e), "lease": _plain(e.lease)} for e in self.events]
        _write_lines(out / "proxy-events.jsonl", rows)
        _write_lines(out / "transitions.jsonl", [asdict(t) for t in sim.transitions])
        _write_lines(out / "chaos.jsonl", [asdict(e) for e in self.chaos_log])


async def _interruptible(soak: Soak) -> dict[str, Any]:
    """The run, cancelled by SIGINT or SIGTERM, so that its stack kills the daemons and
    drops the schema on the way out."""
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, task.cancel)
    return await soak.run()


async def _kill_survivors(daemons: list[Daemon]) -> None:
    for daemon in daemons:
        if daemon.is_alive():
            await daemon.kill()


def _plain(value: object) -> object:
    return asdict(value) if is_dataclass(value) and not isinstance(value, type) else value


def _write_lines(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w") as out:
        for row in rows:
            out.write(json.dumps(row, default=str) + "\n")


def _asyncpg_dsn(url: str) -> str:
    parsed = make_url(url).set(drivername="postgresql").difference_update_query(["schema"])
    return parsed.render_as_string(hide_password=False)


def _must(*command: object, env: dict[str, str] | None = None) -> None:
    done = subprocess.run([str(c) for c in command], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, command))} failed:\n{done.stdout}{done.stderr}")


def print_table(figures: dict[str, Any], out: Path) -> None:
    rows = [
        ("PUTs sent per daemon", figures["puts_sent"]),
        ("requests per daemon", figures["requests"]),
        ("faults injected", figures["faults"]),
        (
            "late PUTs delivered after the client left",
            figures["late_puts_delivered_after_client_left"],
        ),
        ("steps the server applied", figures["applied"]),
        ("operator moves by hand", figures["operator_moves"]),
        ("chaos events", figures["run"]["chaos"]),
        ("duplicates (target 0)", figures["duplicates"]),
        ("illegal calls (target 0)", figures["illegal"]),
        ("raced by a person or the platform", figures["raced"]),
        ("audit rows disagreeing with the server (target 0)", figures["audit_disagrees"]),
        ("... masked by a person or the platform", figures["audit_disagrees_masked"]),
        ("server changes with no intent (target 0)", figures["unaudited"]),
        ("open/unknown intents at the end (target 0)", figures["open_intents"]),
        ("intents by state", figures["intents"]),
        ("PUTs sent without holding the lease (target 0)", figures["puts_without_lease"]),
        ("PUTs by sender and lease holder at that instant", figures["puts_by_sender_and_holder"]),
        ("PUTs whose lease row could not be read", figures["lease_unreadable"]),
        ("max RSS, MiB", figures["rss_max_mib"]),
    ]
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"{label:<{width}}  {value}")
    print(f"\nfigures, details and raw records: {out}")


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    options.out.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(name)s %(message)s",
        handlers=[logging.StreamHandler(), logging.FileHandler(options.out / "soak.log")],
    )
    try:
        figures = asyncio.run(_interruptible(Soak(options)))
    except asyncio.CancelledError:
        print(f"interrupted: no figures; logs in {options.out}", file=sys.stderr)
        return 130
    (options.out / "figures.json").write_text(json.dumps(figures, indent=2, default=str))
    print_table(figures, options.out)
    failed = [name for name in TARGETS if figures[name]]
    if failed:
        print(f"not zero: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
