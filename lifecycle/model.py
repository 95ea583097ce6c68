"""The campaign domain: statuses, lifecycle actions, the legal transitions between them.

Pure values only: no I/O, no clock. Everything here is frozen and safe to share.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
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
        known = _STATUS_BY_SPELLING.get(raw)
        if known is None:
            known = _STATUS_BY_KEY.get(_status_key(raw), cls.UNKNOWN)
            if len(_STATUS_BY_SPELLING) < _SPELLINGS_KEPT:
                _STATUS_BY_SPELLING[raw] = known
        return known

    def to_api(self) -> str:
        """The PascalCase spelling the live API most likely uses (`InProgress`)."""
        return "".join(part.capitalize() for part in self.value.split("-"))


def _status_key(raw: str) -> str:
    return re.sub(r"[\s_\-]", "", raw).lower()


_STATUS_BY_KEY: dict[str, Status] = {_status_key(s.value): s for s in Status if s != "unknown"}
_STATUS_BY_KEY["cancelled"] = Status.CANCELED
# The spellings met so far, exactly as written: a fleet uses a handful, so normalising
# each once is enough. Bounded, so a server inventing statuses cannot grow it for good.
_STATUS_BY_SPELLING: dict[str, Status] = {}
_SPELLINGS_KEPT = 256


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


class CountMap(Mapping[str, int]):
    """A read-only count map in two parts: the key set, as a key → position table that
    every map of the same shape shares, and this map's own values, in that order.

    Across a fleet the stats keys are a handful of shapes, so a campaign pays for a tuple
    of its numbers instead of a whole dict. It is a Mapping like any other: it compares
    equal to a dict with the same items, iterates in the order the keys were reported,
    and cannot be changed.
    """

    __slots__ = ("_index", "_values")

    def __init__(self, index: Mapping[str, int], values: tuple[int, ...]) -> None:
        if len(index) != len(values):
            raise ValueError(f"{len(index)} keys for {len(values)} values")
        self._index = index
        self._values = values

    @classmethod
    def of(cls, counts: Mapping[str, int]) -> CountMap:
        """A map holding `counts` (its own key table; the client's reader shares them)."""
        return cls({key: i for i, key in enumerate(counts)}, tuple(counts.values()))

    def __getitem__(self, key: str) -> int:
        return self._values[self._index[key]]

    def __contains__(self, key: object) -> bool:
        return key in self._index

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"CountMap({dict(self)!r})"


# One empty count map shared by every campaign and count that reported none: a fleet of
# 100,000 campaigns without a `summary` holds one of these, not 100,000 dicts.
NO_COUNTS: Mapping[str, int] = CountMap({}, ())


def _no_counts() -> Mapping[str, int]:
    return NO_COUNTS


class CountSource(StrEnum):
    """Where a campaign's call counts came from (docs/exotel-api.md: Exotel puts them in
    several places, with different keys)."""

    SUMMARY_ITEM = "summary beside data"  # the update-campaign body: response[i].summary
    SUMMARY_DATA = "summary in the campaign object"  # response[i].data.summary
    STATS = "stats"  # the campaign object's `stats` map
    NONE = "none"  # the answer carried no counts at all


@dataclass(frozen=True, slots=True)
class CallCounts:
    """How many calls ended which way, as Exotel reported them, and where it said so.

    `values` is the reported map as it was (summary keys `call_*`, or hyphenated stats
    keys). `completed` and `failed` are None when the shape does not carry them: a stats
    map without `completed` counts failures but never successes, so no honest failure
    rate can be drawn from it.
    """

    source: CountSource
    values: Mapping[str, int] = field(default_factory=_no_counts)
    completed: int | None = None
    failed: int | None = None

    @classmethod
    def from_summary(cls, summary: Mapping[str, int], source: CountSource) -> CallCounts:
        completed, failed = summary.get("call_completed"), summary.get("call_failed")
        return cls(source, summary, completed, failed)

    @classmethod
    def from_stats(cls, stats: Mapping[str, int]) -> CallCounts:
        """Failed is `failed` plus every `failed-*` key (failed-dnd, failed-no-attempt…)."""
        if not stats:
            return cls(CountSource.NONE)
        failed = sum(v for k, v in stats.items() if k == "failed" or k.startswith("failed-"))
        return cls(CountSource.STATS, stats, stats.get("completed"), failed)

    @property
    def done(self) -> int | None:
        """Calls that reached a final outcome, or None when the shape cannot say."""
        if self.completed is None or self.failed is None:
            return None
        return self.completed + self.failed

    @property
    def failure_rate(self) -> float | None:
        """failed / (completed + failed); None when unknown or before any call ended."""
        done = self.done
        return self.failed / done if done and self.failed is not None else None

    def unknown_because(self) -> str | None:
        """Why this shape gives no honest failure rate, or None when it does."""
        if self.source == CountSource.NONE:
            return "Exotel reported no call counts (no summary, no stats)"
        if self.source == CountSource.STATS and self.completed is None:
            # failed / (completed + failed) would be 1.0 after the first failure.
            return "stats has no 'completed' count, so there is no denominator"
        named = {"call_completed": self.completed, "call_failed": self.failed}
        missing = [key for key, value in named.items() if value is None]
        if missing:
            return f"the summary has no {' or '.join(repr(k) for k in missing)} count"
        return None


@dataclass(frozen=True, slots=True)
class Campaign:
    """One campaign as observed from the API, with its status normalised.

    `stats` is the campaign object's stats map as reported (for `counters:`); `summary`
    is a `summary` block's counts, from beside `data` or inside it, when the answer had
    one. `counts` is what a failure rate is judged on.

    Slotted and frozen: a fleet holds 100,000 of these. The client's reader shares what
    repeats across a fleet (status spellings, type, caller id, custom field, timestamps,
    the key set of a count map) between campaigns; every value here is immutable or
    never mutated, so sharing is safe. Nothing of the raw JSON is kept beyond these
    fields (`raw_status` is what `why` quotes).
    """

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
    stats: Mapping[str, int] = field(default_factory=_no_counts)
    summary: CallCounts | None = None

    @property
    def counts(self) -> CallCounts:
        """The counts a failure rate is judged on: a summary block that names completed
        and failed calls outright, else the stats map when it has `completed`, else
        whichever was reported (its `unknown_because` then says what is missing)."""
        stats = CallCounts.from_stats(self.stats)
        if self.summary is None:
            return stats
        if self.summary.unknown_because() is None or stats.unknown_because() is not None:
            return self.summary
        return stats

    @property
    def failure_rate(self) -> float | None:
        """Failed / done, or None when unknown or before any number finished."""
        return self.counts.failure_rate

    def counter(self, key: str) -> int | None:
        """A reported count by its exact key: stats keys (`failed-dnd`) from `stats`,
        summary keys (`call_failed`) from the summary block; None when not reported."""
        if key in self.stats:
            return self.stats[key]
        return self.summary.values.get(key) if self.summary is not None else None


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


class SinceBasis(StrEnum):
    """What a campaign's time in status is counted from."""

    OBSERVED = "observed"  # this daemon saw the status change (or made it)
    FIRST_SEEN = "first seen"  # already in it at first sight: a lower bound
    DATE_UPDATED = "date_updated"  # the API's date_updated, trusted by the rules file


@dataclass(frozen=True)
class StatusStart:
    at: datetime
    basis: SinceBasis


@dataclass(frozen=True)
class History:
    """What the audit trail knows, as the engine needs it. Built by the store; pure data.

    - `status_since`: campaign id → the instant the campaign entered its current status,
      as this daemon observed it (or made it happen).
    - `first_seen_in_status`: campaign ids whose `status_since` is only the daemon's first
      sight of them, already in that status: a lower bound, never a guess. Only a rules
      file with `trust_date_updated: true` reads `date_updated` instead.
    - `actions`: campaign id → the steps this daemon carried out successfully on it within
      the store's look-back window, oldest first.
    - `open_intents`: campaign ids with a step in flight or of unknown outcome.
    - `holds`: campaign id → the operator hold in force.
    """

    status_since: Mapping[str, datetime] = field(default_factory=dict)
    actions: Mapping[str, tuple[ActionRecord, ...]] = field(default_factory=dict)
    open_intents: frozenset[str] = frozenset()
    holds: Mapping[str, Hold] = field(default_factory=dict)
    first_seen_in_status: frozenset[str] = frozenset()

    def status_start(self, campaign: Campaign, *, trust_date_updated: bool) -> StatusStart | None:
        """When `campaign` entered its current status, and on what basis; None when unknown.

        A change this daemon observed is the answer. Otherwise `date_updated` may not move
        when the status does (docs/exotel-api.md), so it counts only when the rules file
        trusts it, and never later than the first sight; else the first sight is a lower
        bound. A campaign never observed and not trusted has an unknown start.
        """
        since = self.status_since.get(campaign.id)
        if since is not None and campaign.id not in self.first_seen_in_status:
            return StatusStart(since, SinceBasis.OBSERVED)
        updated = campaign.date_updated if trust_date_updated else None
        if updated is not None and (since is None or updated <= since):
            return StatusStart(updated, SinceBasis.DATE_UPDATED)
        return StatusStart(since, SinceBasis.FIRST_SEEN) if since is not None else None

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
class SetAside:
    """A campaign the rules could not be evaluated on (its data broke the arithmetic): it
    gets no decision this tick, and the rest of the tick goes on without it."""

    campaign_id: str
    campaign_name: str
    reason: str


@dataclass(frozen=True)
class Plan:
    """What a tick at `at` will do. `next_wakeup` is the earliest future instant at which
    time alone could change a decision (a window edge, an `end_at`, an age threshold)."""

    at: datetime
    ruleset: str
    decisions: tuple[Decision, ...] = ()
    skipped: tuple[Skip, ...] = ()
    next_wakeup: datetime | None = None
    set_aside: tuple[SetAside, ...] = ()
