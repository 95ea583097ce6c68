"""Prometheus metrics. One `Metrics` per account, on its own registry (tests build many);
a `MetricsHub` shows every account's in one exposition, each sample labelled `account`.

Conventions: no `_created` series (they double the series count and no dashboard reads
them); the process collector (`process_*`: CPU, memory, open files) and
`lifecycle_build_info{version}` describe the process, so they are on a lone `Metrics` and,
once and unlabelled, on a hub, never once per account; `lifecycle_campaigns{status}` has a
series for every status, 0 when none is seen, so a status emptied by the rules reads 0
rather than vanishing (an absent series makes alerts and graphs go blank instead of zero).
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterable, Iterator
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
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

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


def describe_process(registry: CollectorRegistry) -> None:
    """`process_*` and `lifecycle_build_info{version}` on `registry`: once per process."""
    ProcessCollector(registry=registry)
    build_info = Gauge(
        "lifecycle_build_info", "The running version (value 1)", ["version"], registry=registry
    )
    build_info.labels(version=build_version()).set(1)


class Metrics:
    """One account's metrics. `process=False` for an account of a `MetricsHub`, which
    describes the process itself (else each account would repeat it, labelled)."""

    def __init__(self, *, process: bool = True) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        if process:
            describe_process(r)
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
        self.settled_poll = Gauge(
            "lifecycle_settled_poll",
            "1 while settled campaigns are listed only once per LIFECYCLE_SETTLED_POLL; 0 when "
            "every tick lists all (the setting off, or given up: the server does not honour "
            "the status filter)",
            registry=r,
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


class MetricsHub(Collector):
    """The metrics of every account of one process: `for_account` gives each account its
    own `Metrics` (the cycle, client and lease write to it unchanged), and the exposition
    merges them, adding the label `account` to every sample."""

    def __init__(self) -> None:
        self._accounts: dict[str, Metrics] = {}
        self.registry = CollectorRegistry()
        self.registry.register(self)
        describe_process(self.registry)

    def for_account(self, sid: str) -> Metrics:
        return self._accounts.setdefault(sid, Metrics(process=False))

    def collect(self) -> Iterator[Metric]:
        merged: dict[str, Metric] = {}
        for sid, metrics in self._accounts.items():
            for family in metrics.registry.collect():
                into = merged.setdefault(
                    family.name,
                    Metric(family.name, family.documentation, family.type, family.unit),
                )
                into.samples.extend(
                    sample._replace(labels={"account": sid, **sample.labels})
                    for sample in family.samples
                )
        return iter(merged.values())

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
