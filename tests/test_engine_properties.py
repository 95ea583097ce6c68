"""Properties of plan() over random campaigns, histories and instants (hypothesis)."""

from __future__ import annotations

from datetime import datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from lifecycle.engine import plan
from lifecycle.model import (
    ACTION_GOAL,
    ActionRecord,
    Campaign,
    History,
    Hold,
    Plan,
    Status,
    apply,
)
from tests.rulebook import PAUSE_OUTSIDE, design_rules, ist, rules

START = ist("2026-11-20 00:00")
# Statuses some rule can move; drawn more often, since the rest only ever produce skips.
ACTIONABLE = [Status.CREATED, Status.IN_PROGRESS, Status.PAUSED, Status.COMPLETED]
RULESETS = [
    design_rules(),
    rules(
        """\
calendars:
  night: {weekly: {daily: ["22:00-06:00"]}}
flap_guard: {max_reversals: 2, within: 6h}
rules:
  - {name: quiet, when: {inside: night}, match: {status: [in-progress]}, action: pause,
     cooldown: 1h}
  - {name: wake, when: {outside: night}, match: {paused_by: quiet}, action: resume}
  - {name: tidy, match: {age: 20d, send_at: {within: 3h}}, action: archive}
"""
    ),
]

instants = st.integers(min_value=0, max_value=14 * 24 * 60).map(
    lambda m: START + timedelta(minutes=m)
)


def near(now: datetime, *, before: int = 720, after: int = 720) -> st.SearchStrategy[datetime]:
    """Instants within hours of `now`, where time-bound answers are likely to flip."""
    return st.integers(-before, after).map(lambda m: now + timedelta(minutes=m))


@st.composite
def campaigns(draw: st.DrawFn, cid: str, now: datetime) -> Campaign:
    return Campaign(
        id=cid,
        name=f"c-{cid}",
        status=draw(st.sampled_from(list(Status)) | st.sampled_from(ACTIONABLE)),
        end_at=draw(st.none() | near(now)),
        send_at=draw(st.none() | near(now)),
        date_created=draw(st.none() | near(now).map(lambda t: t - timedelta(days=20))),
        date_updated=draw(st.none() | near(now).map(lambda t: t - timedelta(days=7))),
        stats={"completed": draw(st.integers(0, 80)), "failed": draw(st.integers(0, 80))},
    )


def records(cid: str, now: datetime) -> st.SearchStrategy[ActionRecord]:
    return st.builds(
        ActionRecord,
        st.just(cid),
        st.sampled_from([PAUSE_OUTSIDE, "quiet", "tidy", "wake"]),
        st.sampled_from(list(ACTION_GOAL)),
        near(now, after=0),
    )


@st.composite
def worlds(draw: st.DrawFn) -> tuple[list[Campaign], History, datetime, int]:
    now = draw(instants)
    ids = [str(i) for i in range(draw(st.integers(1, 4)))]
    subjects = [draw(campaigns(cid, now)) for cid in ids]
    actions = {
        cid: tuple(sorted(draw(st.lists(records(cid, now), max_size=5)), key=lambda r: r.at))
        for cid in ids
    }
    holds = {
        cid: Hold(cid, draw(near(now)), "ops", now - timedelta(days=1))
        for cid in ids
        if draw(st.integers(0, 4)) == 0
    }
    past = History(
        status_since={cid: draw(near(now, after=0)) for cid in ids if draw(st.booleans())},
        actions=actions,
        open_intents=frozenset(cid for cid in ids if draw(st.integers(0, 4)) == 0),
        holds=holds,
    )
    return subjects, past, now, draw(st.integers(0, len(RULESETS) - 1))


def essence(result: Plan) -> tuple[object, ...]:
    """The decisions without their words (reasons mention durations that grow with time).

    Skips may come and go between wake-ups (a "no legal path" skip stops when its rule
    stops matching); next_wakeup promises only that no *decision* changes before it."""
    return tuple((d.campaign_id, d.rule, d.action, d.steps, d.mode) for d in result.decisions)


@settings(max_examples=150, deadline=None)
@given(worlds())
def test_decisions_follow_the_state_machine(
    world: tuple[list[Campaign], History, datetime, int],
) -> None:
    subjects, past, now, which = world
    result = plan(subjects, RULESETS[which], past, now)
    by_id = {c.id: c for c in subjects}
    assert len({d.campaign_id for d in result.decisions}) == len(result.decisions)
    for decision in result.decisions:
        status = by_id[decision.campaign_id].status
        assert status == decision.status != ACTION_GOAL[decision.action]  # invariant 3
        assert decision.campaign_id not in past.open_intents
        for step in decision.steps:  # invariant 4: every step legal in turn
            status = apply(status, step)
        assert status == ACTION_GOAL[decision.action]
    assert result == plan(subjects, RULESETS[which], past, now)


@settings(max_examples=300, deadline=None)
@given(worlds(), st.floats(min_value=0.0, max_value=1.0))
def test_nothing_changes_before_next_wakeup(
    world: tuple[list[Campaign], History, datetime, int], fraction: float
) -> None:
    """Level-triggered and complete: between now and next_wakeup no decision changes."""
    subjects, past, now, which = world
    result = plan(subjects, RULESETS[which], past, now)
    horizon = result.next_wakeup or now + timedelta(days=30)
    assert horizon > now
    later = min(now + (horizon - now) * fraction, horizon - timedelta(microseconds=1))
    assert essence(plan(subjects, RULESETS[which], past, later)) == essence(result)
