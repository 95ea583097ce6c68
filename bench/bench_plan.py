"""What deciding costs at 1k / 10k / 100k campaigns: the engine against the reference.

    .venv/bin/python bench/bench_plan.py [--sizes 1000,10000,100000] [--reference-max N]
                                         [--profile N] [--seed S]

The rules are bench/rules_20.yaml (20 rules, 5 calendars with public holidays; status,
name, name_regex, custom_field, end_at, failure_rate, in_status_for, paused_by, not:).
Each fleet is seeded and synthetic: mostly archived and completed campaigns, as large
accounts keep them, and a tenth running. It is built as a list answer (the JSON the
simulator sends), parsed by the client's own `campaigns_from_body`, and planned at Friday
19:30 in Mumbai, when several windows have just closed (a tick that acts).

Printed per size, CPU seconds of one core (`time.process_time`):
- parse: the list answer into `Campaign`s (not the engine's part; for the record);
- fleet MB: what the parsed campaigns hold (tracemalloc, in a separate pass);
- plan: `lifecycle.engine.plan()`, and the reference evaluator (tests/reference_engine.py,
  the engine as it was) on the same input, with the ratio and an equality check;
  steady: `plan()` again once the tick's decisions took effect (nothing left to do);
- wakeup: `next_wakeup` alone, engine and reference;
- vs issue: the engine's µs/campaign against the issue's measurement (27 s at 100k).
`--profile N` prints cProfile's top functions of `plan()` at N campaigns.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import random
import resource
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT))  # tests/reference_engine.py is the "before"

from lifecycle.client.answer import campaigns_from_body  # noqa: E402
from lifecycle.engine import plan  # noqa: E402
from lifecycle.engine.wakeup import next_wakeup  # noqa: E402
from lifecycle.model import (  # noqa: E402
    ACTION_GOAL,
    Action,
    ActionRecord,
    Campaign,
    History,
    Plan,
    Status,
)
from lifecycle.rules import Ruleset, load_rules  # noqa: E402
from lifecycle.rules.conditions import Moment  # noqa: E402
from tests.reference_engine import reference_plan, reference_wakeup  # noqa: E402

RULES = load_rules(ROOT / "bench" / "rules_20.yaml")
NOW = datetime(2026, 11, 27, 14, 0, tzinfo=UTC)  # Friday 19:30 in Mumbai
ISSUE_US_PER_CAMPAIGN = 270.0  # issue 11: plan() took 27 s at 100,000 campaigns

# (status, share): archived campaigns stay in the list forever.
STATUSES = [
    (Status.ARCHIVED, 0.50),
    (Status.COMPLETED, 0.22),
    (Status.IN_PROGRESS, 0.12),
    (Status.PAUSED, 0.09),
    (Status.CREATED, 0.04),
    (Status.CANCELED, 0.02),
    (Status.FAILED, 0.01),
]
PREFIXES = ["retail-", "uae-", "dxb-", "night-", "test-", "draft-", "collect-", "promo-", "ops-"]
CUSTOM = ["", "", "collections", "collections-west", "blr", "promo-dec", "keep", "promo-keep"]


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def fleet_body(n: int, rng: random.Random) -> dict[str, Any]:
    """A v2 list answer with `n` campaign objects, as the simulator renders them."""
    statuses = [s for s, _ in STATUSES]
    weights = [w for _, w in STATUSES]
    items = []
    for i in range(n):
        status = rng.choices(statuses, weights)[0]
        prefix = rng.choice(PREFIXES)
        name = f"{prefix}{i}" if prefix != "night-" else f"night-{rng.randrange(999)}"
        done = rng.randrange(0, 400)
        failed = int(done * rng.random() ** 2)
        data = {
            "id": f"c{i:07d}",
            "account_sid": "bench",
            "name": name,
            "type": "trans",
            "caller_id": "08047112345",
            "status": status.to_api(),
            "custom_field": rng.choice(CUSTOM),
            "schedule": {
                "send_at": _iso(NOW - timedelta(days=rng.randrange(1, 60))),
                "end_at": _iso(NOW + timedelta(minutes=rng.randrange(-30 * 1440, 30 * 1440))),
            },
            "date_created": _iso(NOW - timedelta(days=rng.randrange(1, 400))),
            "date_updated": _iso(NOW - timedelta(hours=rng.randrange(1, 2000))),
            "stats": {"completed": done - failed, "failed": failed, "pending": 10},
        }
        items.append({"code": 200, "status": "success", "data": data})
    return {"request_id": "bench", "http_code": 200, "response": items}


WINDOW_PAUSES = ["pause-outside-business-hours", "pause-collections-outside", "night-shift-only"]


def fleet_history(campaigns: list[Campaign], rng: random.Random) -> History:
    """What the store would hand over: most statuses observed, paused ones often ours."""
    since: dict[str, datetime] = {}
    actions: dict[str, tuple[ActionRecord, ...]] = {}
    for c in campaigns:
        if rng.random() < 0.9:
            since[c.id] = NOW - timedelta(minutes=rng.randrange(1, 40 * 1440))
        if c.status == Status.PAUSED and rng.random() < 0.6:
            at = NOW - timedelta(hours=rng.randrange(1, 30))
            rule = rng.choice(WINDOW_PAUSES)
            actions[c.id] = (ActionRecord(c.id, rule, Action.PAUSE, at, done_at=at),)
            since[c.id] = at
    return History(status_since=since, actions=actions)


@dataclass(frozen=True)
class Row:
    size: int
    parse_s: float
    fleet_mb: float
    plan_s: float
    ref_plan_s: float | None
    steady_s: float
    wake_s: float
    ref_wake_s: float | None
    decisions: int
    skips: int
    agree: bool | None


def cpu(work: Callable[[], object]) -> tuple[float, Any]:
    start = time.process_time()
    result = work()
    return time.process_time() - start, result


def fleet_megabytes(body: dict[str, Any]) -> float:
    tracemalloc.start()
    campaigns = campaigns_from_body(body)
    size, _peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del campaigns
    return size / 2**20


def measure(size: int, ruleset: Ruleset, *, seed: int, reference: bool) -> Row:
    rng = random.Random(seed)
    body = fleet_body(size, rng)
    parse_s, campaigns = cpu(lambda: campaigns_from_body(body))
    history = fleet_history(campaigns, rng)
    plan_s, result = cpu(lambda: plan(campaigns, ruleset, history, NOW))
    wake_s, _ = cpu(lambda: next_wakeup(campaigns, ruleset, history, NOW))
    settled = settle(campaigns, result)
    steady_s, _ = cpu(lambda: plan(settled, ruleset, history, NOW))
    ref_plan_s = ref_wake_s = None
    agree = None
    if reference:
        ref_plan_s, expected = cpu(lambda: reference_plan(campaigns, ruleset, history, NOW))
        moments = {name: Moment.of(cal, NOW) for name, cal in ruleset.calendars.items()}
        ref_wake_s, _ = cpu(lambda: reference_wakeup(campaigns, ruleset, history, NOW, moments))
        agree = expected == result
    return Row(
        size, parse_s, fleet_megabytes(body), plan_s, ref_plan_s, steady_s, wake_s, ref_wake_s,
        len(result.decisions), len(result.skipped), agree,
    )  # fmt: skip


def settle(campaigns: list[Campaign], done: Plan) -> list[Campaign]:
    """The fleet after the tick's decisions took effect: the next, steady tick's input."""
    goals = {d.campaign_id: ACTION_GOAL[d.action] for d in done.decisions}
    return [replace(c, status=goals[c.id]) if c.id in goals else c for c in campaigns]


def _us(seconds: float, size: int) -> str:
    return f"{seconds / size * 1e6:7.1f}"


def _opt(seconds: float | None) -> str:
    return f"{seconds:8.3f}" if seconds is not None else "       -"


def _ratio(before: float | None, after: float) -> str:
    return f"{before / after:6.0f}×" if before is not None and after > 0 else "      -"


def print_table(rows: list[Row]) -> None:
    head = (
        f"{'campaigns':>9} | {'parse s':>7} {'µs/c':>7} {'fleet MB':>8} | "
        f"{'plan s':>8} {'µs/c':>7} {'ref s':>8} {'ref/eng':>7} {'same':>5} {'steady s':>8} | "
        f"{'wakeup s':>8} {'ref s':>8} {'ref/eng':>7} | {'issue/eng':>9} | "
        f"{'decided':>7} {'skipped':>7}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        issue = ISSUE_US_PER_CAMPAIGN / (r.plan_s / r.size * 1e6) if r.plan_s else 0.0
        same = {None: "-", True: "yes", False: "NO"}[r.agree]
        print(
            f"{r.size:>9} | {r.parse_s:7.3f} {_us(r.parse_s, r.size)} {r.fleet_mb:8.1f} | "
            f"{r.plan_s:8.3f} {_us(r.plan_s, r.size)} {_opt(r.ref_plan_s)} "
            f"{_ratio(r.ref_plan_s, r.plan_s)} {same:>5} {r.steady_s:8.3f} | "
            f"{r.wake_s:8.3f} {_opt(r.ref_wake_s)} {_ratio(r.ref_wake_s, r.wake_s)} | "
            f"{issue:8.0f}× | {r.decisions:>7} {r.skips:>7}"
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak RSS of this process: {peak:.0f} MB (rules: {len(RULES.rules)} rules, "
          f"{len(RULES.calendars)} calendars; at {NOW.isoformat()})")  # fmt: skip


def profile(size: int, ruleset: Ruleset, *, seed: int) -> None:
    rng = random.Random(seed)
    campaigns = campaigns_from_body(fleet_body(size, rng))
    history = fleet_history(campaigns, rng)
    profiler = cProfile.Profile()
    profiler.runcall(plan, campaigns, ruleset, history, NOW)
    print(f"\ncProfile of plan() at {size} campaigns, by own time:")
    pstats.Stats(profiler).sort_stats("tottime").print_stats(15)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument(
        "--reference-max", type=int, default=100_000,
        help="run the (slow) reference evaluator only up to this many campaigns",
    )  # fmt: skip
    parser.add_argument("--profile", type=int, default=0, metavar="N")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = [measure(n, RULES, seed=args.seed, reference=n <= args.reference_max) for n in sizes]
    print_table(rows)
    if args.profile:
        profile(args.profile, RULES, seed=args.seed)
    if any(r.agree is False for r in rows):
        sys.exit("the engine and the reference disagree")


if __name__ == "__main__":
    main()
