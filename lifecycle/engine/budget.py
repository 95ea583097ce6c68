"""Per-tick action limits: the file's `max_actions_per_tick` and each rule's own."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from lifecycle.model import Decision, Mode, Skip
from lifecycle.rules import Ruleset

_WAIT = "waits for the next tick"


@dataclass
class Budget:
    """Counts decisions as campaigns are judged in the order given, so it is deterministic.

    Every decision counts against its rule's limit; only decisions of enforcing rules
    count against the global limit, which protects the API (a dry-run rule sends nothing).
    A decision counts once however many steps it has.
    """

    limit: int | None
    spent: int = 0
    per_rule: Counter[str] = field(default_factory=Counter)

    def admit(self, decision: Decision, ruleset: Ruleset) -> Decision | Skip:
        """The decision if it fits in this tick's limits, else a skip saying it waits."""
        rule = ruleset.rule(decision.rule)
        assert rule is not None  # decisions come from this ruleset's rules
        own = rule.max_actions_per_tick
        if own is not None and self.per_rule[rule.name] >= own:
            return _deferred(decision, f"rule limit of {own} actions per tick reached; {_WAIT}")
        counts_globally = rule.mode == Mode.ENFORCE
        if counts_globally and self.limit is not None and self.spent >= self.limit:
            return _deferred(decision, f"limit of {self.limit} actions per tick reached; {_WAIT}")
        self.per_rule[rule.name] += 1
        self.spent += counts_globally
        return decision


def _deferred(decision: Decision, reason: str) -> Skip:
    return Skip(
        decision.campaign_id, decision.campaign_name, decision.rule, decision.action, reason
    )
