"""Call counts from every place Exotel puts them (docs/exotel-api.md), and the failure rate
the engine draws from each: engine tables first (no event loop), then the client reading
each shape from the simulator over real loopback HTTP."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import get_args

import pytest
from click.testing import CliRunner

from lifecycle.cli import main
from lifecycle.client import ExotelClient, campaigns_from_body
from lifecycle.engine import explain, plan
from lifecycle.model import CallCounts, Campaign, CountSource, History, Mode, Status
from lifecycle.simulator import Simulator
from lifecycle.simulator.config import CountsShape
from lifecycle.simulator.wire import campaign_item
from tests.rulebook import campaign, ist, rules

NOW = ist("2026-11-27 12:00")
# Enforced, so that a wrong failure rate would really pause a healthy campaign.
ENFORCED = rules(
    "rules:\n  - name: pause-on-failures\n"
    "    match: {status: [in-progress], failure_rate: {above: 0.4, min_calls: 50}}\n"
    "    action: pause\n"
)
# Exotel's analytics key set: no `completed`, no `pending` (docs/exotel-api.md).
ANALYTICS = {"created": 0, "in-progress": 900, "retry": 3, "retrying": 1, "failed": 60,
             "failed-dnd": 2, "invalid": 0, "paused": 0, "failed-no-attempt": 0}  # fmt: skip
SUMMARY = {"call_scheduled": 1000, "call_initialized": 60, "call_completed": 30,
           "call_failed": 30, "call_inprogress": 0}  # fmt: skip
UNKNOWN_STATS = "failure rate unknown: stats has no 'completed' count, so there is no denominator"
UNKNOWN_NONE = "failure rate unknown: Exotel reported no call counts (no summary, no stats)"


def summary(where: CountSource, **counts: int) -> CallCounts:
    return CallCounts.from_summary({**SUMMARY, **counts}, where)


def seen_by_engine(subject: Campaign) -> tuple[float | None, bool, Mode | None, str]:
    """The failure rate the engine sees, whether the rule acts (and how), and why."""
    (verdict,) = explain(subject, ENFORCED, History(), NOW)
    result = plan([subject], ENFORCED, History(), NOW)
    mode = result.decisions[0].mode if result.decisions else None
    return subject.failure_rate, bool(result.decisions), mode, verdict.reason


SHAPES = [
    (
        "summary at item level",
        campaign(summary=summary(CountSource.SUMMARY_ITEM)),
        (0.5, True, Mode.ENFORCE,
         "status is in-progress; failure rate 50% over 60 calls (> 40%, from summary beside data)"),
    ),
    (
        "summary in data",
        campaign(summary=summary(CountSource.SUMMARY_DATA)),
        (0.5, True, Mode.ENFORCE, "status is in-progress; failure rate 50% over 60 calls "
                                  "(> 40%, from summary in the campaign object)"),
    ),
    (
        "stats with completed",
        campaign(stats={"completed": 30, "failed": 20, "failed-dnd": 10, "pending": 940}),
        (0.5, True, Mode.ENFORCE,
         "status is in-progress; failure rate 50% over 60 calls (> 40%, from stats)"),
    ),
    (
        "stats without completed",  # failed/(completed+failed) would read 100% here
        campaign(stats=ANALYTICS),
        (None, False, None, UNKNOWN_STATS),
    ),
    ("none", campaign(), (None, False, None, UNKNOWN_NONE)),
    (
        "healthy summary at item level",
        campaign(summary=summary(CountSource.SUMMARY_ITEM, call_completed=90, call_failed=10)),
        (0.1, False, None,
         "failure rate 10% over 100 calls (≤ 40%, from summary beside data)"),
    ),
    (
        "summary without call_completed",
        campaign(summary=CallCounts.from_summary({"call_failed": 70}, CountSource.SUMMARY_DATA)),
        (None, False, None, "failure rate unknown: the summary has no 'call_completed' count"),
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("subject", "expected"), [s[1:] for s in SHAPES], ids=[s[0] for s in SHAPES]
)
def test_the_failure_rate_the_engine_sees_for_each_counter_shape(
    subject: Campaign, expected: tuple[float | None, bool, Mode | None, str]
) -> None:
    assert seen_by_engine(subject) == expected


def test_a_summary_wins_over_stats_and_counters_read_both_by_exact_key() -> None:
    both = campaign(stats=ANALYTICS, summary=summary(CountSource.SUMMARY_ITEM))
    assert (both.counts.source, both.failure_rate) == (CountSource.SUMMARY_ITEM, 0.5)
    assert (both.counter("failed-dnd"), both.counter("call_failed"), both.counter("x")) == (
        2,
        30,
        None,
    )
    counted = rules(
        "rules:\n  - name: r\n    action: pause\n"
        "    match: {counters: {call_failed: {above: 20}, in-progress: {above: 800}}}\n"
    )
    (verdict,) = explain(both, counted, History(), NOW)
    assert (verdict.matched, verdict.reason) == (
        True,
        "call_failed is 30 (> 20); in-progress is 900 (> 800)",
    )


@pytest.mark.parametrize(
    ("subject", "reason"),
    [(campaign(stats=ANALYTICS), UNKNOWN_STATS), (campaign(), UNKNOWN_NONE)],
    ids=["stats without completed", "none"],
)
def test_an_unknown_failure_rate_never_matches_even_under_not(
    subject: Campaign, reason: str
) -> None:
    healthy = rules(
        "rules:\n  - name: r\n    action: pause\n    match: {not: {failure_rate: {above: 0.4}}}\n"
    )
    (verdict,) = explain(subject, healthy, History(), NOW)
    assert (verdict.matched, verdict.reason) == (False, f"not ({reason}): unknown")


def test_the_update_campaign_body_puts_summary_beside_data() -> None:
    """The body on Exotel's update-campaign page (docs/exotel-api.md), with no stats."""
    stamp = "2020-11-24T23:52:19.625541789+05:30"
    body = {"response": [{"code": 200, "status": "success", "error_data": None,
                          "data": {"id": "c1", "status": "paused",
                                   "date_created": "2020-11-24T23:52:19+05:30",
                                   "date_updated": "2020-11-24T23:52:19+05:30"},
                          "summary": {"campaign_sid": "c1", "call_scheduled": 100,
                                      "call_initialized": 80, "call_completed": 60,
                                      "call_failed": 20, "call_inprogress": 0,
                                      "DateCreated": stamp}}]}  # fmt: skip
    (read,) = campaigns_from_body(body)
    assert read.summary is not None and read.stats == {}
    assert (read.counts.source, read.counts.completed, read.counts.failed) == (
        CountSource.SUMMARY_ITEM,
        60,
        20,
    )
    assert read.failure_rate == 0.25
    assert "DateCreated" not in read.counts.values and "campaign_sid" not in read.counts.values


def test_a_summary_beside_data_wins_over_one_inside() -> None:
    inside = {"call_completed": 1, "call_failed": 99}
    item = {"code": 200, "status": "success", "summary": SUMMARY,
            "data": {"id": "c1", "status": "InProgress", "summary": inside}}  # fmt: skip
    (read,) = campaigns_from_body({"response": [item]})
    assert (read.counts.source, read.failure_rate) == (CountSource.SUMMARY_ITEM, 0.5)
    del item["summary"]
    (read,) = campaigns_from_body({"response": [item]})
    assert (read.counts.source, read.failure_rate) == (CountSource.SUMMARY_DATA, 0.99)


# -- the client against the simulator, over loopback -------------------------------------

# (shape, where the client finds the counts, failure rate) for 100 calls, 30 failed.
OVER_HTTP: list[tuple[CountsShape, CountSource, float | None]] = [
    ("summary-item", CountSource.SUMMARY_ITEM, 0.3),
    ("summary-data", CountSource.SUMMARY_DATA, 0.3),
    ("stats", CountSource.STATS, 0.3),
    ("stats-no-completed", CountSource.STATS, None),
    ("none", CountSource.NONE, None),
]


@pytest.mark.parametrize(("shape", "source", "rate"), OVER_HTTP, ids=[s[0] for s in OVER_HTTP])
async def test_the_client_reads_each_counter_shape_from_the_simulator(
    sim: Simulator, client: ExotelClient, shape: CountsShape, source: CountSource,
    rate: float | None,
) -> None:  # fmt: skip
    sim.config = replace(sim.config, counts=shape)
    cid = sim.add_campaign(name="failing", status=Status.IN_PROGRESS, numbers=1000,
                           throttle_cpm=1, failure_ratio=0.3, done=100)  # fmt: skip
    (listed,) = await client.list_campaigns()
    got = await client.get_campaign(cid)
    for read in (listed, got):
        assert (read.counts.source, read.failure_rate) == (source, rate)
    assert listed.counts == got.counts
    (_, acted, _, reason) = seen_by_engine(listed)
    assert acted is False  # 30% is below the 40% limit, and unknown never acts
    assert reason.startswith("failure rate unknown") == (rate is None)


@pytest.mark.parametrize("shape", [s[0] for s in OVER_HTTP])
def test_the_simulator_puts_counts_only_where_the_config_says(
    sim: Simulator, shape: CountsShape, now: datetime
) -> None:
    sim.config = replace(sim.config, counts=shape)
    cid = sim.add_campaign(name="some-calls", numbers=10, done=4)
    item = campaign_item(sim.campaign(cid), sim.config)
    data = item["data"]
    places = {
        "summary-item": "summary" in item,
        "summary-data": "summary" in data,
        "stats": "completed" in data.get("stats", {}),
        "stats-no-completed": "stats" in data and "completed" not in data["stats"],
    }
    assert [where for where, found in places.items() if found] == (
        [] if shape == "none" else [shape]
    )
    if shape == "stats-no-completed":
        assert set(data["stats"]) == set(ANALYTICS)


def test_the_simulator_command_offers_every_counter_shape() -> None:
    shown = CliRunner().invoke(main, ["simulator", "--help"], terminal_width=200).output
    assert all(shape in shown for shape in get_args(CountsShape)), shown


def test_a_summary_without_call_counts_gives_way_to_stats_with_completed() -> None:
    empty = CallCounts.from_summary({"call_scheduled": 100}, CountSource.SUMMARY_DATA)
    with_stats = campaign(summary=empty, stats={"completed": 6, "failed": 4})
    assert (with_stats.counts.source, with_stats.failure_rate) == (CountSource.STATS, 0.4)
    alone = campaign(summary=empty, stats=ANALYTICS)
    assert alone.counts.unknown_because() == (
        "the summary has no 'call_completed' or 'call_failed' count"
    )
