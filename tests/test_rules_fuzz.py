"""A rules fuzzer: mutants of the shipped rules load, or fail with located problems.

Each shipped rules file (rules.yaml, examples/*.yaml) is mutated many ways over a fixed
seed: values swapped for YAML's surprises (dates, tags, aliases, huge numbers, zones),
control characters, deep nesting, alias bombs, cut and doubled lines, other encodings.
Every mutant must give a `Ruleset` or a `RulesError` whose problems name the file with a
line and a column, as `lifecycle check` and the daemon read it. The loader's last line
(any unexpected exception becomes "… please report it") counts as a failure here: the
fuzzer is there to find those. A crasher it once found is kept under tests/rules/fuzz/.
Each mutant and each kept crasher must also cost less than `CHECK_BUDGET` function calls:
"under 2 s", counted so that the test does not depend on the machine.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pytest

from lifecycle.errors import Problem, RulesError
from lifecycle.rules import check_source, decode_rules
from tests.fixtures.work import CHECK_BUDGET, calls_made, with_work

ROOT = Path(__file__).parents[1]
SHIPPED = [
    ROOT / "rules.yaml",
    *sorted(p for p in (ROOT / "examples").glob("*.yaml") if not p.name.endswith(".test.yaml")),
]
REGRESSIONS = sorted((Path(__file__).parent / "rules" / "fuzz").glob("*.yaml"))
SEED = 20261130
CASES_PER_FILE = 200

VALUES = [
    "2026-02-30",
    "2026-13-01",
    "2026-12-31 25:00:00",
    "!!timestamp nope",
    "!!bool maybe",
    "!!int x",
    "!!float x",
    "!!null x",
    "!!binary x",
    "!!set {a}",
    "!!omap [a]",
    "!!pairs [a]",
    "!!str",
    "!!map x",
    "!!seq x",
    "!!python/object:os.system x",
    "!custom x",
    "on",
    "off",
    "yes",
    "~",
    "2026",
    "-1",
    "0",
    "0x1F",
    "0o17",
    "1_000",
    "1:2:3:4:5:6:7:8:9:10:11",
    "9" * 5000,
    "-" + "9" * 100,
    "1e999",
    ".nan",
    "-.inf",
    "99999999999999d",
    "0s",
    "1w",
    "Asia",
    "Asia/",
    "/etc/passwd",
    "../../x",
    "A" * 300,
    "Etc/GMT+5",
    "zone.tab",
    "UTC ",
    '"\\ud800"',
    '"\\udfff\\ud800"',
    '"\\x00"',
    '"\\U0010ffff"',
    "*nope",
    "&a [*a]",
    "[",
    "{",
    "}",
    "]",
    "'",
    '"',
    "|",
    ">",
    "- x",
    "? x",
    "<<: x",
    "<<: *x",
    "&x 1",
    "[[[[[[[[]]]]]]]]",
    "{a: {b: {c: {d: {}}}}}",
    "[]",
    "{}",
    "''",
    '""',
    "%YAML 1.1",
    "{not: " * 40 + "{}" + "}" * 40,
    '"' + "(" * 300 + ")" * 300 + '"',
    "a" * 2000,
    "[" * 200 + "]" * 200,
    "passed",
    "{within: 1d}",
]
KEYS = ["on", "2026", "~", "? [a]", "? {a: b}", "<<", "!!int 1", "y", "not", "all", "1.5"]
CHARACTERS = ["\x00", "\x0c", "\x1b", "\x7f", "\x85", "\u2028", "\ufeff", "\t", "\r", "\ud800"]


def bomb(levels: int, fan: int) -> str:
    lines = [f"b0: &b0 [{', '.join(['x'] * fan)}]"]
    lines += [f"b{i}: &b{i} [{', '.join([f'*b{i - 1}'] * fan)}]" for i in range(1, levels + 1)]
    return "\n".join(lines) + "\n"


def _value(text: str, rng: random.Random) -> str:
    lines = text.splitlines(keepends=True)
    spots = [i for i, line in enumerate(lines) if re.search(r":\s+\S", line)]
    if not spots:
        return text
    i = rng.choice(spots)
    key, _, _ = lines[i].partition(": ")
    lines[i] = f"{key}: {rng.choice(VALUES)}\n"
    return "".join(lines)


def _key(text: str, rng: random.Random) -> str:
    lines = text.splitlines(keepends=True)
    spots = [i for i, line in enumerate(lines) if re.match(r"\s*[\w-]+:", line)]
    if not spots:
        return text
    i = rng.choice(spots)
    lines[i] = re.sub(r"[\w-]+:", rng.choice(KEYS) + ":", lines[i], count=1)
    return "".join(lines)


def _character(text: str, rng: random.Random) -> str:
    at = rng.randrange(len(text) + 1)
    return text[:at] + rng.choice(CHARACTERS) + text[at:]


def _punctuation(text: str, rng: random.Random) -> str:
    if not text:
        return text
    at = rng.randrange(len(text))
    if rng.random() < 0.5:
        return text[:at] + text[at + 1 :]
    return text[:at] + rng.choice(":[]{}&*!|>'\"#-?,%@` \n") + text[at:]


def _lines(text: str, rng: random.Random) -> str:
    lines = text.splitlines(keepends=True)
    if not lines:
        return text
    i = rng.randrange(len(lines))
    how = rng.randrange(4)
    if how == 0:
        del lines[i]
    elif how == 1:
        lines.insert(i, lines[i])
    elif how == 2:
        lines[i] = "  " + lines[i]
    else:
        lines[i] = lines[i][2:]
    return "".join(lines)


def _truncate(text: str, rng: random.Random) -> str:
    return text[: rng.randrange(len(text) + 1)]


def _bomb(text: str, rng: random.Random) -> str:
    return bomb(rng.randrange(1, 9), rng.randrange(2, 10)) + text


def _deep(text: str, rng: random.Random) -> str:
    depth = rng.choice([20, 31, 32, 33, 100, 1000])
    return text.replace("match: {", "match: " + "{not: " * depth + "{", 1)


def _more_rules(text: str, rng: random.Random) -> str:
    rule = "  - {name: r%d, match: {status: [paused]}, action: resume}\n"
    return text + "".join(rule % i for i in range(rng.randrange(1, 20)))


Mutation = Callable[[str, random.Random], str]
MUTATIONS: list[Mutation] = [
    _value, _value, _value, _key, _character, _punctuation, _punctuation, _lines, _truncate,
    _bomb, _deep, _more_rules,
]  # fmt: skip


def mutants(path: Path) -> list[tuple[str, bytes]]:
    rng = random.Random(f"{SEED}:{path.name}")
    text = path.read_text()
    found: list[tuple[str, bytes]] = []
    for _ in range(CASES_PER_FILE):
        mutated, names = text, []
        for _ in range(rng.choice([1, 1, 2, 3])):
            mutation = rng.choice(MUTATIONS)
            mutated, names = mutation(mutated, rng), [*names, mutation.__name__]
        encoding = rng.choice(["utf-8"] * 8 + ["utf-16-le", "utf-16"])
        found.append(("+".join(names), mutated.encode(encoding, "surrogatepass")))
    found.append(("too-large", text.encode() * (1024 * 1024 // len(text) + 1)))
    rule = "  - {name: r%d, match: {status: [paused]}, action: resume}\n"
    too_many = text + "".join(rule % i for i in range(1001))
    found.append(("too-many-rules", too_many.encode()))
    fight = "  - {name: f%d, match: {status: [%s], name_regex: '^f%d-'}, action: %s}\n"
    sides = [("in-progress", "pause"), ("paused", "resume")]
    fighting = "".join(fight % (i, *sides[i % 2][:1], i, sides[i % 2][1]) for i in range(990))
    found.append(("a-thousand-fighting-rules", (text + fighting).encode()))  # allowed: linted
    return found


def problems_of(data: bytes, name: str) -> list[Problem]:
    """What `lifecycle check` reports for these bytes, warnings too ([] when clean)."""
    try:
        report = check_source(decode_rules(data, filename=name))
        return report.errors + report.warnings
    except RulesError as err:
        return err.problems


def is_located(problem: Problem, name: str) -> bool:
    return (
        problem.file == name
        and problem.line >= 1
        and problem.column >= 1
        and "please report it" not in problem.message  # the last line: a bug to fix
    )


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_every_mutant_loads_or_is_located(path: Path) -> None:
    failures = []
    for i, (how, data) in enumerate(mutants(path)):
        found, work = with_work(partial(problems_of, data, "rules.yaml"))
        if not all(is_located(p, "rules.yaml") for p in found):
            failures.append(f"#{i} {how}: {found}")
        if work >= CHECK_BUDGET:
            failures.append(f"#{i} {how}: {work} calls, over the budget")
    assert failures == []


@pytest.mark.parametrize("path", REGRESSIONS, ids=lambda p: p.stem)
def test_kept_crashers_give_located_errors(path: Path) -> None:
    """Each file lists its expected problems in `# expect: LINE:COL: message` comments."""
    data = path.read_bytes()
    expected = [
        line.removeprefix(b"# expect: ").decode()
        for line in data.splitlines()
        if b"# expect:" in line
    ]
    problems = problems_of(data, path.name)
    assert all(is_located(p, path.name) for p in problems), problems
    assert [f"{p.line}:{p.column}: {p.message}" for p in problems] == expected


@pytest.mark.parametrize("path", REGRESSIONS, ids=lambda p: p.stem)
def test_kept_crashers_cost_bounded_work(path: Path) -> None:
    data = path.read_bytes()
    assert calls_made(lambda: problems_of(data, path.name)) < CHECK_BUDGET


def test_some_crashers_are_kept() -> None:
    assert len(REGRESSIONS) >= 1
