"""engine.plan's guards and limits: holds, cooldown, manual changes, flapping, per-tick caps."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lifecycle.engine import plan
from lifecycle.model import Action, ActionRecord, History, Hold, Plan
from tests.rulebook import PAUSE_OUTSIDE, campaign, design_rules, did, history, ist, rules

NONE = History()


def fate(result: Plan) -> str:
    """ "rule:action" for a decision, else the skip's reason, else "nothing"."""
    if result.decisions:
        return f"{result.decisions[0].rule}:{result.decisions[0].action}"
    return result.skipped[0].reason if result.skipped else "nothing"


def hold(until: str, reason: str = "customer asked") -> Hold:
    return Hold("c1", ist(until), reason, ist("2026-11-27 09:00"))


@pytest.mark.parametrize(
    ("holds", "expected"),
    [
        ((hold("2026-11-28 09:00"),), "held until 2026-11-28T09:00:00+05:30: customer asked"),
        ((hold("2026-11-27 18:00"),), f"{PAUSE_OUTSIDE}:pause"),  # expired
        ((), f"{PAUSE_OUTSIDE}:pause"),
    ],
)
def test_holds(holds: tuple[Hold, ...], expected: str) -> None:
    result = plan([campaign()], design_rules(), history(holds=holds), ist("2026-11-27 19:00"))
    assert fate(result) == expected


COOLDOWN = """\
rules:
  - name: pause-busy
    match: {status: [in-progress], counters: {pending: {above: 100}}}
    action: pause
    cooldown: 30m
"""


@pytest.mark.parametrize(
    ("last", "expected"),
    [
        (
            did("pause", "2026-11-27 18:45", rule="pause-busy"),
            "cooldown until 2026-11-27T19:15:00+05:30 (last pause at 2026-11-27T18:45:00+05:30)",
        ),
        (did("pause", "2026-11-27 18:30", rule="pause-busy"), "pause-busy:pause"),
        (did("pause", "2026-11-27 18:59", rule="other"), "pause-busy:pause"),
    ],
)
def test_cooldown(last: ActionRecord, expected: str) -> None:
    subject = campaign(stats={"pending": 500})
    result = plan([subject], rules(COOLDOWN), history(last), ist("2026-11-27 19:00"))
    assert fate(result) == expected


def test_cooldown_default_applies_to_rules_without_one() -> None:
    ruleset = rules(
        COOLDOWN.replace("    cooldown: 30m\n", ""),
        head="timezone: UTC\ndefaults: {cooldown: 1h}\n",
    )
    assert ruleset.rules[0].cooldown == timedelta(hours=1)


# We paused at 19:00 Friday; someone resumed it at 19:10 (first seen then).
RESUMED_BY_HAND = history(did("pause", "2026-11-27 19:00"), since={"c1": "2026-11-27 19:10"})


@pytest.mark.parametrize(
    ("on_manual_change", "at", "expected"),
    [
        ("respect", "2026-11-27 19:20", "manual change respected until 2026-11-28T10:00:00+05:30"),
        ("respect", "2026-11-27 23:59", "manual change respected until 2026-11-28T10:00:00+05:30"),
        # Saturday 10:00 opens the window (no rule acts inside); 14:00 closes it again:
        # the edge has passed since the change, so the rule applies again.
        ("respect", "2026-11-28 14:00", f"{PAUSE_OUTSIDE}:pause"),
        ("enforce", "2026-11-27 19:20", f"{PAUSE_OUTSIDE}:pause"),
    ],
)
def test_manual_change_across_a_window_edge(on_manual_change: str, at: str, expected: str) -> None:
    text = DESIGN_WITH_POLICY.format(policy=on_manual_change)
    result = plan([campaign()], rules(text, head=""), RESUMED_BY_HAND, ist(at))
    assert fate(result) == expected


def test_manual_change_without_a_window_lasts_until_the_status_changes() -> None:
    ruleset = rules("rules:\n  - {name: stop-all, match: {status: [in-progress]}, action: pause}\n")
    past = history(
        did("pause", "2026-11-20 10:00", rule="stop-all"), since={"c1": "2026-11-20 11:00"}
    )
    result = plan([campaign()], ruleset, past, ist("2026-11-27 19:00"))
    assert fate(result) == (
        "manual change respected: in-progress since 2026-11-20T11:00:00+05:30 after our pause; "
        "until the status changes again"
    )


def test_a_different_goal_is_not_a_reversal() -> None:
    """We paused; someone resumed; end_at passed: completing is not undoing their resume."""
    subject = campaign(end_at=ist("2026-11-27 10:00"))
    result = plan([subject], design_rules(), RESUMED_BY_HAND, ist("2026-11-28 11:00"))
    assert fate(result) == "complete-after-end:complete"


FLAPPY = """\
flap_guard: {max_reversals: 3, within: 6h}
rules:
  - name: pause-busy
    match: {status: [in-progress], counters: {pending: {above: 100}}}
    action: pause
"""


@pytest.mark.parametrize(
    ("times", "expected"),
    [
        (("13:00", "14:00", "15:00", "16:00", "17:00"), "flapping: 4 reversals in 6h; left alone"),
        (("14:00", "15:00", "16:00", "17:00"), "pause-busy:pause"),  # 3 reversals is allowed
        (("11:00", "14:00", "15:00", "16:00", "17:00"), "pause-busy:pause"),  # 11:00 too old
    ],
)
def test_flap_guard(times: tuple[str, ...], expected: str) -> None:
    steps = [
        did("pause" if i % 2 == 0 else "resume", f"2026-11-27 {t}", rule="pause-busy")
        for i, t in enumerate(times)
    ]
    subject = campaign(stats={"pending": 500})
    result = plan([subject], rules(FLAPPY), history(*steps), ist("2026-11-27 18:00"))
    assert fate(result) == expected


LIMITED = """\
max_actions_per_tick: 3
rules:
  - name: pause-vip
    match: {status: [in-progress], name: "vip-*"}
    action: pause
    max_actions_per_tick: 2
  - name: pause-rest
    match: {status: [in-progress]}
    action: pause
"""


def test_limits_per_rule_and_global_in_campaign_order() -> None:
    names = ["vip-1", "vip-2", "vip-3", "bulk-1", "bulk-2", "bulk-3"]
    subjects = [campaign(id=n, name=n) for n in names]
    result = plan(subjects, rules(LIMITED), NONE, ist("2026-11-27 19:00"))
    assert [(d.campaign_id, d.rule) for d in result.decisions] == [
        ("vip-1", "pause-vip"),
        ("vip-2", "pause-vip"),
        ("bulk-1", "pause-rest"),
    ]
    assert [(s.campaign_id, s.reason) for s in result.skipped if s.kind == "skipped"] == [
        ("vip-3", "rule limit of 2 actions per tick reached; waits for the next tick"),
        ("bulk-2", "limit of 3 actions per tick reached; waits for the next tick"),
        ("bulk-3", "limit of 3 actions per tick reached; waits for the next tick"),
    ]


def test_dry_run_rules_do_not_spend_the_global_limit() -> None:
    text = LIMITED.replace("    max_actions_per_tick: 2\n", "    mode: dry-run\n")
    subjects = [campaign(id=n, name=n) for n in ["vip-1", "vip-2", "vip-3", "a", "b", "c"]]
    result = plan(subjects, rules(text), NONE, ist("2026-11-27 19:00"))
    assert len(result.decisions) == 6


DESIGN_WITH_POLICY = """\
timezone: Asia/Kolkata
calendars:
  business-hours:
    weekly:
      mon-fri: ["09:30-13:00", "14:00-19:00"]
      sat: ["10:00-14:00"]
rules:
  - name: pause-outside-business-hours
    when: {{outside: business-hours}}
    match: {{status: [in-progress]}}
    action: pause
    on_manual_change: {policy}
"""


def test_guards_do_not_hide_shadowed_rules() -> None:
    subject = campaign(end_at=ist("2026-11-27 10:00"))
    result = plan([subject], design_rules(), history(intents=("c1",)), ist("2026-11-27 19:00"))
    assert [(s.rule, s.kind) for s in result.skipped] == [
        (PAUSE_OUTSIDE, "skipped"),
        ("complete-after-end", "shadowed"),
    ]
    assert result.skipped[0].action == Action.PAUSE
