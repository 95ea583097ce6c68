"""Issue 11's figures at 1k / 10k / 100k campaigns, side by side in one run, with verdicts.

    .venv/bin/python bench/bench_scale.py [--sizes 1000,10000,100000] [--quick]
        [--reference-max 10000] [--profile N] [--no-postgres] [--seed S] [--dry-run-sample K]
        [--repeat 3] [--steady-ticks 2]

Fleet and rules are bench/bench_plan.py's (bench/rules_20.yaml: 20 rules, 5 calendars),
at Friday 19:30 in Mumbai. CPU is `time.process_time` of one process (one core): the
in-process figures are the best of `--repeat`, the steady tick the best of
`--steady-ticks`; the rest are single runs. Per size it measures:

- in this process: parse (the client's `campaigns_from_body`), plan (`engine.plan`) on the
  acting fleet and on the steady one, `next_wakeup`, and the reference evaluator
  (tests/reference_engine.py) against them, up to `--reference-max` campaigns; above it
  the reference is extrapolated linearly from the largest size measured, marked `~`;
- in a simulator process of its own (bench/scale_fleet.py, rate limiter off): the same
  fleet, settled so that a tick has nothing to do;
- in a fresh daemon-equivalent process per database (bench/scale_tick.py: Store,
  ExotelClient, Reconciler, the rules), so the simulator's CPU is not ours: the first
  tick, a steady `Reconciler.tick()` a minute later (list pages read over loopback and
  parsed, observe, history, plan, record), RSS after each (current and peak), the store's
  calls of a steady tick one by one, and decision/audit rows per second (wall time, the
  database's own time included) for bench_plan's acting plan: `record_plan`, and
  `record_dry_run` for the first K decisions.

SQLite is a file in a temporary folder; PostgreSQL a fresh schema at
LIFECYCLE_TEST_POSTGRES_URL (default: 127.0.0.1:5432, user postgres, database test),
skipped with a message when none answers. `--quick` is `--sizes 1000,10000`.
`--profile N` prints cProfile's top 15 (cumulative, then own time) of one more steady tick
at N, on SQLite.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_plan import RULES, Row, measure  # noqa: E402
from bench.bench_tick import fresh_schema, postgres_url  # noqa: E402

TARGET_SIZE = 100_000
TARGETS = {"plan": 1.0, "steady": 5.0, "rss": 250.0, "rows": 5000.0}


@dataclass
class SizeRun:
    """Everything measured at one fleet size."""

    size: int
    engine: Row
    seed: dict[str, Any] = field(default_factory=dict)
    daemon: dict[str, dict[str, Any]] = field(default_factory=dict)  # by database name


@contextmanager
def simulator(size: int, seed: int) -> Iterator[Callable[[], dict[str, Any]]]:
    """bench/scale_fleet.py, started; a call that waits until it serves the settled fleet
    and returns what it printed then (URL, credentials, seeding time)."""
    command = [sys.executable, str(ROOT / "bench" / "scale_fleet.py"),
               "--campaigns", str(size), "--seed", str(seed)]  # fmt: skip
    proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def ready() -> dict[str, Any]:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the simulator for {size} campaigns exited: {proc.wait()}")
        info: dict[str, Any] = json.loads(line)
        return info

    try:
        yield ready
    finally:
        assert proc.stdin is not None
        proc.stdin.close()  # it serves until its standard input closes
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def daemon(sim: dict[str, Any], db_url: str, *, size: int, args: argparse.Namespace,
           profile: bool) -> dict[str, Any]:  # fmt: skip
    """bench/scale_tick.py against `sim` on `db_url`, in a fresh process; its figures."""
    env = {**os.environ, "EXOTEL_BASE_URL": sim["url"], "EXOTEL_ACCOUNT_SID": sim["sid"],
           "EXOTEL_API_KEY": sim["key"], "EXOTEL_API_TOKEN": sim["token"]}  # fmt: skip
    command = [sys.executable, str(ROOT / "bench" / "scale_tick.py"), db_url,
               "--campaigns", str(size), "--seed", str(args.seed),
               "--dry-run-sample", str(args.dry_run_sample),
               "--steady-ticks", str(args.steady_ticks)]  # fmt: skip
    if profile:
        command.append("--profile")
    done = subprocess.run(command, env=env, stdout=subprocess.PIPE, text=True, check=True)
    figures: dict[str, Any] = json.loads(done.stdout)
    return figures


async def databases(tmp: Path, *, postgres: bool) -> list[tuple[str, str]]:
    """(name, URL or "") per database; "" for PostgreSQL when it does not answer."""
    found = [("SQLite", f"sqlite+aiosqlite:///{tmp / 'bench.db'}")]
    if postgres:
        found.append(("PostgreSQL", await postgres_url() or ""))
    return found


def best_of(size: int, args: argparse.Namespace) -> Row:
    """bench_plan's measures at `size`, `--repeat` times, each figure the best of them."""
    rows = [
        measure(size, RULES, seed=args.seed, reference=size <= args.reference_max)
        for _ in range(args.repeat)
    ]
    best: dict[str, Any] = {}
    for f in dataclasses.fields(Row):
        values = [getattr(r, f.name) for r in rows]
        timed = f.name.endswith("_s") and None not in values
        best[f.name] = min(values) if timed else values[0]
    best["agree"] = None if rows[0].agree is None else all(r.agree for r in rows)
    return Row(**best)


def run_size(size: int, args: argparse.Namespace, dbs: list[tuple[str, str]]) -> SizeRun:
    # The simulator seeds itself in its own process while this one measures the engine.
    with simulator(size, args.seed) as ready:
        run = SizeRun(size, best_of(size, args))
        sim = run.seed = ready()
        for name, url in dbs:
            if not url:
                continue
            profile = name == "SQLite" and size == args.profile
            if name == "SQLite":
                Path(url.removeprefix("sqlite+aiosqlite:///")).unlink(missing_ok=True)
                run.daemon[name] = daemon(sim, url, size=size, args=args, profile=profile)
            else:
                run.daemon[name] = asyncio.run(_on_postgres(sim, url, size, args))
    return run


async def _on_postgres(
    sim: dict[str, Any], url: str, size: int, args: argparse.Namespace
) -> dict[str, Any]:
    async with fresh_schema(url) as schema_url:
        return await asyncio.to_thread(daemon, sim, schema_url, size=size, args=args,
                                       profile=False)  # fmt: skip


# -- printing ---------------------------------------------------------------------------


def _extrapolated(runs: list[SizeRun], pick: str, size: int) -> str:
    """The reference's seconds at `size`: measured, or linear from the largest measured."""
    measured = [r for r in runs if getattr(r.engine, pick) is not None]
    own = next((r for r in measured if r.size == size), None)
    if own is not None:
        return f"{getattr(own.engine, pick):.3f}"
    if not measured:
        return "-"
    base = max(measured, key=lambda r: r.size)
    return f"~{getattr(base.engine, pick) / base.size * size:.2f}"


def _ratio(reference: str, engine: float) -> str:
    if reference == "-" or engine <= 0:
        return "-"
    mark = "~" if reference.startswith("~") else ""
    return f"{mark}{float(reference.lstrip('~')) / engine:.1f}×"


def _cw(t: dict[str, float]) -> str:
    return f"{t['cpu']:.3f} ({t['wall']:.2f})"


def _rate(rows: int, t: dict[str, float]) -> str:
    return f"{rows / t['wall']:,.0f} ({rows})" if t["wall"] > 0 else "-"


Cell = Callable[[SizeRun], str]


def engine_cells(runs: list[SizeRun]) -> list[tuple[str, Cell]]:
    def ref(pick: str) -> Cell:
        return lambda r: _extrapolated(runs, pick, r.size)

    def vs(pick: str, mine: str) -> Cell:
        return lambda r: _ratio(_extrapolated(runs, pick, r.size), getattr(r.engine, mine))

    same = {None: "-", True: "yes", False: "NO"}
    return [
        ("parse list answer, CPU s", lambda r: f"{r.engine.parse_s:.3f}"),
        ("plan, acting tick (engine), CPU s", lambda r: f"{r.engine.plan_s:.3f}"),
        ("  µs per campaign", lambda r: f"{r.engine.plan_s / r.size * 1e6:.1f}"),
        ("plan, reference evaluator, CPU s", ref("ref_plan_s")),
        ("  reference / engine", vs("ref_plan_s", "plan_s")),
        ("  same answers", lambda r: same[r.engine.agree]),
        ("plan, steady tick (engine), CPU s", lambda r: f"{r.engine.steady_s:.3f}"),
        ("next_wakeup (engine), CPU s", lambda r: f"{r.engine.wake_s:.3f}"),
        ("next_wakeup, reference, CPU s", ref("ref_wake_s")),
        ("  reference / engine", vs("ref_wake_s", "wake_s")),
        ("decisions / skips (acting plan)", lambda r: f"{r.engine.decisions}/{r.engine.skips}"),
        ("simulator seeded + settled, wall s", lambda r: f"{r.seed.get('seed_s', 0):.1f}"),
    ]


def daemon_cells(name: str) -> list[tuple[str, Cell]]:
    def at(show: Callable[[Any], str], *path: str) -> Cell:
        def cell(r: SizeRun) -> str:
            value: Any = r.daemon.get(name)
            for key in path:
                value = value[key] if value is not None else None
            return show(value) if value is not None else "-"

        return cell

    return [
        ("first tick, CPU s (wall)", at(_cw, "first")),
        ("steady tick, CPU s (wall)", at(_cw, "steady")),
        ("  decided/sent/skipped", at(_dss, "steady")),
        ("  store observe, CPU s (wall)", at(_cw, "store", "observe")),
        ("  store history, CPU s (wall)", at(_cw, "store", "history")),
        ("  plan, CPU s", at(lambda v: f"{v:.3f}", "store", "plan_cpu")),
        ("  store record_plan, CPU s (wall)", at(_cw, "store", "record_plan")),
        ("RSS after first tick, MB (peak)", at(_mem, "first")),
        ("RSS after steady tick, MB (peak)", at(_mem, "steady")),
        ("record_plan rows/s (rows)", at(_plan_rate, "rows")),
        ("dry-run audit rows/s (rows)", at(_dry_rate, "rows")),
    ]


def table_lines(runs: list[SizeRun], db_names: list[str]) -> list[tuple[str, list[str]]]:
    cells = engine_cells(runs)
    for name in db_names:
        cells += [(f"[{name}] {label}", cell) for label, cell in daemon_cells(name)]
    return [(label, [cell(r) for r in runs]) for label, cell in cells]


def _dss(t: dict[str, Any]) -> str:
    return f"{t['decided']}/{t['sent']}/{t['skipped']}"


def _mem(t: dict[str, Any]) -> str:
    return f"{t['rss_mb']:.0f} ({t['peak_mb']:.0f})"


def _plan_rows(rows: dict[str, Any]) -> int:
    return int(rows["decision_rows"] + rows["plan_audit_rows"])


def _plan_rate(rows: dict[str, Any]) -> str:
    return _rate(_plan_rows(rows), rows["plan"])


def _dry_rate(rows: dict[str, Any]) -> str:
    return _rate(rows["dry_run_rows"], rows["dry_run"])


def print_table(runs: list[SizeRun], db_names: list[str]) -> None:
    lines = table_lines(runs, db_names)
    label = max(len(text) for text, _ in lines)
    width = max(14, *(len(v) for _, values in lines for v in values))
    head = f"{'campaigns':<{label}} " + " ".join(f"{r.size:>{width},}" for r in runs)
    print(head)
    print("-" * len(head))
    for text, values in lines:
        print(f"{text:<{label}} " + " ".join(f"{v:>{width}}" for v in values))


def verdicts(runs: list[SizeRun], db_names: list[str]) -> list[str]:
    """One line per issue-11 target this bench measures: reached or missed, with the figure."""
    at = next((r for r in runs if r.size == TARGET_SIZE), None)
    if at is None:
        return [f"targets are judged at {TARGET_SIZE:,} campaigns, not measured in this run"]
    out = [_verdict("plan() < 1 s CPU", at.engine.plan_s, TARGETS["plan"], "s")]
    for name in db_names:
        d = at.daemon.get(name)
        if d is None:
            continue
        out.append(_verdict(f"[{name}] steady tick < 5 s CPU", d["steady"]["cpu"],
                            TARGETS["steady"], "s"))  # fmt: skip
        out.append(_verdict(f"[{name}] daemon RSS < 250 MB (peak)", d["steady"]["peak_mb"],
                            TARGETS["rss"], "MB"))  # fmt: skip
        rows = d["rows"]
        plan_rate = _plan_rows(rows) / rows["plan"]["wall"]
        dry_rate = rows["dry_run_rows"] / rows["dry_run"]["wall"] if rows["dry_run_rows"] else 0.0
        out.append(_verdict(f"[{name}] record_plan rows ≥ 5,000/s", plan_rate,
                            TARGETS["rows"], "/s", at_least=True))  # fmt: skip
        out.append(_verdict(f"[{name}] dry-run audit rows ≥ 5,000/s", dry_rate,
                            TARGETS["rows"], "/s", at_least=True))  # fmt: skip
    return out


def _verdict(what: str, value: float, target: float, unit: str, *, at_least: bool = False) -> str:
    ok = value >= target if at_least else value < target
    return f"{what:<44} {'reached' if ok else 'MISSED':<8} {value:,.2f} {unit}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--quick", action="store_true", help="--sizes 1000,10000")
    parser.add_argument("--reference-max", type=int, default=10_000)
    parser.add_argument("--profile", type=int, default=0, metavar="N")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--dry-run-sample", type=int, default=200, metavar="K")
    parser.add_argument("--repeat", type=int, default=3, help="in-process measures: best of")
    parser.add_argument("--steady-ticks", type=int, default=2, help="steady ticks: best of")
    args = parser.parse_args()
    sizes = [1000, 10_000] if args.quick else [int(s) for s in args.sizes.split(",")]
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        dbs = asyncio.run(databases(Path(tmp), postgres=not args.no_postgres))
        for name, url in dbs:
            if not url:
                print(f"{name}: no server answers (LIFECYCLE_TEST_POSTGRES_URL); skipped")
        runs = [run_size(size, args, dbs) for size in sizes]
    names = [name for name, url in dbs if url]
    print_table(runs, names)
    print()
    for line in verdicts(runs, names):
        print(line)
    for run in runs:
        profile = run.daemon.get("SQLite", {}).get("profile")
        if profile:
            print(f"\ncProfile of a steady tick at {run.size:,} campaigns (SQLite), cumulative:")
            print(profile)
    print(f"\nwhole run: {time.perf_counter() - started:.0f} s wall")
    if any(r.engine.agree is False for r in runs):
        sys.exit("the engine and the reference disagree")


if __name__ == "__main__":
    main()
