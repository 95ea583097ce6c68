"""TickWatch: what a run of tick reports means, beyond each tick's own steps.

An outage is told once when it begins and once when it ends, not once per tick; ticks
failing without a break for `failing_for` are told once per streak. Pure bookkeeping on
the reports (no I/O, no clock): tested from tables of reports.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from lifecycle.cycle import TickReport
from lifecycle.instant import format_duration, format_instant
from lifecycle.notice import Kind, Message, Notice, Severity
from lifecycle.notify.compose import event_message

# How a tick's recorded error names an API outage (cycle._describe: "Type: message").
_API_ERRORS = ("ApiUnavailable:", "RateLimited:")


@dataclass
class TickWatch:
    api_since: datetime | None = None
    database_since: datetime | None = None
    failing_since: datetime | None = None
    failing_told: bool = False

    def recall(self, streak: list[tuple[datetime, str]]) -> None:
        """Start from the failed ticks a previous process recorded (`Store.failing_streak`):
        an outage it told is not told again (its messages carry the same keys), and its
        recovery is told once. API failures are known by their recorded error's type."""
        if not streak:
            return
        self.failing_since = streak[0][0]
        run: list[datetime] = []  # the API failures at the end of the streak
        for at, error in streak:
            run = [*run, at] if error.startswith(_API_ERRORS) else []
        self.api_since = run[0] if run else None

    def observe(self, report: TickReport, *, failing_for: timedelta, zone: tzinfo) -> list[Message]:
        """The messages this report brings, given the reports before it."""
        if report.standby:  # a standby does not tick: nothing is known about the API
            return []
        at = report.at.astimezone(zone)
        found = self._database(report, at, zone)
        if not report.database_unreachable:
            found += self._api(report, at, zone)
        found += self._failing(report, at, failing_for, zone)
        return found

    def _database(self, report: TickReport, at: datetime, zone: tzinfo) -> list[Message]:
        since = self.database_since
        if report.database_unreachable and since is None:
            self.database_since = at
            text = f"database unreachable: {report.error}; not acting until it answers"
            return [_one(Kind.DATABASE_OUTAGE, Severity.ERROR, at, text, zone)]
        if not report.database_unreachable and since is not None:
            self.database_since = None
            text = f"database reachable again, after {_lasted(since, at)} unreachable"
            return [_one(Kind.DATABASE_RECOVERED, Severity.INFO, at, text, zone, since=since)]
        return []

    def _api(self, report: TickReport, at: datetime, zone: tzinfo) -> list[Message]:
        since = self.api_since
        if report.api_unreachable and since is None:
            self.api_since = at
            text = f"Exotel API unreachable: {report.error}"
            return [_one(Kind.API_OUTAGE, Severity.ERROR, at, text, zone)]
        if report.ok and since is not None:
            self.api_since = None
            text = f"Exotel API answering again, after {_lasted(since, at)}"
            return [_one(Kind.API_RECOVERED, Severity.INFO, at, text, zone, since=since)]
        return []

    def _failing(
        self, report: TickReport, at: datetime, failing_for: timedelta, zone: tzinfo
    ) -> list[Message]:
        if report.ok:
            self.failing_since, self.failing_told = None, False
            return []
        since = self.failing_since = self.failing_since or at
        if self.failing_told or at - since < failing_for:
            return []
        self.failing_told = True
        text = f"ticks failing for {_lasted(since, at)}: {report.error}"
        return [_one(Kind.TICKS_FAILING, Severity.ERROR, at, text, zone, since=since)]


def _one(
    kind: Kind,
    severity: Severity,
    at: datetime,
    text: str,
    zone: tzinfo,
    *,
    since: datetime | None = None,
) -> Message:
    """Keyed by the kind and the instant its episode began: told once per episode."""
    begun = format_instant(since or at, zone)
    return event_message(Notice(kind, severity, at, text), f"{kind.value}:{begun}")


def _lasted(since: datetime, at: datetime) -> str:
    return format_duration(max(at - since, timedelta(0)))
