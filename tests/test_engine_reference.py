"""The fast engine and the straightforward reference evaluator give the same plans.

Random rule files, built from every part of the rules language (statuses, windows on
calendars with holidays and zones with DST, name globs and regexes, custom fields,
send_at/end_at, age, time in status, failure rates, counters, ownership, all/any/not,
cooldowns, limits, dry-run, the flap guard), meet random fleets and histories, some with
instants next to year 1 or 9999 that cannot be judged. The plans must be equal in full:
decisions with their reasons, skips, set-aside campaigns and next_wakeup.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lifecycle.engine import plan
from lifecycle.engine.tick import Tick
from lifecycle.engine.wakeup import next_wakeup
from lifecycle.model import (
    Action,
    ActionRecord,
    CallCounts,
    Campaign,
    CountSource,
    History,
    Hold,
    Status,
)
from lifecycle.rules import Ruleset, parse_rules
from lifecycle.rules.conditions import AllOf, Finding
from lifecycle.rules.predicate import compile_test
from lifecycle.rules.threshold import compile_thresholds
from tests.reference_engine import reference_plan

# Around a DST change (London, New York in March) and around year-end holidays.
STARTS = [datetime(2026, 3, 26, tzinfo=UTC), datetime(2026, 12, 22, tzinfo=UTC)]
ZONES = [None, "Asia/Dubai", "Europe/London", "America/New_York"]
DAY_KEYS = ["mon-fri", "sat", "sun", "daily", "fri-mon", "tue,thu"]
RANGES = ["09:30-13:00", "14:00-19:00", "22:00-06:00", "00:00-24:00", "01:30-02:30"]
NAMES = ["sales-1", "sales-22", "night-7", "uae-3", "test-x", "draft-9", ""]
GLOBS = ["sales-*", "night-?", "*-3", "test-*"]
REGEXES = ["^sales-[0-9]+$", "(?i)NIGHT", "3$"]
CUSTOM = ["", "collections", "promo-keep", "blr"]
STATUS_NAMES = ["created", "in-progress", "paused", "completed", "failed", "archived"]
ACTIONABLE = [Status.CREATED, Status.IN_PROGRESS, Status.PAUSED, Status.COMPLETED]
DURATIONS = ["30m", "2h", "1d", "7d"]
ACTIONS = [a.value for a in Action]

T = TypeVar("T")
json_text = json.dumps  # JSON is YAML: every generated value is written as JSON


@st.composite
def calendars(draw: st.DrawFn) -> dict[str, object]:
    found: dict[str, object] = {}
    for i in range(draw(st.integers(1, 3))):
        weekly = {
            key: draw(st.lists(st.sampled_from(RANGES), min_size=1, max_size=2, unique=True))
            for key in draw(
                st.lists(st.sampled_from(DAY_KEYS), min_size=1, max_size=2, unique=True)
            )
        }
        spec: dict[str, object] = {"weekly": weekly}
        zone = draw(st.sampled_from(ZONES))
        if zone:
            spec["timezone"] = zone
        if draw(st.booleans()):
            dates = draw(st.lists(st.sampled_from(["2026-03-27", "2026-12-24..2026-12-26"])))
            spec["holidays"] = {
                "country": draw(st.sampled_from(["IN", "AE", "GB"])),
                "dates": dates,
            }
        found[f"cal{i}"] = spec
    return found


@st.composite
def matches(draw: st.DrawFn, names: list[str], depth: int = 0) -> dict[str, object]:
    """A `match:` mapping; each key is there or not, nested ones at most two deep."""
    match: dict[str, object] = {}
    optional = {
        "status": st.lists(st.sampled_from(STATUS_NAMES), min_size=1, max_size=3, unique=True),
        "name": st.lists(st.sampled_from(GLOBS), min_size=1, max_size=2, unique=True),
        "name_regex": st.sampled_from(REGEXES),
        "custom_field": st.sampled_from(CUSTOM[1:]).flatmap(
            lambda t: st.sampled_from([{"equals": t}, {"contains": t[:4]}])
        ),
        "end_at": st.sampled_from(["passed", {"within": "2h"}, {"within": "1d"}]),
        "send_at": st.sampled_from(["passed", {"within": "30m"}]),
        "age": st.sampled_from(DURATIONS),
        "in_status_for": st.sampled_from(DURATIONS),
        "failure_rate": st.builds(
            lambda a, m: {"above": a, "min_calls": m},
            st.sampled_from([0.1, 0.4]),
            st.integers(0, 60),
        ),
        "counters": st.sampled_from([{"failed": {"above": 20}}, {"completed": {"below": 50}}]),
        "paused_by": st.sampled_from(names),
    }
    if depth == 0:
        keys = [key for key in optional if draw(st.integers(0, 7)) == 0]
    else:  # nested: one or two parts, often those that can be unknown
        common = st.sampled_from(["in_status_for", "failure_rate", "failure_rate"])
        keys = draw(st.lists(common | st.sampled_from(sorted(optional)), min_size=1, max_size=2))
    match.update({key: draw(optional[key]) for key in keys})
    if depth < 2 and draw(st.integers(0, 2)) == 0:
        match["not"] = draw(matches(names, depth + 1))
    if depth < 2 and draw(st.integers(0, 3)) == 0:
        match["any"] = draw(st.lists(matches(names, depth + 1), min_size=1, max_size=2))
    return match


@st.composite
def rule_files(draw: st.DrawFn) -> Ruleset:
    cals = draw(calendars())
    names = [f"r{i}" for i in range(draw(st.integers(1, 6)))]
    rules = []
    for name in names:
        rule: dict[str, object] = {"name": name, "action": draw(st.sampled_from(ACTIONS))}
        if draw(st.booleans()):
            side = draw(st.sampled_from(["inside", "outside"]))
            rule["when"] = {side: draw(st.sampled_from(sorted(cals)))}
        rule["match"] = draw(matches(names))
        extras = {
            "mode": st.sampled_from(["enforce", "dry-run"]),
            "cooldown": st.sampled_from(DURATIONS),
            "on_manual_change": st.sampled_from(["respect", "enforce"]),
            "max_actions_per_tick": st.integers(1, 2),
        }
        rule.update({k: draw(v) for k, v in extras.items() if draw(st.integers(0, 3)) == 0})
        rules.append(rule)
    head: dict[str, object] = {"timezone": "Asia/Kolkata", "calendars": cals, "rules": rules}
    if draw(st.booleans()):
        head["flap_guard"] = {"max_reversals": draw(st.integers(1, 2)), "within": "6h"}
    if draw(st.booleans()):
        head["max_actions_per_tick"] = draw(st.integers(1, 3))
    head["trust_date_updated"] = draw(st.booleans())
    return parse_rules(json_text(head), filename="rules.yaml")


def near(now: datetime, *, days: int = 3) -> st.SearchStrategy[datetime]:
    """Instants within days of now, now and then one that cannot be judged."""
    minutes = st.integers(-days * 1440, days * 1440).map(lambda m: now + timedelta(minutes=m))
    odd = st.sampled_from(
        [datetime(1, 1, 1, 3, tzinfo=UTC), datetime(9999, 12, 31, 20, tzinfo=UTC)]
    )
    return st.one_of(*[minutes] * 40, odd)


@st.composite
def campaigns(draw: st.DrawFn, cid: str, now: datetime) -> Campaign:
    done, failed = draw(st.integers(0, 90)), draw(st.integers(0, 90))
    stats = draw(
        st.sampled_from([{}, {"completed": done, "failed": failed}, {"failed-dnd": failed}])
    )
    summary = None
    if draw(st.integers(0, 3)) == 0:
        values = {"call_completed": done, "call_failed": failed}
        summary = CallCounts.from_summary(values, CountSource.SUMMARY_DATA)
    return Campaign(
        id=cid,
        name=draw(st.sampled_from(NAMES)),
        status=draw(st.sampled_from(ACTIONABLE) | st.sampled_from(list(Status))),
        custom_field=draw(st.sampled_from(CUSTOM)),
        send_at=draw(st.none() | near(now)),
        end_at=draw(st.none() | near(now)),
        date_created=draw(st.none() | near(now, days=40)),
        date_updated=draw(st.none() | near(now, days=10)),
        stats=stats,
        summary=summary,
    )


@st.composite
def worlds(draw: st.DrawFn) -> tuple[Ruleset, list[Campaign], History, datetime, bool]:
    ruleset = draw(rule_files())
    now = draw(st.sampled_from(STARTS)) + timedelta(minutes=draw(st.integers(0, 10 * 1440)))
    ids = [f"c{i}" for i in range(draw(st.integers(1, 8)))]
    fleet = [draw(campaigns(cid, now)) for cid in ids]
    rule_names = [r.name for r in ruleset.rules]
    actions = {
        cid: tuple(
            sorted(
                (
                    ActionRecord(cid, draw(st.sampled_from(rule_names)), step, at, done_at=at)
                    for step, at in draw(
                        st.lists(
                            st.tuples(st.sampled_from(list(Action)), near(now, days=1)), max_size=3
                        )
                    )
                    if at <= now
                ),
                key=lambda r: r.at,
            )
        )
        for cid in ids
    }
    since = {cid: draw(near(now, days=10)) for cid in ids if draw(st.booleans())}
    history = History(
        status_since={cid: at for cid, at in since.items() if at <= now},
        actions=actions,
        open_intents=frozenset(cid for cid in ids if draw(st.integers(0, 5)) == 0),
        holds={
            cid: Hold(cid, draw(near(now, days=1)), "ops", now - timedelta(days=1))
            for cid in ids
            if draw(st.integers(0, 5)) == 0
        },
        first_seen_in_status=frozenset(cid for cid in since if draw(st.booleans())),
    )
    return ruleset, fleet, history, now, draw(st.booleans())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(worlds())
def test_the_engine_and_the_reference_give_the_same_plan(
    world: tuple[Ruleset, list[Campaign], History, datetime, bool],
) -> None:
    ruleset, fleet, history, now, dry_run = world

    expected = reference_plan(fleet, ruleset, history, now, dry_run=dry_run)

    assert plan(fleet, ruleset, history, now, dry_run=dry_run) == expected
    if not expected.set_aside:  # next_wakeup on its own, as bench_plan measures it
        assert next_wakeup(fleet, ruleset, history, now) == expected.next_wakeup


def outcome(work: Callable[[], T]) -> T | str:
    """What `work` returns, or the name of what it raised."""
    try:
        return work()
    except Exception as exc:
        return type(exc).__name__


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(worlds())
def test_each_compiled_condition_agrees_with_its_evaluation(
    world: tuple[Ruleset, list[Campaign], History, datetime, bool],
) -> None:
    """Rule by rule, campaign by campaign: the compiled test says matched / not / unknown
    (None) where evaluate does, raises where it raises, and the compiled thresholds are
    the instants `wakeups` yields."""
    ruleset, fleet, history, now, _ = world
    tick = Tick.at(ruleset, history, now.astimezone(UTC))
    for rule in ruleset.rules:
        for campaign in fleet:
            _assert_compiled_agrees(rule.condition, campaign, tick)


def _assert_compiled_agrees(condition: AllOf, campaign: Campaign, tick: Tick) -> None:
    test, timed = compile_test(condition), compile_thresholds(condition)
    facts = tick.facts(campaign)
    found = outcome(lambda: condition.evaluate(facts))
    expected = found if isinstance(found, str) else _tri_state(found)
    assert outcome(lambda: test(campaign, tick.glance)) == expected

    wakeups = outcome(lambda: sorted(condition.wakeups(facts)))
    thresholds = outcome(lambda: sorted(timed(campaign, tick.glance)) if timed else [])
    assert thresholds == wakeups


def _tri_state(finding: Finding) -> bool | None:
    return None if finding.unknown else finding.matched
