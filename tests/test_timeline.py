"""engine.timeline over the shipped rules.yaml: plain tables of (campaigns, period) → entries,
and the property that the timeline agrees with `plan()` called at any instant in between."""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from lifecycle.engine import ExotelMoves, Timeline, TimelineEntry, plan, timeline
from lifecycle.model import ActionRecord, Campaign, History, Mode, Status
from lifecycle.rules import Ruleset, load_rules
from tests.rulebook import IST, PAUSE_OUTSIDE, RESUME_INSIDE, campaign, did, history, ist, rules

SHIPPED = load_rules(Path(__file__).parents[1] / "rules.yaml")
# The module (`lifecycle.engine.timeline` is also the function it exports).
engine_timeline = importlib.import_module("lifecycle.engine.timeline")
COMPLETE, ARCHIVE = "complete-after-end", "archive-completed"
FAILING = {"completed": 30, "failed": 30}  # 50% over 60 calls: pause-on-failures (dry-run)
DOCS_S = ExotelMoves()  # at end_at Exotel completes a running campaign, at once
LATE = ExotelMoves(end_at_lag=timedelta(minutes=5))  # Exotel acts 5 minutes after end_at
FRI, NEXT_FRI = "2026-11-27 18:00", "2026-12-04 18:00"  # a week from a Friday evening

Row = tuple[str, str, str, str, str]


def rows(result: Timeline) -> list[Row]:
    """(local time, kind, rule, steps, status after) per entry: what a reader checks."""
    return [
        (
            e.at.astimezone(IST).strftime("%a %d %H:%M:%S").removesuffix(":00"),
            e.kind if e.mode != Mode.DRY_RUN else f"{e.kind} (dry-run)",
            e.rule,
            ",".join(s.value for s in e.steps),
            e.status_after.value,
        )
        for e in result.entries
    ]


def week(*campaigns: Campaign, exotel: ExotelMoves = DOCS_S, **period: str) -> list[Row]:
    start, end = period.get("start", FRI), period.get("end", NEXT_FRI)
    return rows(timeline(campaigns, SHIPPED, History(), ist(start), ist(end), exotel=exotel))


def test_evening_pauses_and_morning_resumes_saturday_short_sunday_closed() -> None:
    got = week(campaign(), end="2026-12-01 10:00")
    assert got == [
        ("Fri 27 19:00", "action", PAUSE_OUTSIDE, "pause", "paused"),
        ("Sat 28 10:00", "action", RESUME_INSIDE, "resume", "in-progress"),
        ("Sat 28 14:00", "action", PAUSE_OUTSIDE, "pause", "paused"),  # short day; Sunday closed
        ("Mon 30 09:30", "action", RESUME_INSIDE, "resume", "in-progress"),
        ("Mon 30 13:00", "action", PAUSE_OUTSIDE, "pause", "paused"),  # lunch
        ("Mon 30 14:00", "action", RESUME_INSIDE, "resume", "in-progress"),
        ("Mon 30 19:00", "action", PAUSE_OUTSIDE, "pause", "paused"),
        ("Tue 01 09:30", "action", RESUME_INSIDE, "resume", "in-progress"),
    ]


CASES: list[tuple[str, Campaign, ExotelMoves, str, str, list[Row]]] = [
    (
        "complete-after-end at its end_at, in two steps (Exotel lags)",
        campaign(end_at=ist("2026-11-30 11:00")),
        LATE,
        "2026-11-30 10:00",
        "2026-11-30 12:00",
        [("Mon 30 11:00", "action", COMPLETE, "pause,complete", "completed")],
    ),
    (
        "Exotel completes it at end_at",
        campaign(end_at=ist("2026-11-30 11:00")),
        ExotelMoves(),
        "2026-11-30 10:00",
        "2026-11-30 12:00",
        [("Mon 30 11:00", "exotel", "", "", "completed")],
    ),
    (
        "Exotel pauses it at end_at, then it is completed",
        campaign(end_at=ist("2026-11-30 11:00")),
        ExotelMoves(end_at="paused"),
        "2026-11-30 10:00",
        "2026-11-30 12:00",
        [
            ("Mon 30 11:00", "exotel", "", "", "paused"),
            ("Mon 30 11:00", "action", COMPLETE, "complete", "completed"),
        ],
    ),
    (
        "paused by us over the weekend, past end_at: Exotel cancels it",
        campaign(end_at=ist("2026-11-29 20:00")),
        ExotelMoves(),
        FRI,
        "2026-11-30 12:00",
        [
            ("Fri 27 19:00", "action", PAUSE_OUTSIDE, "pause", "paused"),
            ("Sat 28 10:00", "action", RESUME_INSIDE, "resume", "in-progress"),
            ("Sat 28 14:00", "action", PAUSE_OUTSIDE, "pause", "paused"),
            ("Sun 29 20:00", "exotel", "", "", "canceled"),
        ],
    ),
    (
        "completed, first seen at the start: archived 7 days later, not by date_updated",
        campaign("completed", date_updated=ist("2026-11-19 10:00")),
        ExotelMoves(),
        FRI,
        NEXT_FRI,
        [("Fri 04 18:00", "action", ARCHIVE, "archive", "archived")],
    ),
    (
        "completed at end_at, archived 7 days later: time in status restarts",
        campaign(end_at=ist("2026-11-30 11:00")),
        LATE,
        "2026-11-30 10:00",
        "2026-12-08 12:00",
        [
            ("Mon 30 11:00", "action", COMPLETE, "pause,complete", "completed"),
            ("Mon 07 11:00", "action", ARCHIVE, "archive", "archived"),
        ],
    ),
    (
        "created: Exotel starts it at send_at, the rules take over",
        campaign("created", send_at=ist("2026-11-30 10:00")),
        ExotelMoves(),
        FRI,
        "2026-11-30 15:00",
        [
            ("Mon 30 10:00", "exotel", "", "", "in-progress"),
            ("Mon 30 13:00", "action", PAUSE_OUTSIDE, "pause", "paused"),
            ("Mon 30 14:00", "action", RESUME_INSIDE, "resume", "in-progress"),
        ],
    ),
    (
        "created with send_at on a Sunday: started and paused at once",
        campaign("created", send_at=ist("2026-11-29 11:00")),
        ExotelMoves(),
        FRI,
        "2026-11-30 10:00",
        [
            ("Sun 29 11:00", "exotel", "", "", "in-progress"),
            ("Sun 29 11:00", "action", PAUSE_OUTSIDE, "pause", "paused"),
            ("Mon 30 09:30", "action", RESUME_INSIDE, "resume", "in-progress"),
        ],
    ),
    (
        "paused by hand: never resumed",
        campaign("paused"),
        ExotelMoves(),
        FRI,
        NEXT_FRI,
        [],
    ),
]


@pytest.mark.parametrize(
    ("subject", "start", "end", "moves", "expected"),
    [(c, s, e, m, x) for _, c, m, s, e, x in CASES],
    ids=[case[0] for case in CASES],
)
def test_one_campaign_over_a_period(
    subject: Campaign, start: str, end: str, moves: ExotelMoves, expected: list[Row]
) -> None:
    assert week(subject, exotel=moves, start=start, end=end) == expected


def test_exotel_moves_name_the_instant_in_the_rules_zone() -> None:
    created = campaign("created", send_at=ist("2026-11-30 10:00"))
    entry = timeline([created], SHIPPED, History(), ist(FRI), ist(NEXT_FRI)).entries[0]
    assert (entry.rule, entry.action, entry.mode, entry.status_before) == (
        "", None, None, Status.CREATED
    )  # fmt: skip
    assert entry.reason == "send_at 2026-11-30T10:00:00+05:30 reached: Exotel starts dialling"


def test_dry_run_decisions_change_nothing() -> None:
    result = timeline([campaign()], SHIPPED, History(), ist(FRI), ist("2026-11-28 15:00"),
                      dry_run=True)  # fmt: skip
    assert rows(result) == [
        ("Fri 27 19:00", "action (dry-run)", PAUSE_OUTSIDE, "pause", "in-progress"),
        ("Sat 28 14:00", "action (dry-run)", PAUSE_OUTSIDE, "pause", "in-progress"),
    ]


def test_repeats_of_a_skip_or_dry_run_are_listed_once() -> None:
    failing = campaign(id="f", stats=FAILING)
    starter = campaign("created", id="s", send_at=ist("2026-11-30 15:00"))
    result = timeline([failing, starter], SHIPPED, History(), ist("2026-11-30 14:00"),
                      ist("2026-11-30 18:00"))  # fmt: skip
    assert rows(result) == [
        ("Mon 30 14:00", "action (dry-run)", "pause-on-failures", "pause", "in-progress"),
        ("Mon 30 15:00", "exotel", "", "", "in-progress"),  # f's dry-run is not repeated here
    ]


def test_a_follow_up_after_our_step_comes_on_the_next_tick() -> None:
    # After the 09:30 resume the failing campaign runs again: the next tick sees the failures.
    failing = campaign(id="f", stats=FAILING, status="paused")
    past = history(did("pause", "2026-11-28 14:00", cid="f"))
    result = timeline([failing], SHIPPED, past, ist("2026-11-30 09:00"), ist("2026-11-30 12:00"))
    assert rows(result) == [
        ("Mon 30 09:30", "action", RESUME_INSIDE, "resume", "in-progress"),
        ("Mon 30 09:30:01", "action (dry-run)", "pause-on-failures", "pause", "in-progress"),
    ]


TIDY = """\
rules:
  - {name: finish, match: {status: [in-progress, paused], end_at: passed}, action: complete}
  - {name: tidy, match: {status: [completed], in_status_for: 1h}, action: archive}
"""


def test_a_wake_up_that_only_our_own_step_creates_is_kept() -> None:
    # Before the 11:00 step nothing else is time-bound: the 12:00 wake-up exists only after it.
    ending = campaign(end_at=ist("2026-11-30 11:00"))
    result = timeline([ending], rules(TIDY), History(), ist("2026-11-30 10:00"),
                      ist("2026-11-30 18:00"), exotel=LATE)  # fmt: skip
    assert rows(result) == [
        ("Mon 30 11:00", "action", "finish", "pause,complete", "completed"),
        ("Mon 30 12:00", "action", "tidy", "archive", "archived"),
    ]


def test_time_in_status_restarts_when_the_store_knew_an_older_status() -> None:
    ending = campaign(end_at=ist("2026-11-30 11:00"))
    running_since = history(since={"c1": "2026-11-01 10:00"})
    result = timeline([ending], rules(TIDY), running_since, ist("2026-11-30 10:00"),
                      ist("2026-11-30 18:00"), exotel=LATE)  # fmt: skip
    assert rows(result)[1] == ("Mon 30 12:00", "action", "tidy", "archive", "archived")


def test_limits_span_every_campaign_and_the_filter_only_chooses_entries() -> None:
    limited = rules(LIMITED)
    both = [campaign(id="a"), campaign(id="b")]
    result = timeline(both, limited, History(), ist(FRI), ist("2026-11-27 20:00"),
                      campaign_ids={"b"})  # fmt: skip
    assert [(e.at, e.kind, e.campaign_id, e.reason.split(";")[0]) for e in result.entries] == [
        (ist("2026-11-27 19:00"), "skipped", "b",
         "limit of 1 actions per tick reached"),
        (ist("2026-11-27 19:00:01"), "action", "b", "status is in-progress"),
    ]  # fmt: skip


LIMITED = """\
max_actions_per_tick: 1
calendars:
  hours: {weekly: {mon-fri: ["09:30-19:00"]}}
rules:
  - name: pause-outside
    when: {outside: hours}
    match: {status: [in-progress]}
    action: pause
"""

FLAPPING = """\
rules:
  - {name: stop, match: {status: [in-progress]}, action: pause}
  - {name: go, match: {status: [paused]}, action: resume}
"""


def test_max_steps_stops_a_ruleset_that_never_settles() -> None:
    result = timeline([campaign()], rules(FLAPPING), History(), ist(FRI), ist(NEXT_FRI),
                      max_steps=50)  # fmt: skip
    assert result.truncated
    assert len(result.entries) == 50
    assert result.entries[-1].at == ist(FRI) + timedelta(seconds=49)


def test_a_timeline_that_reaches_its_end_is_not_truncated() -> None:
    result = timeline([campaign()], SHIPPED, History(), ist(FRI), ist(NEXT_FRI), max_steps=200)
    assert not result.truncated
    short = timeline([campaign()], SHIPPED, History(), ist(FRI), ist(NEXT_FRI), max_steps=2)
    assert short.truncated and rows(short) == rows(result)[:1]


def test_an_instant_copies_the_fleet_once_however_many_campaigns_move(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every campaign paused at 19:00 and resumed at 10:00 by the rules, and moved at its
    end_at by Exotel: the world is rebuilt once per instant and kind of move, not once per
    campaign (which made a 10,000-campaign timeline quadratic: minutes of CPU)."""
    built = 0
    real = engine_timeline.World

    def counted(*args: object) -> object:
        nonlocal built
        built += 1
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(engine_timeline, "World", counted)
    fleet = [
        campaign(id=f"c{i}", end_at=ist("2026-11-28 12:00") + timedelta(minutes=i % 2))
        for i in range(60)
    ]
    result = timeline(fleet, SHIPPED, History(), ist(FRI), ist("2026-11-28 13:00"))
    assert not result.truncated
    assert {(e.at, e.kind) for e in result.entries} == {
        (ist("2026-11-27 19:00"), "action"),
        (ist("2026-11-28 10:00"), "action"),
        (ist("2026-11-28 12:00"), "exotel"),
        (ist("2026-11-28 12:01"), "exotel"),
    }
    assert len(result.entries) == 3 * 60
    assert built <= 10  # the start, then one per instant with moves (at most two each)


def test_an_intent_open_at_the_start_is_resolved_by_the_next_tick() -> None:
    waiting = history(intents=("c1",))
    result = timeline([campaign()], SHIPPED, waiting, ist("2026-11-27 19:30"), ist(NEXT_FRI))
    assert rows(result)[:2] == [
        ("Fri 27 19:30", "skipped", PAUSE_OUTSIDE, "", "in-progress"),
        ("Fri 27 19:30:01", "action", PAUSE_OUTSIDE, "pause", "paused"),
    ]


def test_a_period_that_ends_before_it_starts_is_refused() -> None:
    with pytest.raises(ValueError, match="before it starts"):
        timeline([campaign()], SHIPPED, History(), ist(NEXT_FRI), ist(FRI))


# -- the key property: repeated `plan --at` agree with the timeline ----------------------

SNAPSHOT = [
    campaign(id="run", name="running"),
    campaign(id="fail", name="failing", stats=FAILING),
    campaign("paused", id="ours", name="paused-by-us"),
    campaign("paused", id="hand", name="paused-by-hand"),
    campaign(id="ends", name="ends-tuesday", end_at=ist("2026-12-01 11:00")),
    campaign(id="late", name="ends-wednesday", end_at=ist("2026-12-02 16:30")),
    campaign("created", id="new", name="starts-monday", send_at=ist("2026-11-30 10:00")),
    campaign("completed", id="done", name="done", date_updated=ist("2026-11-24 12:00")),
]
PAST = history(did("pause", "2026-11-27 13:00", cid="ours"),
               since={"ours": "2026-11-27 13:00", "ends": "2026-11-20 10:00"},
               first_seen={"done": "2026-11-24 12:00"})  # fmt: skip


@dataclasses.dataclass
class Replay:
    """The test's own bookkeeping of the world the timeline describes, built from entries."""

    campaigns: dict[str, Campaign]
    history: History

    def apply(self, entry: TimelineEntry) -> None:
        if entry.status_after == entry.status_before:
            return
        old = self.campaigns[entry.campaign_id]
        self.campaigns[old.id] = dataclasses.replace(
            old, status=entry.status_after, date_updated=entry.at
        )
        done = tuple(
            ActionRecord(old.id, entry.rule, step, entry.at, SHIPPED.hash) for step in entry.steps
        )
        actions = {**self.history.actions}
        actions[old.id] = (*actions.get(old.id, ()), *done)
        since = {**self.history.status_since, old.id: entry.at}
        first_seen = self.history.first_seen_in_status - {old.id}
        self.history = History(since, actions, frozenset(), self.history.holds, first_seen)

    def plan_at(self, at: datetime, ruleset: Ruleset) -> list[tuple[str, str, str, str]]:
        result = plan(list(self.campaigns.values()), ruleset, self.history, at)
        return [(d.campaign_id, d.rule, ",".join(d.steps), d.mode.value) for d in result.decisions]


def instants(entries: Sequence[TimelineEntry]) -> list[datetime]:
    return sorted({e.at for e in entries})


def between(a: datetime, b: datetime) -> Iterator[datetime]:
    """Instants strictly between a and b: just after, the middle, just before."""
    tiny = timedelta(microseconds=1)
    yield from sorted({a + tiny, a + (b - a) / 2, b - tiny} - {a, b})


def decided(entries: Sequence[TimelineEntry]) -> list[tuple[str, str, str, str]]:
    return [
        (e.campaign_id, e.rule, ",".join(e.steps), e.mode.value if e.mode else "")
        for e in entries
        if e.kind == "action"
    ]


@pytest.mark.parametrize("moves", [ExotelMoves(), ExotelMoves(end_at="paused"), LATE])
def test_the_timeline_agrees_with_plan_at_every_instant(moves: ExotelMoves) -> None:
    start, end = ist(FRI), ist(NEXT_FRI)
    result = timeline(SNAPSHOT, SHIPPED, PAST, start, end, exotel=moves)
    world = Replay({c.id: c for c in SNAPSHOT}, PAST)
    listed: set[tuple[str, str, str, str]] = set()
    times = instants(result.entries)
    assert times and times[0] >= start and times[-1] <= end
    for at in [start, *times] if times[0] > start else times:
        here = [e for e in result.entries if e.at == at]
        for entry in (e for e in here if e.kind == "exotel"):  # Exotel moves, then the tick
            world.apply(entry)
        planned = world.plan_at(at, SHIPPED)
        listed |= set(decided(here))
        assert enforced(planned) == enforced(decided(here)), at
        assert set(planned) <= listed, at  # dry-run ones: listed now or when they began
        for entry in (e for e in here if e.kind == "action"):
            world.apply(entry)
        following = next((t for t in times if t > at), end)
        upcoming = decided([e for e in result.entries if e.at == following])
        for moment in between(at, following):
            sampled = world.plan_at(moment, SHIPPED)
            assert set(enforced(sampled)) <= set(upcoming), moment  # nothing due is missing
            assert set(sampled) <= listed | set(upcoming), moment


def enforced(decisions: list[tuple[str, str, str, str]]) -> list[tuple[str, str, str, str]]:
    return [d for d in decisions if d[3] == Mode.ENFORCE]


def test_the_snapshot_week_covers_every_kind_of_entry() -> None:
    result = timeline(SNAPSHOT, SHIPPED, PAST, ist(FRI), ist(NEXT_FRI), exotel=LATE)
    by_campaign = {e.campaign_id for e in result.entries}
    assert by_campaign == {"run", "fail", "ours", "ends", "late", "new", "done"}  # not "hand"
    assert {e.kind for e in result.entries} == {"action", "skipped", "exotel"}
    assert ("Tue 01 11:00", "action", COMPLETE, "pause,complete", "completed") in rows(result)
    assert ("Sat 28 10:00", "action", RESUME_INSIDE, "resume", "in-progress") in [
        r for r, e in zip(rows(result), result.entries, strict=True) if e.campaign_id == "ours"
    ]
