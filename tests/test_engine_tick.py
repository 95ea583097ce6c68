"""engine.Tick: what one tick works out once for every campaign, from a table."""

from __future__ import annotations

import pytest

from lifecycle.engine.tick import Tick
from lifecycle.instant import to_utc
from lifecycle.model import History, Status
from lifecycle.rules import Ruleset
from tests.rulebook import design_rules, ist, rules

DESIGN = design_rules()
PAUSE, RESUME = "pause-outside-business-hours", "resume-in-business-hours"
END, ARCHIVE, FAILURES = "complete-after-end", "archive-completed", "pause-on-failures"


def tick_at(text: str, ruleset: Ruleset = DESIGN) -> Tick:
    return Tick.at(ruleset, History(), to_utc(ist(text)))


@pytest.mark.parametrize(
    ("at", "status", "expected"),
    [
        # Friday 19:30, after hours: the pause rule's window admits running campaigns.
        ("2026-11-27 19:30", Status.IN_PROGRESS, (PAUSE, END, FAILURES)),
        ("2026-11-27 19:30", Status.PAUSED, (END,)),
        # Friday 10:00, open: the resume rule's window admits paused ones instead.
        ("2026-11-27 10:00", Status.IN_PROGRESS, (END, FAILURES)),
        ("2026-11-27 10:00", Status.PAUSED, (RESUME, END)),
        # A holiday (31 Dec, a Thursday) is closed all day.
        ("2026-12-31 10:00", Status.IN_PROGRESS, (PAUSE, END, FAILURES)),
        ("2026-11-27 10:00", Status.COMPLETED, (ARCHIVE,)),
        ("2026-11-27 10:00", Status.ARCHIVED, ()),
        ("2026-11-27 10:00", Status.UNKNOWN, ()),
    ],
)
def test_rules_a_status_could_match_now(at: str, status: Status, expected: tuple[str, ...]) -> None:
    assert tuple(r.name for r in tick_at(at).matching[status]) == expected


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        # Could act whatever the time: status listed, and a path to a goal not yet reached.
        (Status.IN_PROGRESS, (PAUSE, END, FAILURES)),
        (Status.PAUSED, (RESUME, END)),
        (Status.COMPLETED, (ARCHIVE,)),
        (Status.CREATED, ()),
        (Status.ARCHIVED, ()),
        (Status.UNKNOWN, ()),
    ],
)
def test_rules_that_could_act_on_a_status(status: Status, expected: tuple[str, ...]) -> None:
    assert tuple(r.name for r in tick_at("2026-11-27 10:00").acting[status]) == expected


@pytest.mark.parametrize(
    ("at", "edge", "words"),
    [
        ("2026-11-27 12:00", "2026-11-27 13:00", "inside business-hours until 13:00 Asia/Kolkata"),
        (
            "2026-11-27 19:30",
            "2026-11-28 10:00",
            "outside business-hours (closed since 19:00 Asia/Kolkata, opens Sat 10:00)",
        ),
    ],
)
def test_calendar_edge_and_window_words_once_per_tick(at: str, edge: str, words: str) -> None:
    tick = tick_at(at)
    assert tick.edge == to_utc(ist(edge))
    assert tick.windows["business-hours"] == words


def test_no_window_no_edge_and_an_empty_status_list_admits_every_status() -> None:
    plain = rules("rules:\n  - {name: old, match: {age: 30d}, action: archive}\n")
    tick = tick_at("2026-11-27 10:00", plain)
    assert tick.edge is None
    assert [r.name for r in tick.matching[Status.ARCHIVED]] == ["old"]
    assert [r.name for r in tick.acting[Status.COMPLETED]] == ["old"]
    assert tick.acting[Status.ARCHIVED] == ()  # already at the goal
