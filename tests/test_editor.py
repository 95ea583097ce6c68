"""Editor and CI support: `lifecycle schema` (a JSON Schema for YAML language servers) and
`lifecycle check --format github|json`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from lifecycle.rules import check_rules, parse_rules
from lifecycle.rules.jsonschema import rules_json_schema

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted(p for p in (ROOT / "examples").glob("*.yaml") if ".test." not in p.name)
GOOD = [ROOT / "rules.yaml", ROOT / "lifecycle" / "demo_rules.yaml", *EXAMPLES]
NOTIFY = """\
notify:
  failing_for: 15m
  channels:
    - {name: hook, webhook: {url: "https://hooks.example/x", token_file: /etc/l/token}}
    - {name: slack, min_severity: warning, slack: {url_file: /etc/l/slack}}
    - name: mail
      min_severity: error
      email: {host: smtp.example.com, from: a@example.com, to: [b@example.com],
              username: u, password_file: /etc/l/smtp}
"""
RULE = "timezone: Asia/Kolkata\nrules:\n  - name: r\n    action: pause\n"


def validator() -> jsonschema.Draft202012Validator:
    schema = rules_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def errors_of(text: str) -> list[str]:
    return [e.message for e in validator().iter_errors(yaml.safe_load(text))]


@pytest.mark.parametrize("path", GOOD, ids=lambda p: p.name)
def test_every_shipped_rules_file_meets_the_schema(path: Path) -> None:
    assert errors_of(path.read_text()) == []


def test_a_notify_section_the_loader_takes_meets_the_schema() -> None:
    text = RULE + NOTIFY
    assert len(parse_rules(text).notify.channels) == 3
    assert errors_of(text) == []


@pytest.mark.parametrize(
    "fragment",
    [
        "    match: {state: [paused]}\n",  # unknown key
        "    match: {status: [sleeping]}\n",
        "    match: {in_status_for: 7 days}\n",
        "    match: {in_status_for: 7}\n",
        "    match: {end_at: soon}\n",
        "    mode: dryrun\n",
        "    cooldown: 1d2w\n",  # units out of order
    ],
)
def test_what_the_loader_refuses_the_editor_flags_too(fragment: str) -> None:
    text = RULE + fragment
    assert check_rules(text, filename="r.yaml").errors  # the loader refuses it ...
    assert errors_of(text)  # ... and so does the schema


@pytest.mark.parametrize(
    "fragment",
    ["    match: {status: paused, in_status_for: 2h30m, end_at: passed}\n",
     "    match: {name: weekly-*, end_at: {within: 2h}}\n",
     "    match: {status: [paused, in-progress], name: [a, b]}\n"],
)  # fmt: skip
def test_every_form_the_loader_takes_meets_the_schema(fragment: str) -> None:
    text = RULE + fragment
    assert check_rules(text, filename="r.yaml").errors == []
    assert errors_of(text) == []


def lifecycle(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lifecycle", *args],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip


def test_the_schema_command_prints_the_schema_with_durations_in_our_grammar() -> None:
    done = lifecycle("schema")
    assert done.returncode == 0
    printed: dict[str, Any] = json.loads(done.stdout)
    assert printed == rules_json_schema()
    assert printed["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert printed["$defs"]["NotifySpec"]["properties"]["failing_for"]["default"] == "10m"


BAD = "timezone: IST\nrules:\n  - name: A\n    action: pause\n"


def test_check_for_github_annotates_each_line_and_keeps_the_exit_code(tmp_path: Path) -> None:
    path = tmp_path / "bad,name.yaml"
    path.write_text(BAD)
    done = lifecycle("check", "--format", "github", str(path))
    assert done.returncode == 2 and done.stderr == ""
    where = str(path).replace(",", "%2C")
    assert done.stdout.splitlines() == [
        f"::error file={where},line=1,col=11,title=lifecycle check::timezone: ambiguous time "
        "zone abbreviation 'IST': use an IANA name such as 'Asia/Kolkata'",
        f"::error file={where},line=3,col=11,title=lifecycle check::rules[0].name: rule names "
        "use lowercase letters, digits, '-' and '_', starting with a letter or digit (got 'A')",
    ]


def test_check_as_json_is_one_object_for_good_and_bad_files(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(BAD)
    bad = lifecycle("check", "--format", "json", str(path))
    assert bad.returncode == 2
    found = json.loads(bad.stdout)
    assert (found["ok"], found["ruleset"], len(found["errors"])) == (False, None, 2)
    assert found["errors"][0] == {
        "file": str(path), "line": 1, "column": 11, "severity": "error",
        "message": "timezone: ambiguous time zone abbreviation 'IST': use an IANA name such as "
        "'Asia/Kolkata'",
    }  # fmt: skip
    good = lifecycle("check", "--format", "json", "rules.yaml")
    assert good.returncode == 0
    verdict = json.loads(good.stdout)
    assert verdict["ok"] and verdict["rules"] == 5 and verdict["ruleset"].startswith("sha256:")
    missing = lifecycle("check", "--format", "json", str(tmp_path / "none.yaml"))
    assert missing.returncode == 2 and json.loads(missing.stdout)["errors"][0]["line"] == 1


def test_check_as_json_under_strict_is_not_ok_with_warnings() -> None:
    path = ROOT / "tests" / "rules" / "warn_shadowed.yaml"
    lenient = lifecycle("check", "--format", "json", str(path))
    strict = lifecycle("check", "--strict", "--format", "json", str(path))
    assert (lenient.returncode, json.loads(lenient.stdout)["ok"]) == (0, True)
    assert (strict.returncode, json.loads(strict.stdout)["ok"]) == (1, False)
    assert len(json.loads(strict.stdout)["warnings"]) == 1
