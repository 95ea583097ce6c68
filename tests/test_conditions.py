"""Each `match:` condition on its own: a one-rule file, a campaign, and the verdict's words."""

from __future__ import annotations

from dataclasses import replace

import pytest

from lifecycle.engine import explain
from lifecycle.model import CallCounts, Campaign, CountSource, History
from tests.rulebook import campaign, did, history, ist, rules

NOW = "2026-11-27 12:00"


def verdict(match: str, subject: Campaign, past: History | None = None) -> tuple[bool, str]:
    ruleset = rules(f"rules:\n  - name: r\n    action: pause\n    match: {match}\n")
    (only,) = explain(subject, ruleset, past or History(), ist(NOW))
    return only.matched, only.reason


CASES = [
    (
        '{name: "jan-*"}',
        campaign(name="jan-reminders"),
        (True, "name 'jan-reminders' matches 'jan-*'"),
    ),
    (
        '{name: ["feb-*", "mar-*"]}',
        campaign(name="jan-reminders"),
        (False, "name 'jan-reminders' does not match feb-* or mar-*"),
    ),
    ("{name_regex: '^jan_'}", campaign(name="jan_x"), (True, "name 'jan_x' matches /^jan_/")),
    (
        "{name_regex: '^jan_'}",
        campaign(name="xjan_"),
        (False, "name 'xjan_' does not match /^jan_/"),
    ),
    # A pattern that backtracks exponentially in `re` runs in linear time (RE2): answered,
    # not frozen, on the name that would take `re` hours.
    (
        "{name_regex: '^(a+)+$'}",
        campaign(name="a" * 40 + "!"),
        (False, f"name '{'a' * 40}!' does not match /^(a+)+$/"),
    ),
    (
        "{name_regex: '^(a+)+$'}",
        campaign(name="a" * 100_000),
        (True, f"name '{'a' * 100_000}' matches /^(a+)+$/"),
    ),
    ("{type: trans}", campaign(type="trans"), (True, "type is 'trans'")),
    (
        "{caller_id: ['0801', '0802']}",
        campaign(caller_id="0809"),
        (False, "caller_id is '0809', rule wants '0801' or '0802'"),
    ),
    (
        "{custom_field: {equals: vip}}",
        campaign(custom_field="vip"),
        (True, "custom_field 'vip' equals 'vip'"),
    ),
    (
        "{custom_field: {contains: vip}}",
        campaign(custom_field="tier=basic"),
        (False, "custom_field 'tier=basic' does not contain 'vip'"),
    ),
    (
        "{send_at: {within: 2h}}",
        campaign(send_at=ist("2026-11-27 13:30")),
        (True, "send_at 2026-11-27T13:30:00+05:30 is within the next 2h"),
    ),
    (
        "{send_at: {within: 2h}}",
        campaign(send_at=ist("2026-11-27 14:30")),
        (False, "send_at 2026-11-27T14:30:00+05:30 is not within the next 2h"),
    ),
    (
        "{send_at: {within: 2h}}",
        campaign(send_at=ist("2026-11-27 11:00")),
        (False, "send_at 2026-11-27T11:00:00+05:30 is not within the next 2h"),
    ),
    ("{send_at: passed}", campaign(), (False, "no send_at")),
    (
        "{end_at: passed}",
        campaign(end_at=ist("2026-11-30 18:00")),
        (False, "end_at 2026-11-30T18:00:00+05:30 not passed"),
    ),
    (
        "{age: 30d}",
        campaign(date_created=ist("2026-10-01 12:00")),
        (True, "created 57d ago (≥ 30d)"),
    ),
    ("{age: 30d}", campaign(), (False, "no date_created")),
    (
        "{in_status_for: 1d}",
        campaign("paused", date_updated=ist("2026-11-27 06:00")),
        (
            False,
            "paused since an unknown time: not yet observed by this daemon "
            "(time in status counts from first sight)",
        ),
    ),
    (
        "{failure_rate: {above: 0.4, min_calls: 50}}",
        campaign(stats={"completed": 10, "failed-no-answer": 50}),
        (True, "failure rate 83% over 60 calls (> 40%, from stats)"),
    ),
    (
        "{failure_rate: {above: 0.4}}",
        campaign(stats={"completed": 0}),
        (False, "no calls done yet"),
    ),
    (
        "{failure_rate: {above: 0.4}}",
        campaign(stats={"failed": 1, "in-progress": 99}),
        (False, "failure rate unknown: stats has no 'completed' count, so there is no denominator"),
    ),
    (
        "{counters: {call_failed: {above: 10}}}",
        campaign(summary=CallCounts.from_summary({"call_failed": 11}, CountSource.SUMMARY_ITEM)),
        (True, "call_failed is 11 (> 10)"),
    ),
    (
        "{counters: {failed-dnd: {below: 1}}}",
        campaign(stats={"failed": 3}),
        (True, "failed-dnd is 0 (not reported) (< 1)"),
    ),
    (
        "{counters: {pending: {equals: 0}, failed: {above: 10}}}",
        campaign(stats={"pending": 0, "failed": 11}),
        (True, "failed is 11 (> 10); pending is 0 (= 0)"),
    ),
    (
        "{counters: {pending: {below: 5}}}",
        campaign(stats={"pending": 7}),
        (False, "pending is 7, rule wants < 5"),
    ),
    (
        "{any: [{name: 'a-*'}, {name: 'b-*'}]}",
        campaign(name="c-1"),
        (False, "none of: name 'c-1' does not match a-*; name 'c-1' does not match b-*"),
    ),
    (
        "{any: [{name: 'a-*'}, {name: 'b-*'}]}",
        campaign(name="b-1"),
        (True, "name 'b-1' matches 'b-*'"),
    ),
    (
        "{not: {status: [paused]}}",
        campaign(),
        (True, "not (status is in-progress, rule wants paused)"),
    ),
    (
        "{all: [{status: [in-progress]}, {name: 'x*'}]}",
        campaign(name="x1"),
        (True, "status is in-progress; name 'x1' matches 'x*'"),
    ),
]


@pytest.mark.parametrize(("match", "subject", "expected"), CASES)
def test_condition(match: str, subject: Campaign, expected: tuple[bool, str]) -> None:
    assert verdict(match, subject) == expected


@pytest.mark.parametrize(
    ("past", "expected"),
    [
        (History(), (False, "paused, but not by this daemon (paused by hand)")),
        (
            history(did("pause", "2026-11-26 19:00", rule="r")),
            (True, "paused by r at 2026-11-26T19:00:00+05:30"),
        ),
        (
            history(did("pause", "2026-11-26 19:00", rule="other")),
            (False, "paused by rule other, not r"),
        ),
        (
            history(
                did("pause", "2026-11-26 19:00", rule="r"),
                did("resume", "2026-11-27 09:30", rule="x"),
            ),
            (False, "paused by hand after our resume at 2026-11-27T09:30:00+05:30"),
        ),
        (  # still paused since our pause took effect
            history(
                replace(
                    did("pause", "2026-11-26 19:00", rule="r"), done_at=ist("2026-11-26 19:00")
                ),
                since={"c1": "2026-11-26 19:00"},
            ),
            (True, "paused by r at 2026-11-26T19:00:00+05:30"),
        ),
        (  # resumed and paused again by hand since then
            history(
                replace(
                    did("pause", "2026-11-26 19:00", rule="r"), done_at=ist("2026-11-26 19:00")
                ),
                since={"c1": "2026-11-26 20:15"},
            ),
            (False, "paused by hand at 2026-11-26T20:15:00+05:30, after our pause"),
        ),
    ],
)
def test_paused_by(past: History, expected: tuple[bool, str]) -> None:
    assert verdict("{paused_by: r}", campaign("paused"), past) == expected


def test_in_status_for_prefers_the_store_over_date_updated() -> None:
    subject = campaign("paused", date_updated=ist("2026-11-01 06:00"))
    past = history(since={"c1": "2026-11-27 10:00"})
    assert verdict("{in_status_for: 1d}", subject, past) == (False, "paused for 2h (< 1d)")
