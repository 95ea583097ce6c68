"""engine.plan over the DESIGN §5 rules: plain tables of (campaign, history, now) → outcome."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from lifecycle.engine import explain, plan
from lifecycle.model import Action, Campaign, History, Mode, Plan, SkipKind, Status
from tests.rulebook import (
    IST,
    PAUSE_OUTSIDE,
    RESUME_INSIDE,
    campaign,
    design_rules,
    did,
    history,
    ist,
    rules,
)

P, R, C, A = Action.PAUSE, Action.RESUME, Action.COMPLETE, Action.ARCHIVE
NONE = History()
FAILING = {"completed": 30, "failed": 30}  # 50% failure over 60 calls


def outcome(result: Plan) -> tuple[str, tuple[Action, ...]] | str | None:
    """The first campaign's fate: (rule, steps), "skip: reason", or None for nothing."""
    if result.decisions:
        decision = result.decisions[0]
        return decision.rule, decision.steps
    mine = [s for s in result.skipped if s.kind == SkipKind.SKIPPED]
    return f"skip: {mine[0].reason}" if mine else None


CASES = [
    # Windows: Friday closes at 19:00, lunch 13:00-14:00, Saturday 10-14, Sunday closed.
    ("fri 19:00 closes", campaign(), NONE, "2026-11-27 19:00", (PAUSE_OUTSIDE, (P,))),
    ("fri 12:00 open", campaign(), NONE, "2026-11-27 12:00", None),
    ("fri lunch", campaign(), NONE, "2026-11-27 13:30", (PAUSE_OUTSIDE, (P,))),
    ("sat 11:00 open", campaign(), NONE, "2026-11-28 11:00", None),
    ("sun closed", campaign(), NONE, "2026-11-29 11:00", (PAUSE_OUTSIDE, (P,))),
    ("created is not matched", campaign("created"), NONE, "2026-11-29 11:00", None),
    # Holidays close the whole day: Guru Nanak's Birthday (MH) and the listed 31 Dec.
    ("MH holiday", campaign(), NONE, "2026-11-24 11:00", (PAUSE_OUTSIDE, (P,))),
    ("day after holiday", campaign(), NONE, "2026-11-25 11:00", None),
    ("listed date", campaign(), NONE, "2026-12-31 11:00", (PAUSE_OUTSIDE, (P,))),
    # Ownership: only a campaign this daemon paused under that rule is resumed.
    (
        "paused by us",
        campaign("paused"),
        history(did("pause", "2026-11-27 19:00")),
        "2026-11-30 09:30",
        (RESUME_INSIDE, (R,)),
    ),
    ("paused by hand", campaign("paused"), NONE, "2026-11-30 10:00", None),
    (
        "paused by another rule",
        campaign("paused"),
        history(did("pause", "2026-11-27 12:00", rule="pause-on-failures")),
        "2026-11-30 10:00",
        None,
    ),
    (
        "paused by hand after our resume",
        campaign("paused"),
        history(did("pause", "2026-11-27 19:00"), did("resume", "2026-11-30 09:31")),
        "2026-11-30 10:00",
        None,
    ),
    # Multi-step paths, and first match wins.
    (
        "end passed, running, open",
        campaign(end_at=ist("2026-11-27 10:00")),
        NONE,
        "2026-11-27 12:00",
        ("complete-after-end", (P, C)),
    ),
    (
        "end passed, paused",
        campaign("paused", end_at=ist("2026-11-27 10:00")),
        NONE,
        "2026-11-27 12:00",
        ("complete-after-end", (C,)),
    ),
    (
        "end passed, closed: pause wins",
        campaign(end_at=ist("2026-11-27 10:00")),
        NONE,
        "2026-11-27 20:00",
        (PAUSE_OUTSIDE, (P,)),
    ),
    (
        "end not passed",
        campaign("paused", end_at=ist("2026-11-30 18:00")),
        NONE,
        "2026-11-27 12:00",
        None,
    ),
    (
        "completed 8 days",
        campaign("completed"),
        history(since={"c1": "2026-11-19 12:00"}),
        "2026-11-27 12:00",
        ("archive-completed", (A,)),
    ),
    (
        "completed 2 days",
        campaign("completed"),
        history(since={"c1": "2026-11-25 12:00"}),
        "2026-11-27 12:00",
        None,
    ),
    (
        "completed, no store entry: unknown, date_updated is not trusted",
        campaign("completed", date_updated=ist("2026-11-01 12:00")),
        NONE,
        "2026-11-27 12:00",
        None,
    ),
    # failure_rate needs min_calls.
    (
        "failing",
        campaign(stats=FAILING),
        NONE,
        "2026-11-27 12:00",
        ("pause-on-failures", (P,)),
    ),
    (
        "failing, too few calls",
        campaign(stats={"completed": 10, "failed-busy": 30}),
        NONE,
        "2026-11-27 12:00",
        None,
    ),
    (
        "healthy",
        campaign(stats={"completed": 50, "failed": 10}),
        NONE,
        "2026-11-27 12:00",
        None,
    ),
    # Guards.
    (
        "intent open",
        campaign(),
        history(intents=("c1",)),
        "2026-11-27 19:00",
        "skip: an earlier step is still in flight (intent open)",
    ),
    ("unknown status", campaign("unknown"), NONE, "2026-11-27 19:00", None),
    ("archived", campaign("archived"), NONE, "2026-11-27 19:00", None),
]


@pytest.mark.parametrize(
    ("subject", "history", "at", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_design_rules(subject: Campaign, history: History, at: str, expected: object) -> None:
    assert outcome(plan([subject], design_rules(), history, ist(at))) == expected


def test_decision_carries_everything_the_audit_needs() -> None:
    ruleset = design_rules()
    result = plan(
        [campaign(end_at=ist("2026-11-27 10:00"))], ruleset, NONE, ist("2026-11-27 12:00")
    )
    (decision,) = result.decisions
    assert decision.campaign_id == "c1"
    assert decision.status == Status.IN_PROGRESS
    assert decision.action == Action.COMPLETE
    assert decision.mode == Mode.ENFORCE
    assert decision.reason == "status is in-progress; end_at 2026-11-27T10:00:00+05:30 passed"
    assert result.ruleset == ruleset.hash
    assert result.at == ist("2026-11-27 12:00")


def test_later_matches_are_shadowed() -> None:
    subject = campaign(end_at=ist("2026-11-27 10:00"), stats=FAILING)
    result = plan([subject], design_rules(), NONE, ist("2026-11-27 20:00"))
    assert [d.rule for d in result.decisions] == [PAUSE_OUTSIDE]
    assert [(s.rule, s.kind, s.reason) for s in result.skipped] == [
        ("complete-after-end", SkipKind.SHADOWED, f"shadowed by {PAUSE_OUTSIDE}"),
        ("pause-on-failures", SkipKind.SHADOWED, f"shadowed by {PAUSE_OUTSIDE}"),
    ]


def test_dry_run_rule_and_global_dry_run() -> None:
    subject = campaign(stats=FAILING)
    now = ist("2026-11-27 12:00")
    assert plan([subject], design_rules(), NONE, now).decisions[0].mode == Mode.DRY_RUN
    closed = ist("2026-11-27 20:00")
    assert plan([subject], design_rules(), NONE, closed).decisions[0].mode == Mode.ENFORCE
    dry = plan([subject], design_rules(), NONE, closed, dry_run=True)
    assert [(d.rule, d.mode) for d in dry.decisions] == [(PAUSE_OUTSIDE, Mode.DRY_RUN)]


def test_satisfied_first_match_produces_nothing() -> None:
    """Invariant 3: a paused campaign under a pause rule gets no decision and no skip."""
    ruleset = rules("rules:\n  - {name: pause-all, action: pause}\n")
    result = plan([campaign("paused")], ruleset, NONE, ist("2026-11-27 12:00"))
    assert (result.decisions, result.skipped) == ((), ())


def test_no_legal_path_and_unknown_status_are_skips() -> None:
    ruleset = rules("rules:\n  - {name: pause-all, action: pause}\n")
    subjects = [campaign("completed", id="done"), campaign("unknown", id="odd", raw_status="Zz")]
    result = plan(subjects, ruleset, NONE, ist("2026-11-27 12:00"))
    assert result.decisions == ()
    assert [(s.campaign_id, s.reason) for s in result.skipped] == [
        ("done", "no legal path from completed to paused"),
        ("odd", "status unknown (API said 'Zz'); never acted on"),
    ]


def test_explain_names_each_rules_verdict() -> None:
    subject = campaign("completed", date_updated=ist("2026-11-01 10:00"))
    seen = history(first_seen={"c1": "2026-11-19 10:00"})
    verdicts = explain(subject, design_rules(), seen, ist("2026-11-27 12:00"))
    assert [(v.rule, v.matched, v.reason) for v in verdicts] == [
        (PAUSE_OUTSIDE, False, "status is completed, rule wants in-progress"),
        (RESUME_INSIDE, False, "status is completed, rule wants paused"),
        ("complete-after-end", False, "status is completed, rule wants in-progress or paused"),
        (
            "archive-completed",
            True,
            "status is completed; completed for ≥ 8d 2h (≥ 7d), "
            "first seen 2026-11-19T10:00:00+05:30",
        ),
        ("pause-on-failures", False, "status is completed, rule wants in-progress"),
    ]


@pytest.mark.parametrize(
    ("at", "reason"),
    [
        ("2026-11-27 12:00", "inside business-hours until 13:00 Asia/Kolkata"),
        (
            "2026-11-27 19:00",
            "status is in-progress; outside business-hours "
            "(closed since 19:00 Asia/Kolkata, opens Sat 10:00)",
        ),
        (
            "2026-11-28 15:00",
            "status is in-progress; outside business-hours "
            "(closed since 14:00 Asia/Kolkata, opens Mon 09:30)",
        ),
    ],
)
def test_window_reasons(at: str, reason: str) -> None:
    first = explain(campaign(), design_rules(), NONE, ist(at))[0]
    assert first.reason == reason


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        plan([], design_rules(), NONE, datetime(2026, 11, 27, 12))


def test_plan_is_deterministic() -> None:
    subjects = [campaign(id=f"c{i}", end_at=ist("2026-11-27 10:00")) for i in range(5)]
    first = plan(subjects, design_rules(), NONE, ist("2026-11-27 19:00"))
    assert first == plan(subjects, design_rules(), NONE, ist("2026-11-27 19:00"))
    assert first.next_wakeup == ist("2026-11-28 10:00")
    assert first.next_wakeup.tzinfo is not None
    assert ist("2026-11-28 10:00").astimezone(IST) - first.next_wakeup == timedelta(0)
