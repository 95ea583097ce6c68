"""Builders shared by the rules and engine tests: the DESIGN §5 file, campaigns, history."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from lifecycle.model import Action, ActionRecord, Campaign, History, Hold, Status
from lifecycle.rules import Ruleset, parse_rules

IST = ZoneInfo("Asia/Kolkata")

# Exactly as written in DESIGN.md §5.
DESIGN_RULES = """\
timezone: Asia/Kolkata
calendars:
  business-hours:
    weekly:
      mon-fri: ["09:30-13:00", "14:00-19:00"]
      sat: ["10:00-14:00"]
    holidays: {country: IN, subdivision: MH, dates: ["2026-12-31"]}
rules:
  - name: pause-outside-business-hours
    when: {outside: business-hours}
    match: {status: [in-progress]}
    action: pause
  - name: resume-in-business-hours
    when: {inside: business-hours}
    match: {status: [paused], paused_by: pause-outside-business-hours}
    action: resume
  - name: complete-after-end
    match: {status: [in-progress, paused], end_at: passed}
    action: complete           # in-progress: pause, then complete
  - name: archive-completed
    match: {status: [completed], in_status_for: 7d}
    action: archive
  - name: pause-on-failures
    mode: dry-run
    match: {status: [in-progress], failure_rate: {above: 0.4, min_calls: 50}}
    action: pause
"""

PAUSE_OUTSIDE = "pause-outside-business-hours"
RESUME_INSIDE = "resume-in-business-hours"


def ist(text: str) -> datetime:
    """`"2026-11-27 19:00"` as an aware instant in Asia/Kolkata."""
    return datetime.fromisoformat(text).replace(tzinfo=IST)


def design_rules() -> Ruleset:
    return parse_rules(DESIGN_RULES, filename="rules.yaml")


def rules(body: str, *, head: str = "timezone: Asia/Kolkata\n") -> Ruleset:
    return parse_rules(head + body, filename="rules.yaml")


def campaign(status: str = "in-progress", **fields: Any) -> Campaign:
    fields.setdefault("id", "c1")
    fields.setdefault("name", f"campaign-{fields['id']}")
    return Campaign(status=Status(status), **fields)


def did(step: str, at: str, *, rule: str = PAUSE_OUTSIDE, cid: str = "c1") -> ActionRecord:
    return ActionRecord(cid, rule, Action(step), ist(at))


def history(
    *records: ActionRecord,
    since: dict[str, str] | None = None,
    first_seen: dict[str, str] | None = None,
    intents: tuple[str, ...] = (),
    holds: tuple[Hold, ...] = (),
) -> History:
    """`since`: the daemon saw each campaign enter its status then; `first_seen`: it first
    saw each one then, already in its status (a lower bound)."""
    actions: dict[str, tuple[ActionRecord, ...]] = {}
    for record in records:
        actions[record.campaign_id] = (*actions.get(record.campaign_id, ()), record)
    starts = {**(since or {}), **(first_seen or {})}
    return History(
        status_since={cid: ist(at) for cid, at in starts.items()},
        actions=actions,
        open_intents=frozenset(intents),
        holds={h.campaign_id: h for h in holds},
        first_seen_in_status=frozenset(first_seen or ()),
    )
