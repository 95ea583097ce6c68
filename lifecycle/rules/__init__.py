"""The rules language: rules.yaml loaded, validated, located and compiled.

load_rules(path) -> Ruleset          RulesError lists every problem as FILE:LINE:COL
parse_rules(text, filename=...) -> Ruleset
check_rules(text, filename=...) -> CheckReport(ruleset, errors, warnings)
"""

from __future__ import annotations

from lifecycle.rules.loader import CheckReport, check_rules, load_rules, parse_rules
from lifecycle.rules.ruleset import FlapGuard, Rule, Ruleset
from lifecycle.rules.schema import ManualChange

__all__ = [
    "CheckReport",
    "FlapGuard",
    "ManualChange",
    "Rule",
    "Ruleset",
    "check_rules",
    "load_rules",
    "parse_rules",
]
