"""What `lifecycle check` catches, beyond the located messages pinned by tests/rules/*.yaml.

Each file under tests/rules/ carries its expected output and is run by
tests/test_rules.py (unquoted times, unknown keys at every level with the nearest key
suggested, unknown calendars, IST/CST/BST, shadowed rules, rules that undo each other).
Here: what a message cannot show (a wrapping day range means what it says) and the
exit codes of `check --strict`.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from lifecycle.cli import main
from lifecycle.rules import check_rules
from tests.rulebook import ist

FIXTURES = Path(__file__).parent / "rules"

SUN_FRI = """\
timezone: Asia/Kolkata
calendars:
  gulf-week:
    weekly:
      sun-fri: ["09:00-18:00"]
rules:
  - name: pause-outside-gulf-week
    when: {outside: gulf-week}
    match: {status: [in-progress]}
    action: pause
"""


def test_sun_fri_is_accepted_without_a_word() -> None:
    report = check_rules(SUN_FRI, filename="rules.yaml")
    assert (report.errors, report.warnings) == ([], [])


@pytest.mark.parametrize(
    ("at", "is_open"),
    [
        ("2026-11-29 12:00", True),  # Sunday: the range starts here
        ("2026-11-25 12:00", True),  # Wednesday
        ("2026-11-27 12:00", True),  # Friday: the range ends here
        ("2026-11-28 12:00", False),  # Saturday: the one day left out
        ("2026-11-29 08:59", False),
        ("2026-11-29 18:00", False),
    ],
)
def test_sun_fri_means_six_days_from_sunday(at: str, is_open: bool) -> None:
    ruleset = check_rules(SUN_FRI, filename="rules.yaml").ruleset
    assert ruleset is not None
    assert ruleset.calendars["gulf-week"].is_open(ist(at)) is is_open


def test_sun_fri_opens_every_day_but_saturday() -> None:
    ruleset = check_rules(SUN_FRI, filename="rules.yaml").ruleset
    assert ruleset is not None
    weekly = ruleset.calendars["gulf-week"].weekly
    days = [datetime(2026, 11, 23 + i).strftime("%a") for i in range(7) if weekly[i]]
    assert days == ["Mon", "Tue", "Wed", "Thu", "Fri", "Sun"]


def check(*args: str) -> Result:
    return CliRunner().invoke(main, ["check", *args])


@pytest.mark.parametrize("fixture", ["warn_shadowed", "warn_opposite_owned"])
def test_strict_turns_warnings_into_exit_1(fixture: str) -> None:
    path = str(FIXTURES / f"{fixture}.yaml")
    lenient, strict = check(path), check("--strict", path)
    assert lenient.exit_code == 0
    assert "1 warnings" in lenient.stdout
    assert strict.exit_code == 1
    assert strict.stdout == ""
    assert strict.stderr == lenient.stderr
    (line,) = strict.stderr.splitlines()
    assert line.startswith(f"{path}:") and line.endswith(" (warning)")


def test_strict_passes_a_clean_file(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(SUN_FRI)
    done = check("--strict", str(path))
    assert done.exit_code == 0
    assert done.stderr == ""
    assert done.stdout.startswith(f"{path}: ok (1 rules, 1 calendars, 0 warnings, sha256:")


def test_errors_still_exit_2_under_strict() -> None:
    path = str(FIXTURES / "unknown_key_calendar.yaml")
    done = check("--strict", path)
    assert done.exit_code == 2
    assert f"{path}:7:5: calendars.hours.weeky: unknown key 'weeky' (did you mean 'weekly'?)" in (
        done.stderr.splitlines()
    )
