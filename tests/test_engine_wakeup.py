"""engine.plan's next_wakeup, multi-step paths, and windows that cross midnight."""

from __future__ import annotations

from datetime import datetime

import pytest

from lifecycle.engine import plan
from lifecycle.model import Action, Campaign, History, Hold
from tests.rulebook import campaign, design_rules, did, history, ist, rules

NONE = History()
NEVER = None


@pytest.mark.parametrize(
    ("subject", "past", "at", "expected"),
    [
        # Window edges: Friday 12:00 → lunch at 13:00; Friday 19:00 → Saturday 10:00.
        (campaign(), NONE, "2026-11-27 12:00", "2026-11-27 13:00"),
        (campaign(), NONE, "2026-11-27 19:00", "2026-11-28 10:00"),
        # end_at before the next edge (only for statuses complete-after-end can act on).
        (campaign(end_at=ist("2026-11-27 12:30")), NONE, "2026-11-27 12:00", "2026-11-27 12:30"),
        (
            campaign("completed", end_at=ist("2026-11-27 12:30")),
            NONE,
            "2026-11-27 12:00",
            "2026-11-27 13:00",
        ),
        # in_status_for threshold: completed since last Friday 13:30, 7d → today 13:30,
        # before the window's next edge (14:00, the end of lunch).
        (
            campaign("completed"),
            history(since={"c1": "2026-11-20 13:30"}),
            "2026-11-27 13:10",
            "2026-11-27 13:30",
        ),
        # A hold that lapses before the next edge.
        (
            campaign(),
            history(holds=(Hold("c1", ist("2026-11-27 20:00"), "x", ist("2026-11-27 09:00")),)),
            "2026-11-27 19:00",
            "2026-11-27 20:00",
        ),
    ],
)
def test_next_wakeup_design_rules(subject: Campaign, past: History, at: str, expected: str) -> None:
    result = plan([subject], design_rules(), past, ist(at))
    assert result.next_wakeup == ist(expected)


def test_next_wakeup_none_when_nothing_is_time_bound() -> None:
    ruleset = rules(
        "rules:\n  - {name: pause-busy, match: {counters: {pending: {above: 5}}}, action: pause}\n"
    )
    assert plan([campaign()], ruleset, NONE, ist("2026-11-27 12:00")).next_wakeup is NEVER


@pytest.mark.parametrize(
    ("match", "subject", "expected"),
    [
        ("{age: 30d}", campaign(date_created=ist("2026-11-01 08:00")), "2026-12-01 08:00"),
        ("{send_at: {within: 2h}}", campaign(send_at=ist("2026-11-27 18:00")), "2026-11-27 16:00"),
        ("{end_at: passed}", campaign(end_at=ist("2026-11-28 01:00")), "2026-11-28 01:00"),
    ],
)
def test_next_wakeup_time_conditions(match: str, subject: Campaign, expected: str) -> None:
    ruleset = rules(f"rules:\n  - {{name: r, match: {match}, action: pause}}\n")
    assert plan([subject], ruleset, NONE, ist("2026-11-27 12:00")).next_wakeup == ist(expected)


def test_cooldown_end_wakes_up() -> None:
    text = "rules:\n  - {name: r, match: {status: [in-progress]}, action: pause, cooldown: 1h}\n"
    past = history(did("pause", "2026-11-27 11:30", rule="r"))
    assert plan([campaign()], rules(text), past, ist("2026-11-27 12:00")).next_wakeup == ist(
        "2026-11-27 12:30"
    )


def test_wakeup_is_strictly_after_now() -> None:
    at = ist("2026-11-27 13:00")  # exactly on an edge
    wakeup = plan([campaign()], design_rules(), NONE, at).next_wakeup
    assert isinstance(wakeup, datetime) and wakeup == ist("2026-11-27 14:00")


ARCHIVE_OLD = """\
rules:
  - name: archive-old
    match: {age: 30d}
    action: archive
"""


@pytest.mark.parametrize(
    ("status", "steps"),
    [
        ("created", (Action.PAUSE, Action.COMPLETE, Action.ARCHIVE)),
        ("in-progress", (Action.PAUSE, Action.COMPLETE, Action.ARCHIVE)),
        ("paused", (Action.COMPLETE, Action.ARCHIVE)),
        ("completed", (Action.ARCHIVE,)),
    ],
)
def test_archive_paths(status: str, steps: tuple[Action, ...]) -> None:
    subject = campaign(status, date_created=ist("2026-10-01 10:00"))
    (decision,) = plan([subject], rules(ARCHIVE_OLD), NONE, ist("2026-11-27 12:00")).decisions
    assert decision.steps == steps


NIGHT = """\
calendars:
  night: {weekly: {daily: ["22:00-06:00"]}}
rules:
  - name: quiet-at-night
    when: {inside: night}
    match: {status: [in-progress]}
    action: pause
"""


@pytest.mark.parametrize(
    ("at", "paused"),
    [
        ("2026-11-27 21:59", False),
        ("2026-11-27 22:00", True),
        ("2026-11-28 00:30", True),
        ("2026-11-28 05:59", True),
        ("2026-11-28 06:00", False),
    ],
)
def test_window_crossing_midnight(at: str, paused: bool) -> None:
    result = plan([campaign()], rules(NIGHT), NONE, ist(at))
    assert bool(result.decisions) is paused


def test_flap_window_lapse_wakes_up() -> None:
    text = """\
flap_guard: {max_reversals: 1, within: 2h}
rules:
  - {name: r, match: {status: [in-progress]}, action: pause}
"""
    past = history(
        did("pause", "2026-11-27 10:30", rule="r"),
        did("resume", "2026-11-27 11:00", rule="x"),
        did("pause", "2026-11-27 11:15", rule="r"),
        did("resume", "2026-11-27 11:30", rule="x"),
    )
    result = plan([campaign()], rules(text), past, ist("2026-11-27 12:00"))
    assert result.skipped[0].reason == "flapping: 3 reversals in 2h; left alone"
    assert result.next_wakeup == ist("2026-11-27 12:30")  # the 10:30 pause leaves the window
