"""The ops-language examples in examples/: each checks clean, its casebook passes, its
cases test both sides of every edge (DST days included), and `plan --at` agrees."""

from __future__ import annotations

import dataclasses
import json
import os
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from lifecycle.casebook import Case, Casebook, load_casebook, run_case, run_casebook
from lifecycle.cli import main
from lifecycle.model import Campaign
from lifecycle.rules import check_rules

ROOT = Path(__file__).parents[1]
EXAMPLES = ROOT / "examples"
NAMES = ["night-shift", "weekend-pause", "holiday-half-day", "dst-zone"]
MINUTE = timedelta(minutes=1)

# The days the clocks change in each example's zone, 2026.
DST_DAYS: dict[str, set[date]] = {
    "night-shift": {date(2026, 3, 29), date(2026, 10, 25)},  # Europe/London
    "dst-zone": {date(2026, 3, 8), date(2026, 11, 1)},  # America/New_York
    "weekend-pause": set(),  # Asia/Kolkata has none
    "holiday-half-day": set(),
}


def casebook(name: str) -> Casebook:
    return load_casebook(EXAMPLES / f"{name}.test.yaml")


@pytest.mark.parametrize("name", NAMES)
def test_example_checks_without_errors_or_warnings(name: str) -> None:
    path = EXAMPLES / f"{name}.yaml"
    text = path.read_text()
    report = check_rules(text, filename=str(path))
    assert (report.errors, report.warnings) == ([], [])
    assert text.startswith("# "), "each example opens with a plain-words header"


@pytest.mark.parametrize("name", NAMES)
def test_example_casebook_passes(name: str) -> None:
    book = casebook(name)
    results = run_casebook(book)
    failed = [r.case.name for r in results if not r.passed]
    assert len(results) >= 12
    assert failed == []


@pytest.mark.parametrize("name", NAMES)
def test_every_edge_is_tested_from_both_sides(name: str) -> None:
    """A case exactly at an instant where the calendar flips has a twin a minute before."""
    book = casebook(name)
    (calendar,) = book.ruleset.calendars.values()
    instants = {case.at for case in book.cases}
    edges = {at for at in instants if calendar.is_open(at) != calendar.is_open(at - MINUTE)}
    assert {calendar.is_open(at) for at in edges} == {True, False}  # openings and closings
    alone = sorted(
        at.astimezone(calendar.tz).isoformat() for at in edges if at - MINUTE not in instants
    )
    assert alone == []


@pytest.mark.parametrize("name", NAMES)
def test_dst_days_of_the_zone_are_tested(name: str) -> None:
    book = casebook(name)
    tz = book.ruleset.timezone
    days = {case.at.astimezone(tz).date() for case in book.cases}
    assert DST_DAYS[name] <= days
    has_dst = any(
        tz.utcoffset(datetime(2026, month, 1)) != tz.utcoffset(datetime(2026, 7, 1))
        for month in (1, 12)
    )
    assert has_dst == bool(DST_DAYS[name])


def api_json(campaign: Campaign) -> dict[str, Any]:
    """The campaign as the Campaigns API lists it (the simulator's shape)."""

    def stamp(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    return {
        "id": campaign.id,
        "name": campaign.name,
        "status": campaign.raw_status or campaign.status.value,
        "type": campaign.type,
        "caller_id": campaign.caller_id,
        "custom_field": campaign.custom_field,
        "schedule": {"send_at": stamp(campaign.send_at), "end_at": stamp(campaign.end_at)},
        "date_created": stamp(campaign.date_created),
        "date_updated": stamp(campaign.date_updated),
        "stats": dict(campaign.stats),
    }


def snapshot(campaigns: list[Campaign], path: Path) -> Path:
    items = [{"code": 200, "status": "success", "data": api_json(c)} for c in campaigns]
    path.write_text(json.dumps({"request_id": "snap", "http_code": 200, "response": items}))
    return path


def plan_json(rules: Path, at: datetime, campaigns: Path, tmp_path: Path) -> dict[str, Any]:
    """`lifecycle plan --json`, in this process: test_cli runs the command as a process."""
    env: dict[str, str | None] = {
        k: None for k in os.environ if k.startswith(("LIFECYCLE_", "EXOTEL_"))
    }
    # No database file: `plan` then reads an empty history, as the cases below assume.
    env["LIFECYCLE_DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path / 'absent.db'}"
    args = ["plan", "--rules", str(rules), "--at", at.isoformat(), "--campaigns", str(campaigns)]
    done = CliRunner(env=env).invoke(main, [*args, "--json"])
    assert done.exit_code == 0, done.output
    assert not (tmp_path / "absent.db").exists()
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def without_history(book: Casebook) -> list[Case]:
    """Cases whose history is empty, each campaign renamed so that they can share a list."""
    bare = [c for c in book.cases if c.history.actions == {} and not c.history.status_since]
    bare = [c for c in bare if not c.history.holds and not c.history.open_intents]
    return [
        dataclasses.replace(c, campaign=dataclasses.replace(c.campaign, id=f"case-{i}"))
        for i, c in enumerate(bare)
    ]


def instants(cases: list[Case]) -> list[datetime]:
    """Two instants: the first case that expects an action, and the first that expects none."""
    acting = next(c.at for c in cases if c.expect.action is not None)
    quiet = next(c.at for c in cases if c.expect.none)
    return [acting, quiet]


@pytest.mark.parametrize("name", NAMES)
def test_plan_at_agrees_with_the_casebook(name: str, tmp_path: Path) -> None:
    book = casebook(name)
    cases = without_history(book)
    campaigns = snapshot([c.campaign for c in cases], tmp_path / "campaigns.json")
    for at in instants(cases):
        got = plan_json(EXAMPLES / f"{name}.yaml", at, campaigns, tmp_path)
        actions = {a["campaign_id"]: (a["action"], a["rule"], a["steps"]) for a in got["actions"]}
        expected = {}
        for case in cases:
            decision = run_case(dataclasses.replace(case, at=at), book.ruleset).decision
            if decision is not None:
                expected[case.campaign.id] = (decision.action, decision.rule, list(decision.steps))
        assert actions == expected, at
        for case in (c for c in cases if c.at == at):  # the casebook's own answer, too
            assert actions.get(case.campaign.id, (None,))[0] == case.expect.action, case.name
