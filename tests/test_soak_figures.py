"""The soak's figures (bench/soak/figures.py) from hand-made records: plain tables, no I/O.

Each case is a small story of one campaign: what the proxy saw, what the simulator logged,
what the daemons wrote. The figures must name each offending step the same way a person
reading the logs would.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bench.soak.daemons import Chaos, ChaosPlan, Daemon
from bench.soak.figures import AuditLink, Inputs, Intent, compute
from bench.soak.leases import LeaseSight, Roster
from bench.soak.proxy import ProxyEvent
from lifecycle.model import Action, Status
from lifecycle.simulator import TransitionRecord

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
CID = "c" * 32
PATH = f"/v2/accounts/acme1/campaigns/{CID}"
LIST = "/v2/accounts/acme1/campaigns"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def read(seq: int, daemon: str, seconds: float) -> ProxyEvent:
    return ProxyEvent(
        seq, daemon, "GET", LIST, None, at(seconds), forwarded_at=at(seconds), answered=200
    )


def put(seq: int, daemon: str, action: str, seconds: float, lease: object = None) -> ProxyEvent:
    return ProxyEvent(seq, daemon, "PUT", PATH, action, at(seconds), lease=lease, answered=200)


def change(
    seconds: float,
    action: Action | None,
    before: Status,
    since: float,
    *,
    applied: bool = True,
    tag: int | None = None,
) -> TransitionRecord:
    after = {Action.PAUSE: Status.PAUSED, Action.RESUME: Status.IN_PROGRESS}.get(action, before)
    return TransitionRecord(
        at=at(seconds),
        campaign_id=CID,
        source="api" if tag is not None else "operator",
        action=action,
        status_before=before,
        since=at(since),
        status_after=after if applied else before,
        applied=applied,
        tag=str(tag) if tag is not None else None,
    )


def by_hand(seconds: float, before: Status, after: Status, since: float) -> TransitionRecord:
    record = change(seconds, None, before, since)
    return TransitionRecord(**{**record.__dict__, "status_after": after})


def intent(id_: int, step: str, state: str, opened: float, closed: float) -> Intent:
    return Intent(id_, CID, step, state, at(opened), at(closed))


def figures(
    events: list[ProxyEvent],
    transitions: list[TransitionRecord],
    intents: Sequence[Intent] = (),
    links: Sequence[AuditLink] = (),
) -> dict[str, Any]:
    roster = Roster()
    roster.add("a", "1001")
    roster.add("b", "2002")
    return compute(Inputs(events, transitions, list(intents), list(links), roster, {"a": 2048}))


HELD_BY_A = LeaseSight("vm:1001:abcd", at(60), at(0))


# (case, events, transitions) → the refusal's kind
REFUSALS = [
    (
        "the same step applied before by a daemon: duplicate",
        [read(1, "a", 0), put(2, "a", "pause", 1), put(3, "b", "pause", 5)],
        [
            change(1, Action.PAUSE, Status.IN_PROGRESS, -100, tag=2),
            change(5, Action.PAUSE, Status.PAUSED, 1, applied=False, tag=3),
        ],
        "duplicate",
    ),
    (
        "a status another daemon step set: illegal",
        [read(1, "a", 0), put(2, "a", "pause", 1), put(3, "b", "complete", 9)],
        [
            change(1, Action.PAUSE, Status.IN_PROGRESS, -100, tag=2),
            change(9, Action.RESUME, Status.PAUSED, 1, applied=False, tag=3),
        ],
        "illegal",
    ),
    (
        "a person paused it after the sender's last read: raced",
        [read(1, "a", 0), put(2, "a", "pause", 3)],
        [
            by_hand(2, Status.IN_PROGRESS, Status.PAUSED, -100),
            change(3, Action.PAUSE, Status.PAUSED, 2, applied=False, tag=2),
        ],
        "raced",
    ),
    (
        "a person paused it before the sender's last read: illegal",
        [read(1, "a", 2.5), put(2, "a", "pause", 3)],
        [
            by_hand(2, Status.IN_PROGRESS, Status.PAUSED, -100),
            change(3, Action.PAUSE, Status.PAUSED, 2, applied=False, tag=2),
        ],
        "illegal",
    ),
    (
        "the platform paused it long before the sender's read: illegal",
        [read(1, "a", 0), put(2, "a", "pause", 3)],
        [change(3, Action.PAUSE, Status.PAUSED, -50, applied=False, tag=2)],
        "illegal",
    ),
]


@pytest.mark.parametrize(
    ("events", "transitions", "kind"),
    [case[1:] for case in REFUSALS],
    ids=[case[0] for case in REFUSALS],
)
def test_refusals(events: list[ProxyEvent], transitions: list[TransitionRecord], kind: str) -> None:
    found = figures(events, transitions)
    counts = {k: found[k] for k in ("duplicates", "illegal", "raced")}
    expected = {"duplicate": "duplicates"}.get(kind, kind)
    assert counts == {k: int(k == expected) for k in counts}


def test_audit_against_the_server() -> None:
    events = [put(1, "a", "pause", 1), put(2, "a", "resume", 20), put(3, "a", "pause", 40)]
    transitions = [
        change(1, Action.PAUSE, Status.IN_PROGRESS, -100, tag=1),  # applied, recorded failed
        # event 2 never reached the server, yet its intent says succeeded
        change(40, Action.PAUSE, Status.IN_PROGRESS, 30, tag=3),  # applied, no intent
    ]
    intents = [intent(1, "pause", "failed", 0.5, 10), intent(2, "resume", "succeeded", 19, 25)]
    found = figures(events, transitions, intents)
    details = found["details"]
    assert (found["audit_disagrees"], found["unaudited"]) == (2, 0)  # event 3 ties to intent 1
    assert [d["intent"] for d in details["disagrees"]] == [1, 2]


def test_a_change_with_no_intent_for_its_step_is_unaudited() -> None:
    transitions = [change(1, Action.PAUSE, Status.IN_PROGRESS, -100, tag=1)]
    found = figures([put(1, "a", "pause", 1)], transitions, [intent(1, "resume", "failed", 0, 2)])
    assert (found["unaudited"], found["audit_disagrees"]) == (1, 0)


def test_a_request_id_ties_a_change_to_its_intent_before_time_does() -> None:
    late = put(1, "a", "pause", 30)
    late.upstream_request_id = "r-1"
    transitions = [change(30, Action.PAUSE, Status.IN_PROGRESS, -100, tag=1)]
    intents = [intent(1, "pause", "succeeded", 0, 31), intent(2, "pause", "failed", 20, 31)]
    found = figures([late], transitions, intents, [AuditLink(1, "r-1")])
    assert found["audit_disagrees"] == 0


def test_a_change_by_hand_while_the_intent_was_open_masks_the_disagreement() -> None:
    transitions = [
        change(1, Action.PAUSE, Status.IN_PROGRESS, -100, tag=1),
        by_hand(5, Status.PAUSED, Status.IN_PROGRESS, 1),
    ]
    found = figures([put(1, "a", "pause", 1)], transitions, [intent(1, "pause", "failed", 0, 9)])
    assert (found["audit_disagrees"], found["audit_disagrees_masked"]) == (0, 1)


def test_a_change_by_hand_before_the_re_read_that_closed_it_masks_it_too() -> None:
    # closed_at is the deciding tick's start; its re-read of the campaign came later
    transitions = [
        change(1, Action.PAUSE, Status.IN_PROGRESS, -100, tag=1),
        by_hand(12, Status.PAUSED, Status.IN_PROGRESS, 1),
    ]
    reread = ProxyEvent(2, "a", "GET", PATH, None, at(15), forwarded_at=at(15), answered=200)
    events = [put(1, "a", "pause", 1), reread]
    found = figures(events, transitions, [intent(1, "pause", "failed", 0, 10)])
    assert (found["audit_disagrees"], found["audit_disagrees_masked"]) == (0, 1)


def test_open_intents_are_listed() -> None:
    found = figures([], [], [intent(1, "pause", "unknown", 0, 0)])
    assert found["open_intents"] == 1


@pytest.mark.parametrize(
    ("daemon", "sight", "without", "unreadable"),
    [
        ("a", HELD_BY_A, 0, 0),
        ("b", HELD_BY_A, 1, 0),  # the other daemon held it
        ("a", LeaseSight("vm:1001:abcd", at(0), at(0)), 1, 0),  # expired by the DB's clock
        ("a", LeaseSight("vm:a", at(60), at(0)), 0, 0),  # a stable owner id: host:instance
        ("a", LeaseSight(None, None, at(0)), 1, 0),  # nobody
        ("a", None, 0, 1),  # the probe could not read the row
    ],
)
def test_lease_holder_at_each_put(
    daemon: str, sight: LeaseSight | None, without: int, unreadable: int
) -> None:
    found = figures([put(1, daemon, "pause", 0, lease=sight)], [])
    assert (found["puts_without_lease"], found["lease_unreadable"]) == (without, unreadable)


async def test_chaos_aims_at_the_lease_holder() -> None:
    daemons = [Daemon(name, [], {}, Path("/dev/null"), []) for name in ("a", "b")]
    seen = []

    async def leader() -> str | None:
        seen.append("asked")
        return "b"

    chaos = Chaos(daemons, ChaosPlan(leader_share=1.0), random.Random(1), leader)
    victims = {(await chaos._victim()).name for _ in range(20)}
    assert victims == {"b"} and len(seen) == 20
