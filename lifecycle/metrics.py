"""Prometheus metrics. One `Metrics` per process, on its own registry (tests build many).

Conventions: no `_created` series (they double the series count and no dashboard reads
them); the process collector (`process_*`: CPU, memory, open files) and
`lifecycle_build_info{version}` are on every registry; `lifecycle_campaigns{status}` has a
series for every status, 0 when none is seen, so a status emptied by the rules reads 0
rather than vanishing (an absent series makes alerts and graphs go blank instead of zero).
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterable
from importlib.metadata import PackageNotFoundError, version

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)

from lifecycle.model import Campaign, Status

# Process-wide, like PROMETHEUS_DISABLE_CREATED_SERIES, but without relying on the
# environment of whoever starts the daemon.
disable_created_metrics()  # type: ignore[no-untyped-call]


def build_version() -> str:
    """The installed package's version ("unknown" when run from a bare source tree)."""
    try:
        return version("lifecycle")
    except PackageNotFoundError:
        return "unknown"


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        ProcessCollector(registry=r)
        self.build_info = Gauge(
            "lifecycle_build_info", "The running version (value 1)", ["version"], registry=r
        )
        self.build_info.labels(version=build_version()).set(1)
        self.ticks = Counter(
            "lifecycle_ticks", "Reconcile ticks, by result", ["result"], registry=r
        )
        self.tick_seconds = Histogram(
            "lifecycle_tick_duration_seconds",
            "Wall time of one reconcile tick",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
            registry=r,
        )
        self.last_success = Gauge(
            "lifecycle_last_successful_tick_timestamp_seconds",
            "Unix time of the last tick that completed without error",
            registry=r,
        )
        self.steps = Counter(
            "lifecycle_steps",
            "Lifecycle API steps, by action and outcome",
            ["action", "outcome"],
            registry=r,
        )
        self.skipped = Counter(
            "lifecycle_skipped_decisions", "Matched rules held back, by rule", ["rule"], registry=r
        )
        self.api_requests = Counter(
            "lifecycle_api_requests",
            "Requests to the Exotel API, by endpoint and HTTP status (0: no answer)",
            ["endpoint", "code"],
            registry=r,
        )
        self.api_seconds = Histogram(
            "lifecycle_api_request_duration_seconds",
            "Latency of Exotel API requests",
            ["endpoint"],
            registry=r,
        )
        self.campaigns = Gauge(
            "lifecycle_campaigns",
            "Campaigns seen in the last poll, by status",
            ["status"],
            registry=r,
        )
        self.incomplete_lists = Counter(
            "lifecycle_incomplete_campaign_lists",
            "Campaign lists that ended before metadata.total or on a repeated page",
            registry=r,
        )
        self.set_aside = Counter(
            "lifecycle_campaigns_set_aside",
            "Campaigns left out of a tick, by reason: unreadable (the client could not read "
            "the row) or unplannable (the rules could not be evaluated on it)",
            ["reason"],
            registry=r,
        )
        self.rules_reloads = Counter(
            "lifecycle_rules_reloads", "Rules file reloads, by result", ["result"], registry=r
        )
        self.rules_reload_ok = Gauge(
            "lifecycle_rules_last_reload_success",
            "1 when the rules file as last saved is in force; 0 while an edit is rejected "
            "(the last good rules stay in force)",
            registry=r,
        )
        self.rules_reload_ok.set(1)
        self.ruleset = Gauge(
            "lifecycle_ruleset_info", "The ruleset in force (value 1)", ["hash"], registry=r
        )
        self.leader = Gauge(
            "lifecycle_leader", "1 when this process holds the tick lease", registry=r
        )

    def observe_campaigns(self, campaigns: Iterable[Campaign]) -> None:
        """Every status gets a series: 0 when no campaign is in it."""
        counts = Tally(c.status for c in campaigns)
        for status in Status:
            self.campaigns.labels(status=status.value).set(counts[status])

    def set_ruleset(self, ruleset_hash: str) -> None:
        self.ruleset.clear()
        self.ruleset.labels(hash=ruleset_hash).set(1)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
