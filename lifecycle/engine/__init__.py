"""The engine: a pure function from observed campaigns, rules and history to a Plan.

plan(campaigns, ruleset, history, now, *, dry_run=False) -> Plan
explain(campaign, ruleset, history, now) -> list[RuleVerdict]
"""

from __future__ import annotations

from lifecycle.engine.planner import RuleVerdict, explain, plan

__all__ = ["RuleVerdict", "explain", "plan"]
