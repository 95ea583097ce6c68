"""Loading rules.yaml: the DESIGN file as written, and every mistake located and worded."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path

import pytest

from lifecycle.errors import RulesError
from lifecycle.instant import format_duration, parse_duration
from lifecycle.model import Action, Mode, Status
from lifecycle.rules import ManualChange, check_rules, load_rules, parse_rules
from tests.rulebook import DESIGN_RULES, IST

FIXTURES = Path(__file__).parent / "rules"


def test_design_file_loads_exactly_as_written(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(DESIGN_RULES)
    ruleset = load_rules(path)
    assert ruleset.hash == "sha256:" + hashlib.sha256(DESIGN_RULES.encode()).hexdigest()
    assert ruleset.source == str(path)
    assert ruleset.timezone == IST
    assert list(ruleset.calendars) == ["business-hours"]
    assert [(r.name, r.action, r.mode) for r in ruleset.rules] == [
        ("pause-outside-business-hours", Action.PAUSE, Mode.ENFORCE),
        ("resume-in-business-hours", Action.RESUME, Mode.ENFORCE),
        ("complete-after-end", Action.COMPLETE, Mode.ENFORCE),
        ("archive-completed", Action.ARCHIVE, Mode.ENFORCE),
        ("pause-on-failures", Action.PAUSE, Mode.DRY_RUN),
    ]
    first = ruleset.rules[0]
    assert first.window is not None and not first.window.inside
    assert first.statuses == frozenset({Status.IN_PROGRESS})
    assert first.on_manual_change == ManualChange.RESPECT
    assert ruleset.max_actions_per_tick is None and ruleset.flap_guard is None


def test_design_file_checks_clean() -> None:
    report = check_rules(DESIGN_RULES, filename="rules.yaml")
    assert report.ruleset is not None
    assert (report.errors, report.warnings) == ([], [])


def fixture_cases() -> list[Path]:
    return sorted(FIXTURES.glob("*.yaml"))


@pytest.mark.parametrize("path", fixture_cases(), ids=lambda p: p.stem)
def test_fixture_files_report_expected_lines(path: Path) -> None:
    """Each file under tests/rules/ lists its expected output in `# expect:` comments."""
    text = path.read_text()
    expected = [line.removeprefix("# expect: ") for line in text.splitlines() if "expect:" in line]
    report = check_rules(text, filename=path.name)
    got = [f"{p.line}:{p.column}: {p.message}" for p in report.errors]
    got += [f"{p.line}:{p.column}: warning: {p.message}" for p in report.warnings]
    assert expected, "a fixture must expect something"
    assert got == expected
    assert (report.ruleset is None) == bool(report.errors)
    assert all(p.file == path.name for p in report.errors + report.warnings)


def test_load_rules_raises_every_problem_as_file_line_col(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text((FIXTURES / "many_errors.yaml").read_text())
    with pytest.raises(RulesError) as caught:
        load_rules(path)
    lines = str(caught.value).splitlines()
    assert len(lines) == len(caught.value.problems) == 6
    assert lines[0] == f"{path}:7:1: missing required key 'timezone'"
    assert all(p.severity == "error" for p in caught.value.problems)


def test_missing_file_is_a_rules_error(tmp_path: Path) -> None:
    with pytest.raises(RulesError, match=r"nope.yaml:1:1: cannot read rules file"):
        load_rules(tmp_path / "nope.yaml")


def test_warnings_do_not_stop_loading() -> None:
    text = (FIXTURES / "warn_shadowed.yaml").read_text()
    assert len(parse_rules(text).rules) == 2


MINIMAL = "timezone: UTC\nrules:\n  - name: r\n    action: pause\n    match: {match}\n"


@pytest.mark.parametrize(
    ("match", "message"),
    [
        ("{status: runing}", "unknown status 'runing' (expected one of created, in-progress, "),
        ("{status: unknown}", "unknown status 'unknown'"),
        ("{status: []}", "expected at least one status"),
        ("{name_regex: '(unclosed'}", "invalid regular expression '(unclosed'"),
        (
            r"{name_regex: '(a)\1'}",
            r"invalid regular expression '(a)\\1': invalid escape sequence: \1 (RE2 syntax: "
            "no backreferences or lookaround)",
        ),
        ("{end_at: soon}", "expected 'passed' or {within: DURATION}, got 'soon'"),
        ("{end_at: {}}", "expected 'passed' or {within: DURATION}"),
        ("{custom_field: {equals: a, contains: b}}", "give exactly one of 'equals' or 'contains'"),
        ("{counters: {pending: {}}}", "give at least one of 'above', 'below' or 'equals'"),
        ("{failure_rate: {above: 1.5}}", "must be at most 1.0, got 1.5"),
        ("{not: {stauts: [paused]}}", "unknown key 'stauts' (did you mean 'status'?)"),
        ("{age: 30}", "durations are strings like '7d' or '2h30m' (got 30)"),
        ("{age: 3 days}", "durations are strings like '7d' or '2h30m' (got '3 days')"),
    ],
)
def test_condition_errors(match: str, message: str) -> None:
    with pytest.raises(RulesError) as caught:
        parse_rules(MINIMAL.format(match=match))
    (problem,) = caught.value.problems
    assert message in problem.message
    assert problem.line == 5


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("when: {inside: a, outside: b}", "give exactly one of 'inside: CALENDAR'"),
        ("when: {}", "give exactly one of 'inside: CALENDAR'"),
        ("mode: dry", "unknown mode 'dry': expected one of enforce, dry-run"),
        ("on_manual_change: ignore", "expected one of respect, enforce"),
    ],
)
def test_rule_errors(body: str, message: str) -> None:
    text = f"timezone: UTC\nrules:\n  - name: r\n    action: pause\n    {body}\n"
    with pytest.raises(RulesError) as caught:
        parse_rules(text)
    assert any(message in p.message for p in caught.value.problems), caught.value


def test_status_spellings_are_normalised() -> None:
    ruleset = parse_rules(MINIMAL.format(match="{status: [InProgress, PAUSED, cancelled]}"))
    expected = frozenset({Status.IN_PROGRESS, Status.PAUSED, Status.CANCELED})
    assert ruleset.rules[0].statuses == expected


def test_defaults_and_file_wide_settings() -> None:
    text = """\
timezone: UTC
defaults: {mode: dry-run, on_manual_change: enforce, cooldown: 15m}
max_actions_per_tick: 10
flap_guard: {max_reversals: 2, within: 1h}
rules:
  - {name: a, action: pause, match: {status: [in-progress]}}
  - {name: b, action: resume, mode: enforce, cooldown: 1h, match: {status: [paused]}}
  - {name: c, action: archive, cooldown: 0s, match: {status: [completed]}}
"""
    ruleset = parse_rules(text)
    a, b, c = ruleset.rules
    assert c.cooldown == timedelta(0)  # an explicit 0s switches the default off
    assert (a.mode, a.on_manual_change, a.cooldown) == (
        Mode.DRY_RUN,
        ManualChange.ENFORCE,
        timedelta(minutes=15),
    )
    assert (b.mode, b.cooldown) == (Mode.ENFORCE, timedelta(hours=1))
    assert ruleset.max_actions_per_tick == 10
    assert ruleset.flap_guard is not None and ruleset.flap_guard.max_reversals == 2


@pytest.mark.parametrize(
    ("text", "delta"),
    [
        ("30s", timedelta(seconds=30)),
        ("15m", timedelta(minutes=15)),
        ("2h", timedelta(hours=2)),
        ("7d", timedelta(days=7)),
        ("1w", timedelta(weeks=1)),
        ("1d12h", timedelta(days=1, hours=12)),
        ("2h30m", timedelta(hours=2, minutes=30)),
    ],
)
def test_durations(text: str, delta: timedelta) -> None:
    assert parse_duration(text) == delta


@pytest.mark.parametrize("value", [7, "", "7", "h", "2x", "1h 30m", "30m2h", True, None])
def test_bad_durations(value: object) -> None:
    with pytest.raises(ValueError, match="durations are strings like '7d' or '2h30m'"):
        parse_duration(value)


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(days=8, hours=2, minutes=5), "8d 2h"),
        (timedelta(minutes=45), "45m"),
        (timedelta(0), "0s"),
        (timedelta(days=14), "14d"),
    ],
)
def test_format_duration(delta: timedelta, text: str) -> None:
    assert format_duration(delta) == text
