"""What the daemon tells people: notices, their severity, and the message that carries them.

Plain frozen values, no I/O: the cycle, the lease and the daemon make them, the notifier
(`lifecycle.notify`) sends them, the rules' `notify:` section filters them by severity.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    """Ordered: a channel with `min_severity: warning` gets warnings and errors."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"

    @property
    def rank(self) -> int:
        return list(Severity).index(self)

    def at_least(self, floor: Severity) -> bool:
        return self.rank >= floor.rank


class Kind(StrEnum):
    """Every kind of notice there is (README, Operate: notifications)."""

    STEP_SENT = "step-sent"
    STEP_FAILED = "step-failed"
    STEP_UNKNOWN = "step-unknown"
    DRY_RUN = "dry-run"
    RULES_REJECTED = "rules-rejected"
    LEASE_LOST = "lease-lost"
    LEASE_TAKEN_OVER = "lease-taken-over"
    API_OUTAGE = "api-outage"
    API_RECOVERED = "api-recovered"
    DATABASE_OUTAGE = "database-outage"
    DATABASE_RECOVERED = "database-recovered"
    TICKS_FAILING = "ticks-failing"


@dataclass(frozen=True)
class Notice:
    """One thing that happened. `text` is the whole story for a person; the campaign
    fields (for steps) let a webhook receiver sort and count without parsing it."""

    kind: Kind
    severity: Severity
    at: datetime
    text: str
    campaign_id: str | None = None
    campaign_name: str | None = None
    rule: str | None = None
    step: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "at": self.at.isoformat()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Notice:
        return cls(
            **{
                **data,
                "kind": Kind(data["kind"]),
                "severity": Severity(data["severity"]),
                "at": datetime.fromisoformat(data["at"]),
            }
        )


@dataclass(frozen=True)
class Message:
    """What one channel is sent at once: a tick's digest, or one event of its own.

    `key` names it for good: the notifier records (channel, key) before sending, so the
    same message is never sent twice to a channel, across restarts too."""

    key: str
    title: str
    notices: tuple[Notice, ...]
    # The Exotel account it is about, when the daemon serves several (else None).
    account: str | None = None

    @property
    def severity(self) -> Severity:
        return max((n.severity for n in self.notices), key=lambda s: s.rank)

    def only(self, floor: Severity) -> Message | None:
        """The message with the notices at `floor` or above; None when none is left."""
        kept = tuple(n for n in self.notices if n.severity.at_least(floor))
        return replace(self, notices=kept) if kept else None

    def for_account(self, sid: str) -> Message:
        """The message as told by the daemon side of account `sid`: its title says so."""
        if self.account == sid:
            return self
        return replace(self, title=f"[{sid}] {self.title}", account=sid)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "key": self.key,
            "title": self.title,
            "notices": [n.to_json() for n in self.notices],
        }
        if self.account is not None:
            data["account"] = self.account
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Message:
        notices = tuple(Notice.from_json(n) for n in data["notices"])
        account = data.get("account")
        return cls(
            str(data["key"]), str(data["title"]), notices, None if account is None else str(account)
        )
