"""The resident set of a reconciling process at a large fleet, main's code before the lean
campaigns against this tree, side by side.

    .venv/bin/python bench/bench_tick_rss.py [--campaigns 100000] [--port 20101] [--before COMMIT]

Starts `lifecycle simulator --campaigns N --rate 0` in its own process (seeded; the rules
are rules.yaml, in dry-run, so the fleet does not change between runs), then, for each
tree in a fresh process of its own: a SQLite store in a temporary directory, the client
with its rate limiter off, and two ticks of the Reconciler (the first observes every
campaign for the first time; the second is the steady tick, the first tick's report still
held for the status page). Printed: VmRSS after each tick and VmHWM (the peak), in MiB,
and the CPU seconds of each tick (one core). The tick's own work besides the list (store,
plan) is the same code in both trees, so the difference is what the campaigns hold.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from bench_parse import BEFORE, before_tree  # noqa: E402


def _memory() -> dict[str, float]:
    found = {}
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(("VmRSS:", "VmHWM:")):
                found[line.split(":")[0]] = int(line.split()[1]) / 1024
    return found


async def _ticks(tree: str, url: str) -> dict[str, Any]:
    import lifecycle
    from lifecycle.client import ExotelClient, RateLimiter
    from lifecycle.clock import SystemClock
    from lifecycle.cycle import Reconciler
    from lifecycle.rules import load_rules
    from lifecycle.store import Store

    assert lifecycle.__file__ is not None and lifecycle.__file__.startswith(tree), tree
    rules = load_rules(ROOT / "rules.yaml")
    result: dict[str, Any] = {"start": _memory()["VmRSS"]}
    with tempfile.TemporaryDirectory(prefix="bench-rss-") as temp:
        store = await Store.connect(f"sqlite+aiosqlite:///{temp}/lifecycle.db")
        await store.upgrade()
        client = ExotelClient(
            base_url=url, account_sid="acme1", api_key="sim-key", api_token="sim-token",
            limiter=RateLimiter(1e9),
        )  # fmt: skip
        async with client:
            reconciler = Reconciler(
                client=client, store=store, ruleset=lambda: rules, clock=SystemClock()
            )
            for name in ("first", "steady"):
                cpu = time.process_time()
                report = await reconciler.tick()
                result[f"{name}_cpu"] = time.process_time() - cpu
                result[f"{name}_ok"] = bool(getattr(report, "ok", True))
                result[f"{name}_rss"] = _memory()["VmRSS"]
        await store.close()
    result["peak"] = _memory()["VmHWM"]
    return result


def _wait_for(url: str, seconds: float = 300) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            urllib.request.urlopen(url, timeout=5).close()
            return
        except OSError as exc:  # not listening yet (a 401 is an answer: it is up)
            if getattr(exc, "code", None) is not None:
                return
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--campaigns", type=int, default=100_000)
    parser.add_argument("--port", type=int, default=20101)
    parser.add_argument("--before", default=BEFORE, metavar="COMMIT")
    parser.add_argument("--child", nargs=2, metavar=("TREE", "URL"))
    args = parser.parse_args()
    if args.child:
        tree, url = args.child
        sys.path.insert(0, tree)
        print(json.dumps(asyncio.run(_ticks(tree, url))))
        return
    url = f"http://127.0.0.1:{args.port}"
    simulator = subprocess.Popen(
        [str(Path(sys.executable).parent / "lifecycle"), "simulator", "--port", str(args.port),
         "--campaigns", str(args.campaigns), "--rate", "0"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    rows = []
    try:
        _wait_for(url + "/v2/accounts/acme1/campaigns?limit=1")
        with tempfile.TemporaryDirectory(prefix="bench-rss-tree-") as temp:
            old = before_tree(args.before, Path(temp))
            for name, tree in (("before", old), ("after", ROOT)):
                command = [sys.executable, __file__, "--child", str(tree), url]
                out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
                rows.append((name, json.loads(out.strip().splitlines()[-1])))
    finally:
        simulator.terminate()
        simulator.wait()
    print(f"{args.campaigns} campaigns; before = lifecycle/ at {args.before}, after = {ROOT}\n")
    head = (
        f"{'tree':>6} | {'RSS at start':>12} {'after tick 1':>12} {'after tick 2':>12} "
        f"{'peak':>6} | {'tick 1 CPU s':>12} {'tick 2 CPU s':>12}"
    )
    print(head)
    print("-" * len(head))
    for name, r in rows:
        ok = "" if r["first_ok"] and r["steady_ok"] else "  (a tick failed)"
        print(
            f"{name:>6} | {r['start']:12.0f} {r['first_rss']:12.0f} {r['steady_rss']:12.0f} "
            f"{r['peak']:6.0f} | {r['first_cpu']:12.1f} {r['steady_cpu']:12.1f}{ok}"
        )
    print("\nMiB (VmRSS, VmHWM for the peak); CPU of one core")


if __name__ == "__main__":
    main()
