"""`lifecycle plan --from --to` as a user runs it: a real process over a snapshot file saved
in the shape the simulator (and Exotel) answer a list request, with no credentials."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from lifecycle.cli import main
from lifecycle.clock import FixedClock
from lifecycle.model import Status
from lifecycle.simulator import Simulator
from lifecycle.simulator.wire import envelope, render_campaign, success_item
from tests.rulebook import ist

ROOT = Path(__file__).parents[1]
FRI, NEXT_FRI = "2026-11-27T18:00:00+05:30", "2026-12-04T18:00:00+05:30"


def list_answer(sim: Simulator) -> dict[str, Any]:
    """What `GET /v2/accounts/{sid}/campaigns?limit=500` answers, built as its route does."""
    items = [success_item(render_campaign(c, sim.config.status_style)) for c in sim.campaigns()]
    meta = {"count": len(items), "offset": 0, "total": len(items), "limit": 500}
    return envelope("snapshot-1", "GET", 200, items, meta)


@pytest.fixture
def snapshot(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    sim = Simulator(clock=FixedClock(ist("2026-11-27 18:00")))
    ids = {
        "running": sim.add_campaign(name="running", status=Status.IN_PROGRESS,
                                    numbers=100_000, throttle_cpm=1),
        "new": sim.add_campaign(name="new", send_at=ist("2026-11-30 10:00")),
        "ends": sim.add_campaign(name="ends", status=Status.IN_PROGRESS, numbers=100_000,
                                 throttle_cpm=1, end_at=ist("2026-12-01 11:00")),
        "done": sim.add_campaign(name="done", status=Status.COMPLETED, numbers=10, done=10,
                                 date_created=ist("2026-11-20 10:00"),
                                 date_updated=ist("2026-11-26 10:00")),
    }  # fmt: skip
    path = tmp_path / "campaigns.json"
    path.write_text(json.dumps(list_answer(sim)), encoding="utf-8")
    return path, ids


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """No credentials at all; a base URL nothing listens on, so any request would fail."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("EXOTEL_", "LIFECYCLE_"))}
    return {
        **clean,
        "EXOTEL_BASE_URL": "http://127.0.0.1:9",
        "LIFECYCLE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'never.db'}",
        "LIFECYCLE_RULES": str(ROOT / "rules.yaml"),
    }


def lifecycle(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lifecycle", *args],
        env=env, capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip


def entry_rows(body: dict[str, Any], ids: dict[str, str]) -> list[tuple[str, str, str, str, str]]:
    names = {cid: name for name, cid in ids.items()}
    return [
        (e["at"], e["kind"], names[e["campaign_id"]], e["rule"], e["status_after"])
        for e in body["entries"]
    ]


def test_a_week_over_a_snapshot_needs_no_credentials_and_writes_nothing(
    snapshot: tuple[Path, dict[str, str]], env: dict[str, str], tmp_path: Path
) -> None:
    path, ids = snapshot
    done = lifecycle("plan", "--from", FRI, "--to", NEXT_FRI, "--campaigns", str(path), "--json",
                     env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert set(body) == {"from", "to", "ruleset", "entries", "truncated"}
    assert (body["from"], body["to"], body["truncated"]) == (FRI, NEXT_FRI, False)
    assert body["ruleset"].startswith("sha256:")
    rows = entry_rows(body, ids)
    assert rows[0] == ("2026-11-27T19:00:00+05:30", "action", "running",
                       "pause-outside-business-hours", "paused")  # fmt: skip
    for expected in [
        ("2026-11-28T14:00:00+05:30", "action", "ends", "pause-outside-business-hours", "paused"),
        ("2026-11-30T10:00:00+05:30", "exotel", "new", "", "in-progress"),
        ("2026-12-01T11:00:00+05:30", "exotel", "ends", "", "completed"),
        # First seen at --from (no history): 7 days from there, not from date_updated.
        ("2026-12-04T18:00:00+05:30", "action", "done", "archive-completed", "archived"),
    ]:
        assert expected in rows
    assert all(e["at"].endswith("+05:30") for e in body["entries"])
    first = body["entries"][0]
    assert (first["action"], first["steps"], first["mode"]) == ("pause", ["pause"], "enforce")
    assert not (tmp_path / "never.db").exists()


def test_plan_at_over_the_snapshot_agrees_with_the_timeline(
    snapshot: tuple[Path, dict[str, str]], env: dict[str, str]
) -> None:
    path, _ = snapshot
    span = lifecycle("plan", "--from", FRI, "--to", NEXT_FRI, "--campaigns", str(path), "--json",
                     env=env)  # fmt: skip
    entries = json.loads(span.stdout)["entries"]
    first = entries[0]["at"]
    tick = lifecycle("plan", "--at", first, "--campaigns", str(path), "--json", env=env)
    assert tick.returncode == 0, tick.stderr
    actions = json.loads(tick.stdout)["actions"]
    assert actions and [(a["campaign_id"], a["rule"], a["steps"]) for a in actions] == [
        (e["campaign_id"], e["rule"], e["steps"])
        for e in entries
        if e["at"] == first and e["kind"] == "action"
    ]


def test_campaign_filter_and_text_output(
    snapshot: tuple[Path, dict[str, str]], env: dict[str, str]
) -> None:
    path, ids = snapshot
    done = lifecycle("plan", "--from", FRI, "--to", "2026-11-30T15:00:00+05:30",
                     "--campaigns", str(path), "--campaign", ids["new"], env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr
    header, *lines = done.stdout.splitlines()
    assert header.startswith(f"timeline {FRI} → 2026-11-30T15:00:00+05:30 (ruleset sha256:")
    assert lines == [
        f"Mon 2026-11-30T10:00:00+05:30  exotel   {ids['new']} 'new'  created → in-progress: "
        "send_at 2026-11-30T10:00:00+05:30 reached: Exotel starts dialling",
        f"Mon 2026-11-30T13:00:00+05:30  action   {ids['new']} 'new'  pause by "
        "pause-outside-business-hours [pause] in-progress → paused: status is in-progress; "
        "outside business-hours (closed since 13:00 Asia/Kolkata, opens 14:00)",
        f"Mon 2026-11-30T14:00:00+05:30  action   {ids['new']} 'new'  resume by "
        "resume-in-business-hours [resume] paused → in-progress: status is paused; inside "
        "business-hours until 19:00 Asia/Kolkata; paused by pause-outside-business-hours at "
        "2026-11-30T13:00:00+05:30",
    ]


def test_exotel_pausing_at_end_at_is_a_choice(
    snapshot: tuple[Path, dict[str, str]], env: dict[str, str]
) -> None:
    path, ids = snapshot
    only_ends = ["--campaign", ids["ends"], "--end-at", "paused", "--json"]
    done = lifecycle("plan", "--from", FRI, "--to", NEXT_FRI, "--campaigns", str(path),
                     *only_ends, env=env)  # fmt: skip
    rows = entry_rows(json.loads(done.stdout), ids)
    at_end = [r for r in rows if r[0] == "2026-12-01T11:00:00+05:30"]
    assert at_end == [
        ("2026-12-01T11:00:00+05:30", "exotel", "ends", "", "paused"),
        ("2026-12-01T11:00:00+05:30", "action", "ends", "complete-after-end", "completed"),
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", FRI], "--from and --to go together"),
        (["--to", NEXT_FRI], "--from and --to go together"),
        (["--at", FRI, "--from", FRI, "--to", NEXT_FRI], "give one or the other"),
        (["--from", NEXT_FRI, "--to", FRI], "--to is before --from"),
        (["--from", FRI, "--to", "+367d"], "a timeline covers at most 366 days"),
        (["--from", FRI, "--to", "+1000000000d"], "out of range"),
        (["--at", "9999-12-31T23:00:00"], "out of range"),
        (["--at", "-99999999d"], "out of range"),
    ],
)
def test_period_options_are_checked(
    snapshot: tuple[Path, dict[str, str]], env: dict[str, str], args: list[str], message: str
) -> None:
    path, _ = snapshot
    done = CliRunner().invoke(main, ["plan", *args, "--campaigns", str(path)], env=env)
    assert done.exit_code == 2
    assert message in done.output


def test_a_snapshot_that_is_not_an_answer_is_refused(tmp_path: Path, env: dict[str, str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2", encoding="utf-8")
    done = lifecycle("plan", "--at", FRI, "--campaigns", str(bad), env=env)
    assert done.returncode == 2
    assert "cannot read a campaigns snapshot" in done.stderr


def test_without_a_snapshot_plan_still_needs_credentials(env: dict[str, str]) -> None:
    done = lifecycle("plan", "--from", FRI, "--to", NEXT_FRI, env=env)
    assert done.returncode == 2
    assert "EXOTEL_ACCOUNT_SID" in done.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["audit", "--since", "+1000000000d"],
        ["audit", "--since", "9999-12-31T23:59:59"],
        ["hold", "c1", "--until", "+1000000000d", "--reason", "x"],
        ["why", "c1", "--at", "9999-12-31"],
    ],
)
def test_a_when_out_of_range_is_a_usage_error_not_a_traceback(
    env: dict[str, str], args: list[str]
) -> None:
    done = CliRunner().invoke(main, args, env=env)
    assert done.exit_code == 2, done.output
    assert "out of range: give a time from year 1000 to 8999" in done.output


def test_a_snapshot_nested_too_deeply_is_refused_not_a_traceback(
    tmp_path: Path, env: dict[str, str]
) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000, encoding="utf-8")
    done = CliRunner().invoke(main, ["plan", "--at", FRI, "--campaigns", str(deep)], env=env)
    assert done.exit_code == 2, done.output
    assert "cannot read a campaigns snapshot" in done.output
