"""The engine: a pure function from observed campaigns, rules and history to a Plan.

plan(campaigns, ruleset, history, now, *, dry_run=False) -> Plan
explain(campaign, ruleset, history, now) -> list[RuleVerdict]
timeline(campaigns, ruleset, history, start, end, ...) -> Timeline
"""

from __future__ import annotations

from lifecycle.engine.planner import RuleVerdict, explain, plan
from lifecycle.engine.timeline import ExotelMoves, Timeline, TimelineEntry, timeline

__all__ = [
    "ExotelMoves",
    "RuleVerdict",
    "Timeline",
    "TimelineEntry",
    "explain",
    "plan",
    "timeline",
]
