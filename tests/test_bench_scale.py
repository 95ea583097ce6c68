"""bench/bench_scale.py's code path at 50 campaigns on SQLite, so the bench cannot rot.

The bench runs the simulator and the daemon in processes of their own; here both run in
this one (the simulator on a real socket all the same), which is what keeps it cheap.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path

from bench.bench_plan import RULES, measure
from bench.bench_scale import TARGET_SIZE, SizeRun, print_table, verdicts
from bench.scale_fleet import NOW, as_listed, first_sight, seeded
from bench.scale_tick import Target, daemon_run
from lifecycle.engine import plan
from lifecycle.simulator import running

SIZE = 50


async def test_the_scale_bench_measures_a_steady_fleet(tmp_path: Path) -> None:
    sim, info = seeded(SIZE, seed=11)
    assert info["campaigns"] == SIZE
    assert info["settled"] > 0  # at 19:30 on a Friday the rules had work to do
    fleet = as_listed(sim, sim.in_creation_order())
    assert plan(fleet, RULES, first_sight(fleet), NOW).decisions == ()  # settled: steady

    config = sim.config
    async with running(sim) as url:
        target = Target(url, config.account_sid, config.api_key, config.api_token)
        figures = await daemon_run(
            target, f"sqlite+aiosqlite:///{tmp_path / 'bench.db'}",
            size=SIZE, seed=11, sample=3, profile=True,
        )  # fmt: skip

    first, steady = figures["first"], figures["steady"]
    assert Counter(r.method for r in sim.requests)["GET"] == 4  # first, 2 steady, profile
    assert first["campaigns"] == steady["campaigns"] == SIZE
    assert (steady["decided"], steady["sent"]) == (0, 0)  # a tick with nothing to do
    assert not [r for r in sim.requests if r.method == "PUT"]
    assert steady["peak_mb"] > 0 and steady["rss_mb"] > 0
    assert figures["store"]["decided"] == 0
    rows = figures["rows"]
    engine = measure(SIZE, RULES, seed=11, reference=True)
    assert rows["decision_rows"] == engine.decisions + engine.skips > 0
    assert rows["dry_run_decisions"] == 3
    assert rows["dry_run_rows"] >= 3  # at least one row per step of each decision
    assert "cumulative" in figures["profile"]

    run = SizeRun(SIZE, engine, info, {"SQLite": figures})
    print_table([run], ["SQLite"])
    assert verdicts([run], ["SQLite"]) == [
        f"targets are judged at {TARGET_SIZE:,} campaigns, not measured in this run"
    ]
    judged = verdicts([dataclasses.replace(run, size=TARGET_SIZE)], ["SQLite"])
    assert [line.split()[0] for line in judged] == ["plan()"] + ["[SQLite]"] * 4
    assert all(" reached " in line or " MISSED " in line for line in judged)
