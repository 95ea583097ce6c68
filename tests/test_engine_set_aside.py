"""plan() sets aside a campaign the rules cannot be evaluated on, and plans the rest.

The client drops values outside sane ranges before they get here; these campaigns are
built by hand, as a snapshot file or another caller could hand them over, to pin that the
engine on its own never lets one campaign's arithmetic cost the others their plan.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lifecycle.engine import explain, plan
from lifecycle.model import Action, Campaign, History, Status
from lifecycle.output import plan_to_json, plan_to_text
from lifecycle.rules import parse_rules

NOW = datetime(2026, 11, 27, 13, 30, tzinfo=UTC)  # Friday 19:00 in Mumbai
FAR = datetime(9999, 12, 31, 23, 59, tzinfo=UTC)
YEAR_1 = datetime(1, 1, 1, tzinfo=UTC)
RULES = parse_rules(
    """
timezone: Asia/Kolkata
trust_date_updated: true
calendars:
  business-hours:
    weekly: {mon-fri: ["09:30-19:00"]}
rules:
  - name: archive-old
    match: {status: [completed], in_status_for: 7d}
    action: archive
  - name: complete-ancient
    match: {status: [paused], age: 30d}
    action: complete
  - name: complete-near-end
    match: {status: [in-progress], end_at: {within: 2h}}
    action: complete
  - name: pause-outside-business-hours
    when: {outside: business-hours}
    match: {status: [in-progress]}
    action: pause
"""
)
HEALTHY = Campaign(id="healthy", name="healthy", status=Status.IN_PROGRESS)

IN_PROGRESS, PAUSED, COMPLETED = Status.IN_PROGRESS, Status.PAUSED, Status.COMPLETED

# (case, the odd campaign, set aside?)
CASES = [
    ("end_at in 9999", Campaign(id="odd", name="odd", status=IN_PROGRESS, end_at=FAR), True),
    ("end_at in year 1", Campaign(id="odd", name="odd", status=IN_PROGRESS, end_at=YEAR_1), False),
    ("end_at sane", Campaign(id="odd", name="odd", status=IN_PROGRESS, end_at=NOW), False),
    ("updated in 9999", Campaign(id="odd", name="odd", status=COMPLETED, date_updated=FAR), True),
    (
        "created in year 1",
        Campaign(id="odd", name="odd", status=PAUSED, date_created=YEAR_1),
        False,
    ),
]


@pytest.mark.parametrize(("case", "odd", "aside"), CASES, ids=[c[0] for c in CASES])
def test_an_odd_campaign_is_set_aside_and_the_rest_planned(
    case: str, odd: Campaign, aside: bool
) -> None:
    result = plan([odd, HEALTHY], RULES, History(), NOW)

    assert ("healthy", (Action.PAUSE,)) in [(d.campaign_id, d.steps) for d in result.decisions]
    assert [s.campaign_id for s in result.set_aside] == (["odd"] if aside else [])
    if aside:
        assert "odd" not in [d.campaign_id for d in result.decisions]
        assert result.set_aside[0].reason.startswith("rules cannot be evaluated on it: Overflow")
    assert result.next_wakeup is not None


def test_explain_names_the_rule_that_cannot_be_evaluated() -> None:
    verdicts = explain(CASES[0][1], RULES, History(), NOW)

    assert [(v.rule, v.matched) for v in verdicts] == [
        ("archive-old", False),
        ("complete-ancient", False),
        ("complete-near-end", False),
        ("pause-outside-business-hours", True),
    ]
    assert verdicts[2].reason.startswith("set aside: rules cannot be evaluated on it: Overflow")


def test_the_plan_shows_what_was_set_aside() -> None:
    result = plan([CASES[0][1], HEALTHY], RULES, History(), NOW)

    text = plan_to_text(result, RULES.timezone)
    assert "  set aside odd 'odd': rules cannot be evaluated on it: OverflowError" in text
    assert plan_to_json(result, RULES.timezone)["set_aside"][0]["campaign_id"] == "odd"


def test_a_campaign_whose_status_is_not_a_status_is_set_aside() -> None:
    # Campaign.status is typed; a hand-made value (a snapshot, another caller) that is
    # not a Status costs that campaign its plan, never the tick.
    odd = Campaign(id="odd", name="odd", status="running")  # type: ignore[arg-type]

    result = plan([odd, HEALTHY], RULES, History(), NOW)

    assert [(s.campaign_id, s.reason) for s in result.set_aside] == [
        ("odd", "rules cannot be evaluated on it: KeyError: 'running'")
    ]
    assert [d.campaign_id for d in result.decisions] == ["healthy"]
    assert result.next_wakeup is not None
