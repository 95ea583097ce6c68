"""The rules language: rules.yaml loaded, validated, located and compiled.

read_rules(path) -> RulesSource      the one way to read a rules file: text + sha256 of its bytes
decode_rules(data, filename=...) -> RulesSource     the same, from bytes already read
load_rules(path) -> Ruleset          RulesError lists every problem as FILE:LINE:COL
compile_rules(source) -> Ruleset
parse_rules(text, filename=...) -> Ruleset
check_source(source) / check_rules(text, filename=...) -> CheckReport(ruleset, errors, warnings)
"""

from __future__ import annotations

from lifecycle.rules.loader import (
    NO_OVERRIDES,
    CheckReport,
    Overrides,
    RulesSource,
    check_rules,
    check_source,
    compile_rules,
    decode_rules,
    load_rules,
    parse_rules,
    read_rules,
    rules_hash,
)
from lifecycle.rules.ruleset import FlapGuard, Rule, Ruleset
from lifecycle.rules.schema import ManualChange

__all__ = [
    "NO_OVERRIDES",
    "CheckReport",
    "FlapGuard",
    "ManualChange",
    "Overrides",
    "Rule",
    "RulesSource",
    "Ruleset",
    "check_rules",
    "check_source",
    "compile_rules",
    "decode_rules",
    "load_rules",
    "parse_rules",
    "read_rules",
    "rules_hash",
]
