"""Reading rules.yaml: the whole file is checked, and every mistake is reported at once.

Order: YAML syntax (stops everything), duplicate keys, the schema, then references
between parts (calendars named in `when:`, rules named in `paused_by:`, unique names).
Only a file with no errors at all compiles into a `Ruleset`: a bad edit never
half-applies. Whatever a file holds, loading it ends in a `Ruleset` or a `RulesError`:
the YAML reader is bounded (`safeyaml`), files past `MAX_FILE_BYTES` are refused unread,
and anything else that goes wrong is reported against the file rather than escaping.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path as FilePath
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from lifecycle.errors import Problem, RulesError
from lifecycle.rules.document import Document, SyntaxProblem, read_document
from lifecycle.rules.holiday import HolidaySpec
from lifecycle.rules.lint import lint
from lifecycle.rules.problems import dotted, from_validation, problem_at
from lifecycle.rules.ruleset import Ruleset, compile_ruleset
from lifecycle.rules.schema import RulesFile

MAX_FILE_BYTES = 1024 * 1024  # a rules file is a page or two; this is room for a thousand rules


@dataclass(frozen=True)
class CheckReport:
    """What `lifecycle check` prints: errors make the file unusable, warnings do not."""

    ruleset: Ruleset | None
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)


@dataclass(frozen=True)
class Overrides:
    """What one account changes in a shared rules file (the accounts file says it): the
    file's `timezone`, and the `holidays:` of each calendar that has them. The ruleset
    keeps the file's hash: the file is what an operator checks and edits."""

    timezone: ZoneInfo | None = None
    holidays: HolidaySpec | None = None

    def apply(self, spec: RulesFile) -> RulesFile:
        if self.holidays is not None:
            calendars = {
                name: cal.model_copy(update={"holidays": self.holidays}) if cal.holidays else cal
                for name, cal in spec.calendars.items()
            }
            spec = spec.model_copy(update={"calendars": calendars})
        if self.timezone is not None:
            spec = spec.model_copy(update={"timezone": self.timezone})
        return spec


NO_OVERRIDES = Overrides()


@dataclass(frozen=True)
class RulesSource:
    """A rules file as read: its name, its text and its identity (`Ruleset.hash`)."""

    name: str
    text: str
    hash: str  # "sha256:<hex>" of the bytes on disk: what `sha256sum FILE` prints

    @classmethod
    def from_text(cls, text: str, *, name: str) -> RulesSource:
        """Rules given as text (tests, `parse_rules`): the identity of their UTF-8 bytes."""
        # surrogatepass: a text no file could hold still gets an identity, and its error.
        return cls(name, text, rules_hash(text.encode("utf-8", "surrogatepass")))


def rules_hash(data: bytes) -> str:
    """The identity of a rules file: sha256 over its raw bytes, so CRLF line endings, a
    BOM or a trailing newline give a different hash, and an operator can check it by hand."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def decode_rules(data: bytes, *, filename: str) -> RulesSource:
    """Bytes in, text and identity out: the one way every command and the daemon read a
    rules file. RulesError (FILE:LINE:COL) when the bytes are not UTF-8 or too many."""
    if len(data) > MAX_FILE_BYTES:
        raise RulesError([_too_large(len(data), filename)])
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise RulesError([_not_utf8(data, err, filename)]) from err
    return RulesSource(filename, text, rules_hash(data))


def read_rules(path: str | FilePath) -> RulesSource:
    """Read a rules file from disk; RulesError when it cannot be read or decoded."""
    name = str(path)
    try:
        with FilePath(path).open("rb") as file:
            data = file.read(MAX_FILE_BYTES + 1)  # enough to tell it is too large
    except OSError as err:
        raise RulesError([Problem(name, 1, 1, f"cannot read rules file: {err.strerror}")]) from err
    return decode_rules(data, filename=name)


def _too_large(size: int, filename: str) -> Problem:
    limit = MAX_FILE_BYTES // 1024
    return Problem(filename, 1, 1, f"rules file larger than {limit} KiB: not read")


def _not_utf8(data: bytes, err: UnicodeDecodeError, filename: str) -> Problem:
    line_start = data.rfind(b"\n", 0, err.start) + 1
    line = data.count(b"\n", 0, err.start) + 1
    column = len(data[line_start : err.start].decode("utf-8", errors="replace")) + 1
    byte = data[err.start : err.start + 1].hex()
    message = f"not UTF-8 text: byte 0x{byte} ({err.reason}); save the file as UTF-8"
    return Problem(filename, line, column, message)


def load_rules(path: str | FilePath, overrides: Overrides = NO_OVERRIDES) -> Ruleset:
    """Read and compile a rules file; RulesError lists every problem with file:line:col."""
    return compile_rules(read_rules(path), overrides)


def compile_rules(source: RulesSource, overrides: Overrides = NO_OVERRIDES) -> Ruleset:
    """Compile rules as read, with an account's `overrides`; RulesError lists every problem
    found."""
    compiled = _compile(source, overrides)
    if compiled.ruleset is None:
        raise RulesError(compiled.errors)
    return compiled.ruleset


def parse_rules(text: str, *, filename: str = "rules.yaml") -> Ruleset:
    """Compile rules from text; RulesError lists every problem found."""
    return compile_rules(RulesSource.from_text(text, name=filename))


def check_rules(text: str, *, filename: str, at: datetime | None = None) -> CheckReport:
    """Errors and warnings for a rules text (see `check_source`)."""
    return check_source(RulesSource.from_text(text, name=filename), at=at)


def check_source(
    source: RulesSource, *, at: datetime | None = None, overrides: Overrides = NO_OVERRIDES
) -> CheckReport:
    """Errors and warnings for rules as read, for `lifecycle check`.

    `at` is where example instants in warnings are searched from (a fixed reference when
    omitted, so output is reproducible).
    """
    compiled = _compile(source, overrides)
    if compiled.ruleset is None or compiled.doc is None:
        return CheckReport(None, compiled.errors, [])
    try:
        warnings = lint(compiled.ruleset, compiled.doc, at=at)
    except Exception as err:  # a warning pass must never hide good rules
        warnings = [_unexpected(err, source.name, severity="warning")]
    return CheckReport(compiled.ruleset, [], warnings)


@dataclass(frozen=True)
class _Compiled:
    """Rules, or the problems that stop them; and the document, parsed once, that
    `check` locates its warnings in (None when the text is not YAML)."""

    ruleset: Ruleset | None
    errors: list[Problem]
    doc: Document | None = None


def _compile(source: RulesSource, overrides: Overrides = NO_OVERRIDES) -> _Compiled:
    """The one place loading is guarded: whatever the text holds, the caller gets rules
    or located problems, never another exception."""
    try:
        return _compile_checked(source, overrides)
    except Exception as err:  # see the docstring
        return _Compiled(None, [_unexpected(err, source.name)])


def _unexpected(err: Exception, filename: str, *, severity: str = "error") -> Problem:
    detail = str(err).split("\n", 1)[0][:200]
    message = f"cannot load this file ({type(err).__name__}: {detail}); please report it"
    return Problem(filename, 1, 1, message, severity)


def _compile_checked(source: RulesSource, overrides: Overrides) -> _Compiled:
    text, filename = source.text, source.name
    if len(text) > MAX_FILE_BYTES:
        return _Compiled(None, [_too_large(len(text), filename)])
    try:
        doc = read_document(text)
    except SyntaxProblem as err:
        return _Compiled(None, [Problem(filename, err.mark.line, err.mark.column, err.message)])
    errors = list(_duplicates(doc, filename))
    if not isinstance(doc.data, dict):
        errors.append(problem_at(doc, (), _not_a_mapping(doc.data), file=filename))
        return _Compiled(None, _sorted(errors), doc)
    spec: RulesFile | None = None
    try:
        spec = RulesFile.model_validate(doc.data)
    except ValidationError as err:
        errors += from_validation(err.errors(), doc, root=RulesFile, file=filename)
    errors += _references(doc, filename)
    if errors or spec is None:
        return _Compiled(None, _sorted(errors), doc)
    try:
        ruleset = compile_ruleset(overrides.apply(spec), hash=source.hash, source=filename)
        return _Compiled(ruleset, [], doc)
    except ValueError as err:  # a calendar the schema accepted but cannot be built
        return _Compiled(None, [problem_at(doc, ("calendars",), str(err), file=filename)], doc)


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
