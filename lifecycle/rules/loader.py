"""Reading rules.yaml: the whole file is checked, and every mistake is reported at once.

Order: YAML syntax (stops everything), duplicate keys, the schema, then references
between parts (calendars named in `when:`, rules named in `paused_by:`, unique names).
Only a file with no errors at all compiles into a `Ruleset`: a bad edit never
half-applies.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path as FilePath

from pydantic import ValidationError

from lifecycle.errors import Problem, RulesError
from lifecycle.rules.document import Document, SyntaxProblem, read_document
from lifecycle.rules.lint import lint
from lifecycle.rules.problems import dotted, from_validation, problem_at
from lifecycle.rules.ruleset import Ruleset, compile_ruleset
from lifecycle.rules.schema import RulesFile


@dataclass(frozen=True)
class CheckReport:
    """What `lifecycle check` prints: errors make the file unusable, warnings do not."""

    ruleset: Ruleset | None
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)


def load_rules(path: str | FilePath) -> Ruleset:
    """Read and compile a rules file; RulesError lists every problem with file:line:col."""
    name = str(path)
    try:
        raw = FilePath(path).read_bytes()
    except OSError as err:
        raise RulesError([Problem(name, 1, 1, f"cannot read rules file: {err.strerror}")]) from err
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise RulesError([Problem(name, 1, 1, f"not UTF-8 text: {err.reason}")]) from err
    return parse_rules(text, filename=name)


def parse_rules(text: str, *, filename: str = "rules.yaml") -> Ruleset:
    """Compile rules from text; RulesError lists every problem found."""
    ruleset, errors = _compile(text, filename)
    if ruleset is None:
        raise RulesError(errors)
    return ruleset


def check_rules(text: str, *, filename: str, at: datetime | None = None) -> CheckReport:
    """Errors and warnings for a rules text, for `lifecycle check` and the hot reload.

    `at` is where example instants in warnings are searched from (a fixed reference when
    omitted, so output is reproducible).
    """
    ruleset, errors = _compile(text, filename)
    if ruleset is None:
        return CheckReport(None, errors, [])
    warnings = lint(ruleset, read_document(text), at=at)
    return CheckReport(ruleset, [], warnings)


def _compile(text: str, filename: str) -> tuple[Ruleset | None, list[Problem]]:
    try:
        doc = read_document(text)
    except SyntaxProblem as err:
        return None, [Problem(filename, err.mark.line, err.mark.column, err.message)]
    errors = list(_duplicates(doc, filename))
    if not isinstance(doc.data, dict):
        errors.append(problem_at(doc, (), _not_a_mapping(doc.data), file=filename))
        return None, _sorted(errors)
    spec: RulesFile | None = None
    try:
        spec = RulesFile.model_validate(doc.data)
    except ValidationError as err:
        errors += from_validation(err.errors(), doc, root=RulesFile, file=filename)
    errors += _references(doc, filename)
    if errors or spec is None:
        return None, _sorted(errors)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    try:
        return compile_ruleset(spec, hash=f"sha256:{digest}", source=filename), []
    except ValueError as err:  # a calendar the schema accepted but cannot be built
        return None, [problem_at(doc, ("calendars",), str(err), file=filename)]


def _not_a_mapping(data: object) -> str:
    if data is None:
        return "the rules file is empty: expected keys 'timezone', 'calendars' and 'rules'"
    return "expected a mapping with keys 'timezone', 'calendars' and 'rules'"


def _sorted(problems: list[Problem]) -> list[Problem]:
    unique = dict.fromkeys(problems)
    return sorted(unique, key=lambda p: (p.line, p.column, p.message))


def _duplicates(doc: Document, filename: str) -> Iterator[Problem]:
    for dup in doc.duplicates:
        message = f"{dotted(dup.path)}: duplicate key '{dup.path[-1]}' (first on line "
        yield Problem(filename, dup.key.line, dup.key.column, f"{message}{dup.first_line})")


def _references(doc: Document, filename: str) -> list[Problem]:
    """Cross-references, checked on the raw data so they show even beside schema errors."""
    assert isinstance(doc.data, dict)
    raw_calendars = doc.data.get("calendars")
    calendars = list(raw_calendars) if isinstance(raw_calendars, dict) else []
    rules = [(i, r) for i, r in enumerate(_list(doc.data.get("rules"))) if isinstance(r, Mapping)]
    names = [str(r["name"]) for _, r in rules if isinstance(r.get("name"), str)]
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    for i, rule in rules:
        problems += _calendar_refs(doc, i, rule, calendars, filename)
        problems += _paused_by_refs(doc, ("rules", i, "match"), rule.get("match"), names, filename)
        name = rule.get("name")
        if isinstance(name, str) and name in seen:
            message = f"duplicate rule name '{name}' (also rules[{seen[name]}])"
            problems.append(problem_at(doc, ("rules", i, "name"), message, file=filename))
        elif isinstance(name, str):
            seen[name] = i
    return problems


def _list(value: object) -> list[object]:
    return value if isinstance(value, list) else []


def _calendar_refs(
    doc: Document, i: int, rule: Mapping[str, object], calendars: list[str], filename: str
) -> Iterator[Problem]:
    when = rule.get("when")
    if not isinstance(when, Mapping):
        return
    known = ", ".join(calendars) if calendars else "none defined"
    for side in ("inside", "outside"):
        name = when.get(side)
        if isinstance(name, str) and name not in calendars:
            message = f"unknown calendar '{name}' (known: {known})"
            yield problem_at(doc, ("rules", i, "when", side), message, file=filename)


def _paused_by_refs(
    doc: Document, path: tuple[str | int, ...], match: object, names: list[str], filename: str
) -> Iterator[Problem]:
    if not isinstance(match, Mapping):
        return
    target = match.get("paused_by")
    if isinstance(target, str) and target not in names:
        message = f"unknown rule '{target}' (known: {', '.join(dict.fromkeys(names))})"
        yield problem_at(doc, (*path, "paused_by"), message, file=filename)
    for combinator in ("all", "any"):
        for j, inner in enumerate(_list(match.get(combinator))):
            yield from _paused_by_refs(doc, (*path, combinator, j), inner, names, filename)
    yield from _paused_by_refs(doc, (*path, "not"), match.get("not"), names, filename)
