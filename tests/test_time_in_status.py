"""`in_status_for` on each basis, as plain tables: a change the daemon observed, a first
sight (a lower bound), and `date_updated` when the rules file trusts it. The verdict's
words, the next wake-up and the timeline all read the same basis."""

from __future__ import annotations

from datetime import datetime

import pytest

from lifecycle.engine import explain, plan
from lifecycle.engine.timeline import ExotelMoves, World, next_move, timeline
from lifecycle.model import Campaign, History, Status
from lifecycle.rules import Ruleset
from tests.rulebook import campaign, history, ist, rules

ARCHIVE = "rules:\n  - {name: archive-completed, match: {status: [completed], in_status_for: 7d}, action: archive}\n"  # noqa: E501
FIRST_SIGHT = rules(ARCHIVE)
TRUSTING = rules("trust_date_updated: true\n" + ARCHIVE)
NOW = "2026-11-27 12:00"
OLD = ist("2026-10-28 12:00")  # date_updated: 30 days before NOW


def verdict(subject: Campaign, past: History, ruleset: Ruleset) -> tuple[bool, str]:
    (only,) = explain(subject, ruleset, past, ist(NOW))
    return only.matched, only.reason


CASES = [
    (
        "first seen 2h ago: a lower bound, date_updated ignored",
        campaign("completed", date_updated=OLD),
        history(first_seen={"c1": "2026-11-27 10:00"}),
        FIRST_SIGHT,
        (False, "completed for ≥ 2h (< 7d), first seen 2026-11-27T10:00:00+05:30"),
        "2026-12-04 10:00",
    ),
    (
        "first seen 8 days ago: enough, whatever date_updated says",
        campaign("completed", date_updated=ist("2026-11-26 12:00")),
        history(first_seen={"c1": "2026-11-19 12:00"}),
        FIRST_SIGHT,
        (True, "status is completed; completed for ≥ 8d (≥ 7d), "
               "first seen 2026-11-19T12:00:00+05:30"),
        None,  # nothing left to wait for: it matches now
    ),
    (
        "first seen 2h ago, the file trusts date_updated",
        campaign("completed", date_updated=OLD),
        history(first_seen={"c1": "2026-11-27 10:00"}),
        TRUSTING,
        (True, "status is completed; completed since 2026-10-28T12:00:00+05:30 "
               "(from date_updated, trusted by the rules file): 30d (≥ 7d)"),
        None,
    ),
    (
        "trusted, but date_updated after the first sight: the first sight",
        campaign("completed", date_updated=ist("2026-11-27 11:00")),
        history(first_seen={"c1": "2026-11-25 12:00"}),
        TRUSTING,
        (False, "completed for ≥ 2d (< 7d), first seen 2026-11-25T12:00:00+05:30"),
        "2026-12-02 12:00",
    ),
    (
        "an observed completion wins over a trusted date_updated",
        campaign("completed", date_updated=OLD),
        history(since={"c1": "2026-11-26 12:00"}),
        TRUSTING,
        (False, "completed for 1d (< 7d)"),
        "2026-12-03 12:00",
    ),
    (
        "never observed, not trusted: unknown",
        campaign("completed", date_updated=OLD),
        History(),
        FIRST_SIGHT,
        (False, "completed since an unknown time: not yet observed by this daemon"
                " (time in status counts from first sight)"),
        None,
    ),
    (
        "never observed, trusted: date_updated",
        campaign("completed", date_updated=OLD),
        History(),
        TRUSTING,
        (True, "status is completed; completed since 2026-10-28T12:00:00+05:30 "
               "(from date_updated, trusted by the rules file): 30d (≥ 7d)"),
        None,
    ),
    (
        "never observed, trusted, no date_updated: unknown",
        campaign("completed"),
        History(),
        TRUSTING,
        (False, "completed since an unknown time: not yet observed by this daemon"
                ", and no date_updated"),
        None,
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("subject", "past", "ruleset", "expected", "wakeup"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_in_status_for_on_each_basis(
    subject: Campaign,
    past: History,
    ruleset: Ruleset,
    expected: tuple[bool, str],
    wakeup: str | None,
) -> None:
    assert verdict(subject, past, ruleset) == expected
    result = plan([subject], ruleset, past, ist(NOW))
    assert bool(result.decisions) == expected[0]
    assert result.next_wakeup == (ist(wakeup) if wakeup else None)


def test_not_in_status_for_a_lower_bound_below_the_minimum_is_unknown() -> None:
    """≥ 2h says nothing about "less than 7 days": `not:` must not turn it into a match."""
    young = rules(
        "rules:\n  - name: r\n    action: archive\n"
        "    match: {status: [completed], not: {in_status_for: 7d}}\n"
    )
    seen = history(first_seen={"c1": "2026-11-27 10:00"})
    matched, reason = verdict(campaign("completed"), seen, young)
    assert not matched and reason.endswith(": unknown")
    observed = history(since={"c1": "2026-11-27 10:00"})
    assert verdict(campaign("completed"), observed, young)[0]


def test_the_timeline_archives_7_days_after_first_sight_unless_date_updated_is_trusted() -> None:
    subject = campaign("completed", date_updated=OLD)
    seen = history(first_seen={"c1": "2026-11-25 12:00"})
    start, end = ist(NOW), ist("2026-12-10 12:00")
    for ruleset, expected in ((FIRST_SIGHT, "2026-12-02 12:00"), (TRUSTING, NOW)):
        entries = timeline([subject], ruleset, seen, start, end).entries
        assert [(e.at, e.rule, e.status_after) for e in entries] == [
            (ist(expected), "archive-completed", Status.ARCHIVED)
        ]


def test_exotel_cancels_a_paused_campaign_from_when_it_was_paused_on_the_same_basis() -> None:
    """Paused past end_at, Exotel cancels it at max(end_at, the pause): the pause is read as
    `in_status_for` reads it, so an untrusted date_updated does not date it."""
    paused = campaign("paused", end_at=ist("2026-11-20 12:00"), date_updated=OLD)
    seen = history(first_seen={"c1": "2026-11-25 12:00"})
    moves = ExotelMoves()

    def due(trusted: bool) -> datetime:
        move = next_move(paused, moves, World((paused,), seen, trusted))
        assert move is not None and move.target == Status.CANCELED
        return move.due

    assert due(trusted=False) == ist("2026-11-25 12:00")
    assert due(trusted=True) == ist("2026-11-20 12:00")
