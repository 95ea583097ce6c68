"""Poison pills: rules edits that once crashed `check` and every tick are located errors.

Each case is a small edit of one good file. `lifecycle check` must exit 2 with
FILE:LINE:COL: and the message, as for any other mistake, never a traceback; the
daemon keeps the last good rules (tests/test_daemon.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from lifecycle.cli import main
from lifecycle.errors import RulesError
from lifecycle.rules import check_rules, load_rules, parse_rules
from lifecycle.rules.loader import MAX_FILE_BYTES
from lifecycle.rules.schema import MAX_RULES

GOOD = """\
timezone: Asia/Kolkata
calendars:
  office:
    weekly: {mon-fri: ["09:30-18:00"]}
rules:
  - name: pause-outside-office
    description: outside office hours
    when: {outside: office}
    match: {status: [in-progress], not: {name: keep}}
    action: pause
"""


def edit(old: str, new: str) -> str:
    assert old in GOOD
    return GOOD.replace(old, new, 1)


def nested_not(depth: int) -> str:
    return "{not: " * depth + "{name: keep}" + "}" * depth


def bomb(levels: int = 8, fan: int = 9) -> str:
    """A "billion laughs": each level lists the one before it `fan` times."""
    lines = [f"x0: &x0 [{', '.join(['lol'] * fan)}]"]
    lines += [f"x{i}: &x{i} [{', '.join([f'*x{i - 1}'] * fan)}]" for i in range(1, levels + 1)]
    return edit("calendars:", "\n".join(lines) + "\ncalendars:")


# (case, text, "LINE:COL: message")
POISONS: list[tuple[str, str, str]] = [
    (
        "zone-is-a-directory",
        edit("Asia/Kolkata", "Asia"),
        "1:11: timezone: unknown time zone 'Asia': did you mean 'Asia/Oral'?",
    ),
    (
        "zone-300-characters",
        edit("Asia/Kolkata", "A" * 300),
        f"1:11: timezone: unknown time zone '{'A' * 64}…' (300 characters): "
        "use an IANA name such as 'Asia/Kolkata'",
    ),
    (
        "impossible-date",
        edit("outside office hours", "2026-02-30"),
        "7:18: invalid YAML: cannot read '2026-02-30' as !!timestamp: day is out of range "
        "for month (quote it if it is not meant as a date)",
    ),
    (
        "form-feed",
        edit("rules:", "rules:\f"),
        "5:7: invalid YAML: character U+000C (form feed) is not allowed in YAML text",
    ),
    (
        "escape",
        edit("outside office", "outside \x1b[1moffice"),
        "7:26: invalid YAML: character U+001B (ESC) is not allowed in YAML text",
    ),
    (
        "delete",
        edit("hours", "hours\x7f"),
        "7:38: invalid YAML: character U+007F (DEL) is not allowed in YAML text",
    ),
    (
        "nul",
        edit("action: pause", "action: pause\x00"),
        "10:18: invalid YAML: character U+0000 (NUL) is not allowed in YAML text; "
        "if the file was saved as UTF-16, save it as UTF-8",
    ),
    (
        "cooldown-overflow",
        edit("    action:", "    cooldown: 99999999999999d\n    action:"),
        "10:15: rules[0].cooldown: duration '99999999999999d' is too long: "
        "durations are at most 3650d",
    ),
    (
        "calendar-named-on",
        edit("  office:", "  on:").replace("outside: office", "outside: on"),
        "8:21: rules[0].when.outside: expected a quoted string, got True",
    ),
    (
        "calendar-named-2026",
        edit("  office:", "  2026:").replace("outside: office", "outside: 2026"),
        "8:21: rules[0].when.outside: expected a quoted string, got 2026",
    ),
    (
        "5000-digit-integer",
        edit("    action:", f"    max_actions_per_tick: {'9' * 5000}\n    action:"),
        f"10:27: invalid YAML: '{'9' * 40}'…: number too large",
    ),
    (
        "bool-maybe",
        edit("outside office hours", "!!bool maybe"),
        "7:18: invalid YAML: cannot read 'maybe' as !!bool: not a value of that type",
    ),
    (
        "not-1000-deep",
        edit("not: {name: keep}", "not: " + nested_not(1000)),
        "9:209: invalid YAML: nested more than 32 levels deep",
    ),
    (
        "surrogate-escape",
        edit("outside office hours", '"\\ud800"'),
        "7:18: invalid YAML: '\\ud800' holds a lone surrogate escape (\\ud800-\\udfff): "
        "write the character itself",
    ),
    (
        "alias-bomb",
        bomb(),
        "6:10: invalid YAML: aliases expand to more than 10000 values; write them out",
    ),
    (
        "alias-inside-its-anchor",
        edit("calendars:", "loop: &loop [*loop]\ncalendars:"),
        "2:14: invalid YAML: alias *loop is used inside its own anchor",
    ),
]


# Every poison, as `text` and `expected` arguments (tests/test_daemon.py uses it too).
poisoned = pytest.mark.parametrize(
    ("text", "expected"), [c[1:] for c in POISONS], ids=[c[0] for c in POISONS]
)


@poisoned
def test_check_locates_every_poison_and_exits_2(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "rules.yaml"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    result = CliRunner().invoke(main, ["check", str(path)])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.stderr.splitlines()[0] == f"{path}:{expected}"


def test_utf16_without_a_bom_is_located(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_bytes(GOOD.encode("utf-16-le"))
    result = CliRunner().invoke(main, ["check", str(path)])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"{path}:1:2: invalid YAML: character U+0000 (NUL)")
    assert "save it as UTF-8" in result.stderr


def test_keys_are_the_text_as_written() -> None:
    """YAML 1.1 reads `on:` as true and `2026:` as a number; a calendar name is text."""
    text = edit("  office:", "  on:").replace("outside: office", 'outside: "on"')
    report = check_rules(text, filename="rules.yaml")
    assert report.errors == []
    assert report.ruleset is not None and list(report.ruleset.calendars) == ["on"]


def test_a_lone_surrogate_in_text_is_located_too() -> None:
    """Text no file could hold (only `check_rules` and `parse_rules` can be given it)."""
    report = check_rules(edit("hours", "hours\ud800"), filename="rules.yaml")
    assert [str(p) for p in report.errors] == [
        "rules.yaml:7:38: invalid YAML: character U+D800 (lone surrogate) "
        "is not allowed in YAML text"
    ]


def test_a_few_aliases_are_fine() -> None:
    text = edit('{mon-fri: ["09:30-18:00"]}', '{mon-fri: &day ["09:30-18:00"], sat: *day}')
    report = check_rules(text, filename="rules.yaml")
    assert report.errors == []


def test_a_file_over_a_mebibyte_is_refused_unparsed(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(GOOD + "#" * MAX_FILE_BYTES + "\n")
    with pytest.raises(RulesError) as caught:
        load_rules(path)
    assert str(caught.value) == f"{path}:1:1: rules file larger than 1024 KiB: not read"


def test_at_most_a_thousand_rules() -> None:
    rule = "  - {name: r%d, action: pause}\n"
    text = "timezone: UTC\nrules:\n" + "".join(rule % i for i in range(MAX_RULES + 1))
    report = check_rules(text, filename="rules.yaml")
    assert [str(p) for p in report.errors] == [
        "rules.yaml:3:3: rules: allows at most 1000 items, got 1001"
    ]


def test_anything_unforeseen_is_still_a_located_rules_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The last line: a bug while loading names the file; it never escapes as a traceback."""

    def broken(*args: object, **kwargs: object) -> None:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr("lifecycle.rules.loader.compile_ruleset", broken)
    with pytest.raises(RulesError) as caught:
        parse_rules(GOOD, filename="rules.yaml")
    assert str(caught.value) == (
        "rules.yaml:1:1: cannot load this file (ZeroDivisionError: division by zero); "
        "please report it"
    )
