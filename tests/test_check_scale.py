"""`check` grows linearly with the rules (issue 8, item 13), shown without a clock.

`lifecycle check` compared every pair of rules, and for each pause/resume pair worked out
both calendars over four weeks: 200 rules took over a minute. These tests count work
instead of timing it (see tests/fixtures/work.py): calendar evaluations must not grow
with the rules at all, and the calls a whole check makes must grow about as the rules
do. A quadratic part makes four times the rules cost about sixteen times the work.
bench/bench_check.py prints the times.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from lifecycle.errors import RulesError
from lifecycle.rules import check_rules, parse_rules, read_rules
from lifecycle.rules.calendar import Calendar
from lifecycle.rules.document import read_document
from lifecycle.rules.lint import lint
from lifecycle.rules.loader import MAX_FILE_BYTES
from lifecycle.rules.safeyaml import MAX_NODES
from tests.fixtures.work import CHECK_BUDGET, calls_made, with_work

HEAD = """\
timezone: Asia/Kolkata
calendars:
  office: {weekly: {mon-fri: ["09:30-13:00", "14:00-19:00"], sat: ["10:00-14:00"]}}
  office-uk: {timezone: Europe/London, weekly: {mon-fri: ["09:00-17:30"]}}
  night: {weekly: {daily: ["22:00-06:00"]}}
rules:
"""
CALENDARS = ["office", "office-uk", "night"]
Shape = Callable[[int], str]


def fighting(n: int) -> str:
    """`n` pause and resume rules, none tied to another by `paused_by`: each resume can
    undo most pauses above it (the issue's file)."""
    rules = [
        f"  - name: r{i}\n"
        f"    when: {{{'outside' if i % 2 else 'inside'}: {CALENDARS[i % 3]}}}\n"
        f"    match: {{status: [{'in-progress' if i % 2 else 'paused'}], name_regex: '^t{i}-'}}\n"
        f"    action: {'pause' if i % 2 else 'resume'}\n"
        for i in range(n)
    ]
    return HEAD + "".join(rules)


def teams(n: int) -> str:
    """`n` rules as teams write them: pause outside hours, resume what that paused,
    complete after the end, in dry-run now and then."""
    rules = []
    for i in range(n):
        team, kind = divmod(i, 3)
        cal = CALENDARS[team % 3]
        if kind == 0:
            body = f"when: {{outside: {cal}}}\n    match: {{status: [in-progress], "
            body += f"custom_field: {{equals: 't{team}'}}}}\n    action: pause"
        elif kind == 1:
            body = f"when: {{inside: {cal}}}\n    match: {{status: [paused], "
            body += f"paused_by: r{i - 1}}}\n    action: resume"
        else:
            body = "mode: dry-run\n    match: {status: [paused], end_at: passed, "
            body += f"name_regex: '^t{team}-'}}\n    action: complete"
        rules.append(f"  - name: r{i}\n    {body}\n")
    return HEAD + "".join(rules)


def lint_work(text: str) -> int:
    ruleset, doc = parse_rules(text), read_document(text)
    return calls_made(lambda: lint(ruleset, doc))


@pytest.mark.parametrize("shape", [fighting, teams], ids=lambda f: f.__name__)
def test_calendars_are_evaluated_per_window_not_per_pair(
    shape: Shape, monkeypatch: pytest.MonkeyPatch
) -> None:
    evaluated = 0
    real = Calendar.open_intervals

    def counted(self: Calendar, *args: object, **kwargs: object) -> object:
        nonlocal evaluated
        evaluated += 1
        return real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Calendar, "open_intervals", counted)
    found = []
    for n in (12, 120):
        text = shape(n)
        ruleset, doc = parse_rules(text), read_document(text)
        evaluated = 0
        lint(ruleset, doc)
        found.append(evaluated)
    assert found[0] == found[1]  # the same windows, ten times the rules


@pytest.mark.parametrize("shape", [fighting, teams], ids=lambda f: f.__name__)
def test_lint_work_grows_linearly_with_the_rules(shape: Shape) -> None:
    small, large = (lint_work(shape(n)) for n in (50, 200))
    assert large < 5 * small  # quadratic: about 16 times


@pytest.mark.parametrize("shape", [fighting, teams], ids=lambda f: f.__name__)
def test_whole_check_grows_linearly_with_the_rules(shape: Shape) -> None:
    """YAML, locations, schema, compiling and warnings together."""
    texts = [shape(n) for n in (50, 200)]
    check_rules(texts[0], filename="warm-up.yaml")  # first-use caches out of the count
    small, large = (calls_made(partial(check_rules, text, filename="r.yaml")) for text in texts)
    assert large < 5 * small


def test_one_warning_per_rule_however_many_rules_it_fights() -> None:
    report = check_rules(fighting(200), filename="rules.yaml")
    fights = [w for w in report.warnings if "undo each other" in w.message]
    assert len({w.line for w in fights}) == len(fights)
    assert len(fights) > 150  # most rules fight one above them
    assert any("and " in w.message and " more" in w.message for w in fights)


def refusal(path: Path) -> str:
    try:
        read_rules(path)
    except RulesError as err:
        return str(err)
    return "read"


def test_ten_megabytes_of_comments_are_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(("# " + "x" * 76 + "\n") * 135_000 + HEAD)  # 10.8 MB
    message, work = with_work(partial(refusal, path))
    assert message == f"{path}:1:1: rules file larger than 1024 KiB: not read"
    assert work < 1_000  # read 1 MiB and a byte, then stop: nothing parsed


def test_a_mebibyte_of_comments_is_checked_within_budget() -> None:
    comments = ("# " + "x" * 76 + "\n") * (MAX_FILE_BYTES // 80 - 10)
    report, work = with_work(partial(check_rules, comments + teams(3), filename="r.yaml"))
    assert report.errors == []
    assert work < CHECK_BUDGET


MEGABYTE = MAX_FILE_BYTES - 300
DENSE = {
    "tiny-calendars": "timezone: UTC\ncalendars:\n"
    + "".join(f"  c{i:05d}: {{weekly: {{}}}}\n" for i in range(MEGABYTE // 24))
    + "rules:\n  - {name: r, action: pause}\n",
    "a-long-list": "timezone: UTC\nrules:\n  - name: r\n    match: {name: ["
    + ", ".join(f"n{i:06d}" for i in range(MEGABYTE // 9))
    + "]}\n    action: pause\n",
}


@pytest.mark.parametrize("text", DENSE.values(), ids=DENSE.keys())
def test_a_megabyte_of_tiny_values_is_refused_within_budget(text: str) -> None:
    """Just under the size limit, but far more values than any rules file needs: PyYAML
    took ten seconds to read 45,000 calendars. Refused where the limit is crossed."""
    report, work = with_work(partial(check_rules, text, filename="r.yaml"))
    (error,) = report.errors
    assert error.message == (
        f"invalid YAML: more than {MAX_NODES:,} values in one file (1,000 rules need far fewer)"
    )
    assert error.line > 1
    assert work < CHECK_BUDGET


def test_at_most_200_calendars() -> None:
    calendars = "".join(f"  c{i}: {{weekly: {{mon: ['09:00-17:00']}}}}\n" for i in range(201))
    text = f"timezone: UTC\ncalendars:\n{calendars}rules:\n  - {{name: r, action: pause}}\n"
    report = check_rules(text, filename="r.yaml")
    assert [str(p) for p in report.errors] == [
        "r.yaml:3:3: calendars: allows at most 200 items, got 201"
    ]


def test_the_largest_bench_file_is_well_within_the_value_limit() -> None:
    """The limit leaves room: 1,000 realistic rules (teams, as bench/bench_check.py makes
    them, with a description each) hold well under MAX_NODES values."""
    described = teams(1000).replace("    match:", "    description: what it is for\n    match:")
    report = check_rules(described, filename="r.yaml")
    assert report.errors == []


def calendars_file(calendar: str, count: int = 200) -> str:
    calendars = "".join(f"  c{i}: {calendar}\n" for i in range(count))
    rule = "  - {name: r, when: {inside: c0}, match: {status: [paused]}, action: resume}\n"
    return f"timezone: UTC\ncalendars:\n{calendars}rules:\n{rule}"


def test_a_calendar_without_ranges_is_never_open_without_a_search(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    searched = []
    real = Calendar.next_change

    def counted(self: Calendar, *args: Any, **kwargs: Any) -> Any:
        searched.append(self.name)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Calendar, "next_change", counted)
    report = check_rules(calendars_file("{weekly: {}}"), filename="r.yaml")
    assert len([w for w in report.warnings if "never open" in w.message]) == 200
    assert searched == []


def test_the_most_calendars_closed_all_year_cost_bounded_work() -> None:
    """The year's search is only needed for a calendar whose every range is closed by a
    special day; 200 of those, the most a file may hold, stay within the budget."""
    mondays = [date(2026, 1, 5) + timedelta(weeks=k) for k in range(54)]  # from REFERENCE
    special = ", ".join(f'"{day}": []' for day in mondays)
    calendar = f'{{weekly: {{mon: ["09:00-10:00"]}}, special: {{{special}}}}}'
    report, work = with_work(partial(check_rules, calendars_file(calendar), filename="r.yaml"))
    assert report.errors == []
    assert work < CHECK_BUDGET
