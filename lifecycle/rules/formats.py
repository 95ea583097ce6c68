"""`lifecycle check` output for machines: GitHub workflow commands and one JSON object.

Pure formatting of the problems `check_source` found; the CLI prints and picks the exit code.
"""

from __future__ import annotations

from typing import Any

from lifecycle.errors import Problem
from lifecycle.rules.loader import CheckReport


def _escape(text: str, *, prop: bool = False) -> str:
    """GitHub's escaping for workflow commands: data and, stricter, property values."""
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if prop else text


def to_github(problem: Problem) -> str:
    """`::error file=…,line=…,col=…::message`: an annotation on the line in a pull request."""
    level = "error" if problem.severity == "error" else "warning"
    where = (
        f"file={_escape(problem.file, prop=True)},line={problem.line},col={problem.column},"
        f"title={_escape('lifecycle check', prop=True)}"
    )
    return f"::{level} {where}::{_escape(problem.message)}"


def problem_to_json(problem: Problem) -> dict[str, Any]:
    return {
        "file": problem.file,
        "line": problem.line,
        "column": problem.column,
        "severity": problem.severity,
        "message": problem.message,
    }


def check_to_json(path: str, report: CheckReport, *, ok: bool) -> dict[str, Any]:
    """The whole verdict on one file: `ok` as the exit code says (errors, or warnings
    under --strict, make it false)."""
    ruleset = report.ruleset
    return {
        "file": path,
        "ok": ok,
        "ruleset": ruleset.hash if ruleset else None,
        "rules": len(ruleset.rules) if ruleset else None,
        "calendars": len(ruleset.calendars) if ruleset else None,
        "errors": [problem_to_json(p) for p in report.errors],
        "warnings": [problem_to_json(p) for p in report.warnings],
    }
