"""Metrics conventions (README, Operate): process metrics, build info, no `_created` series,
statuses that go to 0 rather than vanish, and the last-reload gauge."""

from __future__ import annotations

import shutil
from pathlib import Path

from lifecycle.daemon import RulesInForce
from lifecycle.metrics import Metrics, MetricsHub, build_version
from lifecycle.model import Campaign, Status

RULES_FILE = Path(__file__).parents[1] / "rules.yaml"


def exposition(metrics: Metrics) -> list[str]:
    return [line for line in metrics.exposition().decode().splitlines() if line[:1] != "#"]


def test_process_metrics_and_build_info_are_exposed() -> None:
    lines = exposition(Metrics())
    assert any(line.startswith("process_cpu_seconds_total ") for line in lines)
    assert any(line.startswith("process_resident_memory_bytes ") for line in lines)
    assert f'lifecycle_build_info{{version="{build_version()}"}} 1.0' in lines
    assert build_version() not in ("", "unknown")  # installed (editable or not)


def test_no_created_series() -> None:
    metrics = Metrics()
    metrics.ticks.labels(result="ok").inc()
    metrics.tick_seconds.observe(0.2)
    metrics.api_seconds.labels(endpoint="list").observe(0.1)
    assert [line for line in exposition(metrics) if "_created" in line] == []


def test_a_status_emptied_reads_zero_and_every_status_has_a_series() -> None:
    metrics = Metrics()
    metrics.observe_campaigns([Campaign(id="a", name="a", status=Status.IN_PROGRESS)])
    metrics.observe_campaigns([Campaign(id="a", name="a", status=Status.PAUSED)])
    lines = exposition(metrics)
    assert 'lifecycle_campaigns{status="in-progress"} 0.0' in lines
    assert 'lifecycle_campaigns{status="paused"} 1.0' in lines
    shown = {line.split('"')[1] for line in lines if line.startswith("lifecycle_campaigns{")}
    assert shown == {status.value for status in Status}


def test_the_last_reload_gauge_follows_rejected_and_applied_edits(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    shutil.copy(RULES_FILE, path)
    metrics = Metrics()
    rules = RulesInForce(path, metrics)
    gauge = "lifecycle_rules_last_reload_success"
    assert f"{gauge} 1.0" in exposition(metrics)

    path.write_text(RULES_FILE.read_text().replace("action: archive", "action: archiv"))
    assert rules.refresh() is False
    assert f"{gauge} 0.0" in exposition(metrics)
    state = rules.state()
    assert state.rejected is not None and state.hash == rules.current.hash
    assert state.on_disk == state.rejected.hash and not state.disk_differs
    (problem,) = state.rejected.problems
    assert problem.startswith(f"{path}:") and "unknown action 'archiv'" in problem

    path.write_text(RULES_FILE.read_text() + "# reviewed\n")
    assert rules.refresh() is True
    assert f"{gauge} 1.0" in exposition(metrics)
    assert rules.state().rejected is None


def test_an_edit_not_read_yet_is_told_apart_from_one_rejected(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    shutil.copy(RULES_FILE, path)
    rules = RulesInForce(path, Metrics())
    assert not rules.state().disk_differs
    path.write_text(RULES_FILE.read_text() + "# not yet read\n")
    assert rules.state().disk_differs and rules.state().rejected is None
    path.unlink()
    assert rules.state().on_disk is None and rules.state().disk_differs


def test_a_hub_describes_the_process_once_and_labels_each_accounts_series() -> None:
    hub = MetricsHub()
    for sid in ("north", "south"):
        hub.for_account(sid).ticks.labels(result="ok").inc()
    lines = [line for line in hub.exposition().decode().splitlines() if line[:1] != "#"]
    assert [line for line in lines if line.startswith("lifecycle_build_info")] == [
        f'lifecycle_build_info{{version="{build_version()}"}} 1.0'
    ]
    cpu = [line for line in lines if line.startswith("process_cpu_seconds_total")]
    assert len(cpu) == 1 and "account=" not in cpu[0]
    for sid in ("north", "south"):
        assert f'lifecycle_ticks_total{{account="{sid}",result="ok"}} 1.0' in lines
    assert [line for line in lines if "_created" in line] == []
