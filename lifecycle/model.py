"""The campaign domain: statuses, lifecycle actions, the legal transitions between them.

Pure values only: no I/O, no clock. Everything here is frozen and safe to share.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class Status(StrEnum):
    """A campaign status, normalised from whatever spelling the API used."""

    CREATED = "created"
    IN_PROGRESS = "in-progress"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELED = "canceled"
    ARCHIVED = "archived"
    DELETED = "deleted"
    UNKNOWN = "unknown"

    @classmethod
    def from_api(cls, raw: object) -> Status:
        """Normalise `InProgress`, `in-progress`, `in_progress`, `INPROGRESS`…; else UNKNOWN."""
        if not isinstance(raw, str):
            return cls.UNKNOWN
        return _STATUS_BY_KEY.get(_status_key(raw), cls.UNKNOWN)

    def to_api(self) -> str:
        """The PascalCase spelling the live API most likely uses (`InProgress`)."""
        return "".join(part.capitalize() for part in self.value.split("-"))


def _status_key(raw: str) -> str:
    return re.sub(r"[\s_\-]", "", raw).lower()


_STATUS_BY_KEY: dict[str, Status] = {_status_key(s.value): s for s in Status if s != "unknown"}
_STATUS_BY_KEY["cancelled"] = Status.CANCELED


class Action(StrEnum):
    """A lifecycle action, as sent in `{"campaigns":[{"action": …}]}`."""

    PAUSE = "pause"
    RESUME = "resume"
    COMPLETE = "complete"
    ARCHIVE = "archive"


@dataclass(frozen=True)
class Transition:
    action: Action
    sources: frozenset[Status]
    target: Status


TRANSITIONS: Mapping[Action, Transition] = {
    Action.PAUSE: Transition(
        Action.PAUSE, frozenset({Status.CREATED, Status.IN_PROGRESS}), Status.PAUSED
    ),
    Action.RESUME: Transition(Action.RESUME, frozenset({Status.PAUSED}), Status.IN_PROGRESS),
    Action.COMPLETE: Transition(Action.COMPLETE, frozenset({Status.PAUSED}), Status.COMPLETED),
    Action.ARCHIVE: Transition(Action.ARCHIVE, frozenset({Status.COMPLETED}), Status.ARCHIVED),
}

# The goal each rule action stands for: "complete" means "end up completed", whatever it takes.
ACTION_GOAL: Mapping[Action, Status] = {a: t.target for a, t in TRANSITIONS.items()}


def is_legal(status: Status, action: Action) -> bool:
    return status in TRANSITIONS[action].sources


def apply(status: Status, action: Action) -> Status:
    """The status after `action`; raises ValueError for an illegal transition."""
    if not is_legal(status, action):
        raise ValueError(f"{action.value} is not legal from {status.value}")
    return TRANSITIONS[action].target


def path_to(status: Status, action: Action) -> tuple[Action, ...] | None:
    """The shortest legal sequence of API actions that reaches `action`'s goal from `status`.

    Returns `()` when the status already is the goal, and None when the goal cannot be
    reached (terminal statuses, `unknown`). Breadth-first over the transition table, so
    in-progress → complete is (pause, complete) and in-progress → archive is three steps.
    """
    goal = ACTION_GOAL[action]
    if status == goal:
        return ()
    if status == Status.UNKNOWN:
        return None
    if is_legal(status, action):
        return (action,)
    frontier: list[tuple[Status, tuple[Action, ...]]] = [(status, ())]
    seen: set[Status] = {status}
    while frontier:
        next_frontier: list[tuple[Status, tuple[Action, ...]]] = []
        for current, steps in frontier:
            for step in _PATH_ORDER:
                if not is_legal(current, step):
                    continue
                reached = TRANSITIONS[step].target
                if reached == goal:
                    return (*steps, step)
                if reached not in seen:
                    seen.add(reached)
                    next_frontier.append((reached, (*steps, step)))
        frontier = next_frontier
    return None


# Never route a path through "resume": it would start dialling on the way to somewhere else.
_PATH_ORDER = (Action.PAUSE, Action.COMPLETE, Action.ARCHIVE)


@dataclass(frozen=True)
class Campaign:
    """One campaign as observed from the API, with its status normalised."""

    id: str
    name: str
    status: Status
    raw_status: str = ""
    type: str = "trans"
    caller_id: str = ""
    custom_field: str = ""
    send_at: datetime | None = None
    end_at: datetime | None = None
    date_created: datetime | None = None
    date_updated: datetime | None = None
    stats: Mapping[str, int] = field(default_factory=dict)

    @property
    def calls_done(self) -> int:
        """Numbers that reached a final outcome (completed or failed in any way)."""
        return self.calls_completed + self.calls_failed

    @property
    def calls_completed(self) -> int:
        return self.stats.get("completed", 0)

    @property
    def calls_failed(self) -> int:
        return sum(v for k, v in self.stats.items() if k == "failed" or k.startswith("failed-"))

    @property
    def failure_rate(self) -> float | None:
        """Failed / done, or None before any number finished."""
        done = self.calls_done
        return self.calls_failed / done if done else None


class Outcome(StrEnum):
    """What happened to one step, as recorded in the audit trail."""

    INTENT = "intent"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    UNKNOWN = "unknown"
    DRY_RUN = "dry-run"
    SKIPPED = "skipped"


class Mode(StrEnum):
    ENFORCE = "enforce"
    DRY_RUN = "dry-run"


@dataclass(frozen=True)
class ActionRecord:
    """A step this daemon carried out successfully on one campaign (from the audit trail)."""

    campaign_id: str
    rule: str
    step: Action
    at: datetime  # when the intent was committed, just before the request left
    ruleset: str = ""
    # When the step was known to have taken effect; the store starts the campaign's status
    # history at this instant, so a later change by someone else is visible after it.
    done_at: datetime | None = None


@dataclass(frozen=True)
class Hold:
    """An operator's hold from `lifecycle hold`: no rule touches the campaign until `until`."""

    campaign_id: str
    until: datetime
    reason: str
    created_at: datetime


@dataclass(frozen=True)
class History:
    """What the audit trail knows, as the engine needs it. Built by the store; pure data.

    - `status_since`: campaign id → the instant the campaign entered its current status
      (first observation by this daemon, or `date_updated` when first seen already in it).
    - `actions`: campaign id → the steps this daemon carried out successfully on it within
      the store's look-back window, oldest first.
    - `open_intents`: campaign ids with a step in flight or of unknown outcome.
    - `holds`: campaign id → the operator hold in force.
    """

    status_since: Mapping[str, datetime] = field(default_factory=dict)
    actions: Mapping[str, tuple[ActionRecord, ...]] = field(default_factory=dict)
    open_intents: frozenset[str] = frozenset()
    holds: Mapping[str, Hold] = field(default_factory=dict)

    def last_action(self, campaign_id: str) -> ActionRecord | None:
        done = self.actions.get(campaign_id, ())
        return done[-1] if done else None


@dataclass(frozen=True)
class Decision:
    """The engine's verdict for one campaign: act on it with `steps`, under `rule`."""

    campaign_id: str
    campaign_name: str
    status: Status
    rule: str
    action: Action
    steps: tuple[Action, ...]
    mode: Mode
    reason: str


class SkipKind(StrEnum):
    SKIPPED = "skipped"  # a rule matched but we hold back (intent open, limit, manual change…)
    SHADOWED = "shadowed"  # a later rule also matched; first match won


@dataclass(frozen=True)
class Skip:
    """A rule matched a campaign and nothing will be sent for it this tick, and why."""

    campaign_id: str
    campaign_name: str
    rule: str
    action: Action
    reason: str
    kind: SkipKind = SkipKind.SKIPPED


@dataclass(frozen=True)
class Plan:
    """What a tick at `at` will do. `next_wakeup` is the earliest future instant at which
    time alone could change a decision (a window edge, an `end_at`, an age threshold)."""

    at: datetime
    ruleset: str
    decisions: tuple[Decision, ...] = ()
    skipped: tuple[Skip, ...] = ()
    next_wakeup: datetime | None = None
