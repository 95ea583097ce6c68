"""What `lifecycle check` costs as a rules file grows, in-process and as the CLI.

    .venv/bin/python bench/bench_check.py [--rules 120,200,500,1000] [--shapes teams,fight]
                                          [--repeat 3]          # or: make bench-check

For each shape and size, one generated rules file (the same text on every run) is checked
two ways: `check_source` in this process (read, YAML, schema, compile, warnings) and
`lifecycle check FILE` as a subprocess (what the systemd unit runs before start, so it
includes Python's start-up and imports). Two shapes:

- teams: what a large account writes. Several calendars in several zones with holidays;
  per team a pause-then-complete rule, pause-outside-hours and resume-inside-hours
  (`paused_by`, `name_regex`, `custom_field`; every fourth resume is not tied to its
  pause, so `check` warns), a failure-rate pause in dry-run, an archive.
- fight: the issue's file. Pause and resume rules in turn over the calendars, none tied
  by `paused_by`, so every resume rule can undo most pause rules above it.

It prints the best of `--repeat` runs, the cost per rule, and the growth of that cost
against the smallest size: linear work keeps it flat (near 1x); a quadratic part makes it
grow with the size (about 8x from 120 to 1,000 rules).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from lifecycle.rules import CheckReport, check_source, read_rules

ROOT = Path(__file__).parents[1]
LIFECYCLE = Path(sys.executable).parent / "lifecycle"
AT = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)  # `check` searches example instants from here

CALENDARS = """\
timezone: Asia/Kolkata
calendars:
  office-in:
    weekly: {mon-fri: ["09:30-13:00", "14:00-19:00"], sat: ["10:00-14:00"]}
    holidays: {country: IN, subdivision: MH, dates: ["2026-12-31"]}
  office-uk:
    timezone: Europe/London
    weekly: {mon-fri: ["09:00-17:30"]}
    holidays: {country: GB, dates: ["2026-12-24"]}
  office-us:
    timezone: America/New_York
    weekly: {mon-fri: ["08:00-12:00", "13:00-18:00"]}
  night-shift:
    weekly: {daily: ["22:00-06:00"]}
  weekend:
    weekly: {sat-sun: ["00:00-24:00"]}
    special: {"2026-12-25": []}
rules:
"""
ZONES = ["office-in", "office-uk", "office-us", "night-shift", "weekend"]


def team_rules(t: int) -> str:
    """Five rules for team `t`; every fourth team's resume is not tied to its pause."""
    cal = ZONES[t % len(ZONES)]
    owned = f", paused_by: pause-outside-{t}" if t % 4 else ""
    return f"""\
  - name: complete-after-end-{t}
    match: {{status: [in-progress, paused], end_at: passed, name_regex: "^team-{t}-"}}
    action: complete
  - name: pause-outside-{t}
    when: {{outside: {cal}}}
    match: {{status: [in-progress], name_regex: "^team-{t}-", custom_field: {{contains: "t{t}"}}}}
    action: pause
  - name: resume-inside-{t}
    when: {{inside: {cal}}}
    match: {{status: [paused], name_regex: "^team-{t}-"{owned}}}
    action: resume
  - name: pause-on-failures-{t}
    mode: dry-run
    match: {{status: [in-progress], name_regex: "^team-{t}-", failure_rate: {{above: 0.4}}}}
    action: pause
  - name: archive-{t}
    match: {{status: [completed], in_status_for: 7d, custom_field: {{equals: "t{t}"}}}}
    action: archive
"""


def fight_rule(i: int) -> str:
    """Pause outside / resume inside the calendars in turn, no `paused_by`: the issue's
    file, where every resume rule can undo most pause rules above it."""
    pause = i % 2 == 0
    return f"""\
  - name: r{i}
    when: {{{"outside" if pause else "inside"}: {ZONES[i // 2 % len(ZONES)]}}}
    match: {{status: [{"in-progress" if pause else "paused"}], name_regex: "^t{i}-"}}
    action: {"pause" if pause else "resume"}
"""


def rules_text(n: int, shape: str = "teams") -> str:
    """A rules file of exactly `n` rules of `shape` ("teams" or "fight")."""
    if shape == "fight":
        return CALENDARS + "".join(fight_rule(i) for i in range(n))
    body = "".join(team_rules(t) for t in range(n // 5 + 1))
    lines = body.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if line.startswith("  - name:")]
    cut = starts[n] if n < len(starts) else len(lines)
    return CALENDARS + "".join(lines[:cut])


def best_of(repeat: int, run: Callable[[], object]) -> float:
    """The fastest of `repeat` runs, in seconds: the one least disturbed by the machine."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


def in_process(path: Path) -> CheckReport:
    report = check_source(read_rules(path), at=AT)
    assert not report.errors, report.errors[:3]
    return report


def as_cli(path: Path) -> None:
    subprocess.run([str(LIFECYCLE), "check", str(path)], check=True, capture_output=True)


def measure(path: Path, repeat: int) -> tuple[int, float, float]:
    """Warnings, in-process seconds and CLI seconds for one file."""
    warnings = len(in_process(path).warnings)
    inner = best_of(repeat, lambda: in_process(path))
    return warnings, inner, best_of(repeat, lambda: as_cli(path))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rules", default="120,200,500,1000")
    parser.add_argument("--shapes", default="teams,fight")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sizes = [int(x) for x in args.rules.split(",")]
    print(f"{'shape':>6} {'rules':>6} {'warnings':>8} {'in-process s':>12} {'CLI s':>6} "
          f"{'ms/rule':>8} {'growth':>7}")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        for shape in args.shapes.split(","):
            first: float | None = None
            for n in sizes:
                path = Path(tmp) / f"{shape}-{n}.yaml"
                path.write_text(rules_text(n, shape))
                warnings, inner, outer = measure(path, args.repeat)
                per_rule = inner / n * 1000
                first = first or per_rule
                print(
                    f"{shape:>6} {n:>6} {warnings:>8} {inner:>12.3f} {outer:>6.3f} "
                    f"{per_rule:>8.3f} {per_rule / first:>6.2f}x"
                )


if __name__ == "__main__":
    main()
