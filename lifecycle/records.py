"""What the store hands back: frozen rows, and the errors the store raises itself.

Plain dataclasses outside the `store` package, so that formatting them (`output`, the
CLI) loads no SQLAlchemy.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from lifecycle.errors import LifecycleError
from lifecycle.model import Action, Mode, Outcome, Status


class IntentConflict(LifecycleError):
    """The campaign already has an open (or unknown-outcome) intent: send nothing now."""


class CampaignHeld(LifecycleError):
    """The intent was not written: an operator's hold on the campaign is in force (placed
    since the plan). Nothing was sent."""


class IntentNotOpen(LifecycleError):
    """No open or unknown intent has that id: it was closed already, or never existed."""


class LeaseLost(LifecycleError):
    """The intent was not written: this process does not hold the lease (or not for long
    enough to send a request and see it end). Nothing was sent."""


class IntentState(StrEnum):
    """Where an intent stands; the intents table stores these strings."""

    OPEN = "open"  # sent or about to be, no answer recorded
    UNKNOWN = "unknown"  # the answer was lost: the step may or may not have taken effect
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    @property
    def is_resolved(self) -> bool:
        """Whether the step's effect is settled; an unresolved intent blocks its campaign."""
        return self in (IntentState.SUCCEEDED, IntentState.FAILED)


@dataclass(frozen=True)
class Tick:
    """A started tick: what every row written during it is stamped with."""

    id: int
    at: datetime
    ruleset: str  # the hash of the rules the tick runs on
    dry_run: bool


@dataclass(frozen=True)
class OpenIntent:
    """A step that was (or may have been) sent and whose result is not settled yet."""

    id: int
    campaign_id: str
    rule: str
    action: Action
    step: Action
    expected: Status  # the status the campaign has if the step took effect
    created_at: datetime
    state: IntentState  # OPEN or UNKNOWN
    owner: str | None = None  # the lease holder that opened it (None: before revision 0002)
    opened_db_at: datetime | None = None  # the database clock then (None: no grace known)


@dataclass(frozen=True)
class LeaseRow:
    """A lease as the database holds it, read with the database's clock (`db_now`)."""

    name: str
    owner: str
    incarnation: str | None
    renewed_at: datetime
    expires_at: datetime
    db_now: datetime

    def held_by(self, owner: str, incarnation: str) -> bool:
        """Whether this owner and incarnation hold it now, by the database's clock."""
        mine = self.owner == owner and self.incarnation == incarnation
        return mine and self.expires_at > self.db_now


@dataclass(frozen=True)
class LeaseFence:
    """What opening an intent proves in the same statement: lease `name` is held by `owner`
    (process `incarnation`) until at least `bound` past the database's clock, so a request
    sent now has ended, on our side, before anyone else may act."""

    name: str
    owner: str
    incarnation: str
    bound: timedelta


@dataclass(frozen=True)
class AuditRow:
    id: int
    at: datetime
    tick_id: int | None
    campaign_id: str
    campaign_name: str
    rule: str
    action: Action
    step: Action | None
    outcome: Outcome
    http_status: int | None
    request_id: str | None
    error: str | None
    reason: str
    ruleset: str
    mode: Mode | None
    intent_id: int | None = None
    owner: str | None = None  # the lease holder that opened the intent (None: none, or older)

    def to_json(self) -> dict[str, Any]:
        """The `lifecycle audit --json` object for this row."""
        return {
            "at": self.at.isoformat(),
            "campaign_id": self.campaign_id,
            "rule": self.rule,
            "action": self.action.value,
            "step": self.step.value if self.step else None,
            "outcome": self.outcome.value,
            "http_status": self.http_status,
            "request_id": self.request_id,
            "error": self.error,
            "ruleset": self.ruleset,
            "reason": self.reason,
            "mode": self.mode.value if self.mode else None,
            "intent_id": self.intent_id,
            "owner": self.owner,
        }


@dataclass(frozen=True)
class DecisionRow:
    """One line of a tick's plan about one campaign: an action, a skip, or a shadowed rule."""

    id: int
    tick_id: int
    at: datetime
    campaign_id: str
    campaign_name: str
    status: Status | None
    rule: str
    action: Action
    steps: tuple[Action, ...]
    mode: Mode | None
    kind: str  # "action", "skipped" or "shadowed"
    reason: str
    ruleset: str


@dataclass(frozen=True)
class StatusRow:
    """A stretch of time a campaign was observed in one status."""

    id: int
    campaign_id: str
    status: Status
    since: datetime
    first_seen_at: datetime
    last_seen_at: datetime
    estimated: bool  # already in this status when first seen: `since` is that first sight


@dataclass(frozen=True)
class TickRow:
    id: int
    started_at: datetime
    finished_at: datetime | None
    ruleset: str
    dry_run: bool
    campaigns: int | None
    actions: int | None
    error: str | None


@dataclass(frozen=True)
class PendingNotification:
    """A message claimed for a channel and not yet sent (`payload`: the message as JSON)."""

    id: int
    channel: str
    payload: str
