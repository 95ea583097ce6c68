"""Rule tests in YAML (`lifecycle test FILE`): loading, judging, reporting, exit codes."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from lifecycle.casebook import ExpectSpec, is_expected, load_casebook, report, run_casebook
from lifecycle.cli import main
from lifecycle.errors import RulesError
from lifecycle.model import Action, Decision, Mode, Skip, Status
from tests.rulebook import DESIGN_RULES, IST, PAUSE_OUTSIDE

ROOT = Path(__file__).parents[1]

PASSING = """\
cases:
  - name: evening pause
    at: "2026-11-27T19:00:00+05:30"
    campaign: {status: InProgress}
    expect: {action: pause, rule: pause-outside-business-hours, steps: [pause]}
  - name: resume in the morning, wall time
    at: "2026-11-30 09:30"
    campaign: {status: paused}
    history:
      actions: [{rule: pause-outside-business-hours, step: pause, at: "2026-11-27 19:00"}]
    expect: {action: resume}
  - name: in-progress past its end
    at: 2026-11-27T11:00:00+05:30
    campaign: {status: in-progress, end_at: "2026-11-27T10:00:00+05:30"}
    expect: {action: complete, steps: [pause, complete]}
  - name: open intent
    at: "2026-11-27 19:00"
    campaign: {status: in-progress}
    history: {open_intent: true}
    expect: {skipped: intent open}
  - name: daytime
    at: "2026-11-27 11:00"
    campaign: {status: in-progress}
    expect: none
"""

FAILING = """\
rules: design.yaml
cases:
  - name: daytime is quiet
    at: "2026-11-27 11:00"
    campaign: {status: in-progress}
    expect: none
  - name: wrongly expects a pause at 18:00
    at: "2026-11-27T18:00:00+05:30"
    campaign: {id: c9, status: in-progress, stats: {completed: 3}}
    history: {status_since: "2026-11-27 09:30"}
    expect: {action: pause, rule: pause-outside-business-hours}
"""

INVALID = """\
rules: rules.yaml
cases:
  - name: typo
    at: tomorrow
    campaing: {status: in-progress}
    expect: {acton: pause}
  - name: two
    at: "2026-11-27 10:00"
    campaign: {status: paused}
    history: {actions: [{rule: x, step: stop, at: "2026-11-27 10:00"}]}
    expect: {action: pause, skipped: x}
"""


def write(tmp_path: Path, text: str, *, name: str = "rules.test.yaml") -> Path:
    (tmp_path / "rules.yaml").write_text(DESIGN_RULES)
    (tmp_path / "design.yaml").write_text(DESIGN_RULES)
    (tmp_path / "new-york.yaml").write_text(
        DESIGN_RULES.replace("timezone: Asia/Kolkata", "timezone: America/New_York")
    )
    path = tmp_path / name
    path.write_text(text)
    return path


def sha256_of(folder: Path, name: str = "rules.yaml") -> str:
    return "sha256:" + hashlib.sha256((folder / name).read_bytes()).hexdigest()


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def test_a_passing_file_runs_every_case_and_exits_0(tmp_path: Path) -> None:
    path = write(tmp_path, PASSING)
    done = invoke("test", str(path))
    assert done.exit_code == 0, done.output
    assert done.stdout.splitlines() == [
        "ok   evening pause",
        "ok   resume in the morning, wall time",
        "ok   in-progress past its end",
        "ok   open intent",
        "ok   daytime",
        f"5 cases: 5 passed, 0 failed ({tmp_path / 'rules.yaml'}, {sha256_of(tmp_path)})",
    ]


def test_rules_default_to_rules_yaml_beside_the_file(tmp_path: Path) -> None:
    book = load_casebook(write(tmp_path, PASSING))
    assert book.ruleset.source == str(tmp_path / "rules.yaml")
    assert [c.campaign.status for c in book.cases][:2] == [Status.IN_PROGRESS, Status.PAUSED]


def test_wall_times_are_read_in_the_rules_zone(tmp_path: Path) -> None:
    book = load_casebook(write(tmp_path, PASSING))
    morning = book.cases[1]
    assert morning.at == datetime(2026, 11, 30, 4, 0, tzinfo=UTC)  # 09:30 IST
    (record,) = morning.history.actions["c1"]
    assert record.at == datetime(2026, 11, 27, 19, 0, tzinfo=IST)
    assert book.cases[2].at == datetime(2026, 11, 27, 5, 30, tzinfo=UTC)  # unquoted ISO


def test_wall_times_across_dst_are_read_as_plan_at_reads_them(tmp_path: Path) -> None:
    """The skipped hour is the first instant after the jump; the repeated hour its first
    pass: `instant.from_wall`, the same reading as `plan --at`."""
    book = load_casebook(write(tmp_path, DST_CASES))
    skipped, repeated = (case.at for case in book.cases)
    assert skipped == datetime(2026, 3, 8, 7, 0, tzinfo=UTC)  # 03:00 EDT
    assert repeated == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)  # 01:30 EDT, the first pass


DST_CASES = """\
rules: new-york.yaml
cases:
  - name: in the skipped hour
    at: "2026-03-08 02:30"
    campaign: {status: in-progress}
    expect: none
  - name: in the repeated hour
    at: "2026-11-01 01:30"
    campaign: {status: in-progress}
    expect: none
"""


def test_a_failing_case_shows_the_case_and_the_engines_reasons(tmp_path: Path) -> None:
    path = write(tmp_path, FAILING)
    done = invoke("test", str(path))
    assert done.exit_code == 1
    lines = done.stdout.splitlines()
    assert lines[0] == "ok   daytime is quiet"
    assert lines[1:9] == [
        "FAIL wrongly expects a pause at 18:00",
        "     at        2026-11-27T18:00:00+05:30 (Fri)",
        "     campaign  c9 in-progress; stats completed=3",
        "     history   in status since 2026-11-27T09:30:00+05:30 (Fri)",
        "     expected  pause by pause-outside-business-hours",
        "     decided   nothing",
        "     rules:",
        "       ✗ pause-outside-business-hours: inside business-hours until 19:00 Asia/Kolkata",
    ]
    assert "       ✗ pause-on-failures: only 3 calls done (< 50 needed)" in lines
    design = tmp_path / "design.yaml"
    identity = sha256_of(tmp_path, design.name)
    assert lines[-1] == f"2 cases: 1 passed, 1 failed ({design}, {identity})"


def test_a_failure_names_what_the_engine_decided_instead(tmp_path: Path) -> None:
    text = FAILING.replace("18:00:00", "19:00:00").replace(
        "expect: {action: pause, rule: p", "expect: {action: resume, rule: p"
    )
    done = invoke("test", str(write(tmp_path, text)))
    assert done.exit_code == 1
    assert (
        "     decided   pause by pause-outside-business-hours, steps pause: status is "
        "in-progress; outside business-hours (closed since 19:00 Asia/Kolkata, opens Sat 10:00)"
    ) in done.stdout.splitlines()
    assert "       → pause-outside-business-hours: status is in-progress; outside" in done.stdout


def test_an_invalid_file_lists_every_problem_as_file_line_col_and_exits_2(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, INVALID)
    done = invoke("test", str(path))
    assert done.exit_code == 2
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        f"{path}:3:5: cases[0]: missing required key 'campaign'",
        f"{path}:4:9: cases[0].at: expected a time such as '2026-11-27T19:00:00+05:30' "
        "(or wall time '2026-11-27 19:00' in the rules' zone), got 'tomorrow'",
        f"{path}:5:5: cases[0].campaing: unknown key 'campaing' (did you mean 'campaign'?)",
        f"{path}:6:14: cases[0].expect.acton: unknown key 'acton' (did you mean 'action'?)",
        f"{path}:10:41: cases[1].history.actions[0].step: unknown action 'stop': "
        "expected one of pause, resume, complete, archive",
        f"{path}:11:13: cases[1].expect: give exactly one of 'none', 'action: ACTION' "
        "or 'skipped: TEXT'",
    ]


QUIET_CASE = "  - {name: a, at: '2026-11-27 10:00', campaign: {status: paused}, expect: none}\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("cases: [}", "1:9: invalid YAML: expected the node content, but found '}'"),
        ("- a\n- b\n", "1:1: expected a mapping with keys 'rules' and 'cases'"),
        ("rules: nowhere.yaml\ncases: []\n", "2:8: cases: needs at least 1 item(s), got []"),
        (
            "rules: nowhere.yaml\n" + PASSING.removeprefix("cases:\n").join(["cases:\n", ""]),
            "1:8: rules: no rules file ",
        ),
        (
            "cases:\n  - {name: a, at: 2026-11-27, campaign: {status: paused}, expect: none}\n",
            "2:19: cases[0].at: a date alone is not an instant",
        ),
        (
            "cases:\n  - {name: a, at: '2026-11-27 10:00', campaign: {status: paused},"
            " expect: {action: resume, rule: resume-inside}}\n",
            "2:98: cases[0].expect.rule: unknown rule 'resume-inside' (known: pause-outside-",
        ),
        (
            "cases:\n" + QUIET_CASE * 2,
            "3:12: cases[1].name: duplicate case name",
        ),
        (
            "cases:\n  - {name: a, name: b}\n",
            "2:15: cases[0].name: duplicate key 'name' (first on line 2)",
        ),
        ("cases:\n  - {expect: wat}\n", "2:14: cases[0].expect: expected 'none', {action: ...}"),
    ],
)
def test_invalid_files(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(RulesError) as caught:
        load_casebook(path)
    assert any(str(p).startswith(f"{path}:{expected}") for p in caught.value.problems), str(
        caught.value
    )


def test_a_bad_rules_file_is_reported_where_it_is_wrong(tmp_path: Path) -> None:
    path = write(tmp_path, PASSING)
    (tmp_path / "rules.yaml").write_text("timezone: IST\nrules: []\n")
    done = invoke("test", str(path))
    assert done.exit_code == 2
    assert done.stderr.startswith(f"{tmp_path / 'rules.yaml'}:1:11: timezone: ambiguous")


def test_the_shipped_rule_tests_pass() -> None:
    book = load_casebook(ROOT / "rules.test.yaml")
    results = run_casebook(book)
    assert len(results) >= 15
    assert all(r.passed for r in results), report(results, book.ruleset)


def test_the_demo_rule_tests_pin_the_date_updated_opt_in() -> None:
    book = load_casebook(ROOT / "lifecycle" / "demo_rules.test.yaml")
    assert book.ruleset.trust_date_updated
    results = run_casebook(book)
    assert len(results) >= 5
    assert all(r.passed for r in results), report(results, book.ruleset)


def test_first_seen_and_status_since_do_not_go_together(tmp_path: Path) -> None:
    both = FAILING.replace(
        'history: {status_since: "2026-11-27 09:30"}',
        'history: {status_since: "2026-11-27 09:30", first_seen: "2026-11-27 09:30"}',
    )
    assert both != FAILING
    with pytest.raises(RulesError) as caught:
        load_casebook(write(tmp_path, both))
    (problem,) = caught.value.problems
    assert str(problem).endswith("give 'status_since' or 'first_seen', not both"), str(problem)
    assert str(problem).startswith(f"{tmp_path / 'rules.test.yaml'}:10:14: cases[1].history:")


def test_a_first_sight_reads_as_such_in_a_failure_report(tmp_path: Path) -> None:
    text = (
        "rules: rules.yaml\ncases:\n  - name: archived on first sight\n"
        '    at: "2026-11-27 10:00"\n'
        '    campaign: {status: completed, date_updated: "2026-11-01T10:00:00+05:30"}\n'
        '    history: {first_seen: "2026-11-27 09:00"}\n'
        "    expect: {action: archive}\n"
    )
    (tmp_path / "rules.yaml").write_text((ROOT / "rules.yaml").read_text())
    path = tmp_path / "first.test.yaml"
    path.write_text(text)
    book = load_casebook(path)
    out = report(run_casebook(book), book.ruleset)
    assert "FAIL archived on first sight" in out
    assert "history   first seen in status 2026-11-27T09:00:00+05:30 (Fri)" in out
    assert "archive-completed: completed for ≥ 1h (< 7d), first seen" in out


def decision(action: str = "pause", *, steps: tuple[str, ...] = ("pause",)) -> Decision:
    return Decision(
        "c1", "c", Status.IN_PROGRESS, PAUSE_OUTSIDE, Action(action),
        tuple(Action(s) for s in steps), Mode.ENFORCE, "why",
    )  # fmt: skip


SKIP = Skip("c1", "c", PAUSE_OUTSIDE, Action.PAUSE, "an earlier step is still in flight")
D, E = decision(), ExpectSpec.model_validate


@pytest.mark.parametrize(
    ("expect", "got_decision", "got_skip", "passes"),
    [
        ("none", None, None, True),
        ("none", D, None, False),
        ("none", None, SKIP, False),  # a skip is not "nothing": say `skipped:`
        ({"action": "pause"}, D, None, True),
        ({"action": "resume"}, D, None, False),
        ({"action": "pause", "rule": PAUSE_OUTSIDE, "steps": ["pause"]}, D, None, True),
        ({"action": "pause", "rule": "other"}, D, None, False),
        ({"action": "pause", "steps": []}, D, None, False),
        ({"action": "complete", "steps": ["pause", "complete"]}, decision("complete"), None, False),
        ({"action": "pause", "mode": "dry-run"}, D, None, False),
        ({"action": "pause"}, None, SKIP, False),
        ({"skipped": "in flight"}, None, SKIP, True),
        ({"skipped": "in flight", "rule": PAUSE_OUTSIDE}, None, SKIP, True),
        ({"skipped": "in flight", "rule": "other"}, None, SKIP, False),
        ({"skipped": "held"}, None, SKIP, False),
        ({"skipped": "in flight"}, D, None, False),
    ],
)
def test_what_counts_as_expected(
    expect: object, got_decision: Decision | None, got_skip: Skip | None, passes: bool
) -> None:
    assert is_expected(E(expect), got_decision, got_skip) is passes
