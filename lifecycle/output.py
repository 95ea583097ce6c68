"""How plans and audit rows look on a terminal and in JSON (DESIGN.md §4). Pure formatting.

Every instant a person reads is in the rules' zone with its offset (`instant.format_instant`),
on screens and in JSON alike: one `why` screen never mixes zones.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from lifecycle.engine import Timeline, TimelineEntry
from lifecycle.instant import format_instant
from lifecycle.model import Hold, Plan
from lifecycle.records import AuditRow


def local_iso(value: datetime | None, tz: ZoneInfo) -> str | None:
    return format_instant(value, tz) if value else None


def plan_to_json(plan: Plan, tz: ZoneInfo) -> dict[str, Any]:
    """The `plan --json` object: times in the rules' zone, statuses normalised."""
    return {
        "at": local_iso(plan.at, tz),
        "ruleset": plan.ruleset,
        "actions": [
            {
                "campaign_id": d.campaign_id,
                "campaign_name": d.campaign_name,
                "status": d.status.value,
                "rule": d.rule,
                "action": d.action.value,
                "steps": [s.value for s in d.steps],
                "mode": d.mode.value,
                "reason": d.reason,
            }
            for d in plan.decisions
        ],
        "skipped": [
            {
                "campaign_id": s.campaign_id,
                "campaign_name": s.campaign_name,
                "rule": s.rule,
                "action": s.action.value,
                "kind": s.kind.value,
                "reason": s.reason,
            }
            for s in plan.skipped
        ],
        "set_aside": [
            {"campaign_id": a.campaign_id, "campaign_name": a.campaign_name, "reason": a.reason}
            for a in plan.set_aside
        ],
        "next_wakeup": local_iso(plan.next_wakeup, tz),
    }


def plan_to_text(plan: Plan, tz: ZoneInfo) -> str:
    lines = [f"plan at {local_iso(plan.at, tz)} (ruleset {plan.ruleset})"]
    if not plan.decisions:
        lines.append("  no actions")
    for d in plan.decisions:
        steps = " → ".join(s.value for s in d.steps)
        dry = "  [dry-run]" if d.mode.value == "dry-run" else ""
        lines.append(
            f"  {d.action.value:<8} {d.campaign_id} {d.campaign_name!r} ({d.status.value}) "
            f"by {d.rule}: {steps}{dry}\n             {d.reason}"
        )
    for s in plan.skipped:
        lines.append(
            f"  {s.kind.value:<8} {s.campaign_id} {s.campaign_name!r} by {s.rule}: {s.reason}"
        )
    for a in plan.set_aside:
        lines.append(f"  set aside {a.campaign_id} {a.campaign_name!r}: {a.reason}")
    lines.append(f"next wake-up: {local_iso(plan.next_wakeup, tz) or 'none'}")
    return "\n".join(lines)


def timeline_to_json(timeline: Timeline, tz: ZoneInfo) -> dict[str, Any]:
    """The `plan --from --to --json` object: every entry, times in the rules' zone."""
    return {
        "from": local_iso(timeline.start, tz),
        "to": local_iso(timeline.end, tz),
        "ruleset": timeline.ruleset,
        "entries": [_entry_to_json(e, tz) for e in timeline.entries],
        "truncated": timeline.truncated,
    }


def _entry_to_json(entry: TimelineEntry, tz: ZoneInfo) -> dict[str, Any]:
    return {
        "at": local_iso(entry.at, tz),
        "kind": entry.kind,
        "campaign_id": entry.campaign_id,
        "campaign_name": entry.campaign_name,
        "rule": entry.rule,
        "action": entry.action.value if entry.action else None,
        "steps": [s.value for s in entry.steps],
        "status_before": entry.status_before.value,
        "status_after": entry.status_after.value,
        "mode": entry.mode.value if entry.mode else None,
        "reason": entry.reason,
    }


def timeline_to_text(timeline: Timeline, tz: ZoneInfo) -> str:
    """One line per entry, in the rules' zone."""
    start, end = local_iso(timeline.start, tz), local_iso(timeline.end, tz)
    lines = [f"timeline {start} → {end} (ruleset {timeline.ruleset})"]
    lines += [_entry_line(e, tz) for e in timeline.entries] or ["  nothing happens"]
    if timeline.truncated:
        lines.append(f"truncated: too many evaluations to reach {end}; shorten the period")
    return "\n".join(lines)


def _entry_line(entry: TimelineEntry, tz: ZoneInfo) -> str:
    at = f"{entry.at.astimezone(tz):%a} {format_instant(entry.at, tz)}"
    who = f"{entry.campaign_id} {entry.campaign_name!r}"
    moved = f"{entry.status_before.value} → {entry.status_after.value}"
    if entry.kind == "exotel":
        return f"{at}  exotel   {who}  {moved}: {entry.reason}"
    action = entry.action.value if entry.action else "-"
    if entry.kind == "skipped":
        return f"{at}  skipped  {who}  {action} by {entry.rule}: {entry.reason}"
    steps = " → ".join(s.value for s in entry.steps)
    if entry.mode is not None and entry.mode.value == "dry-run":
        return f"{at}  dry-run  {who}  {action} by {entry.rule} [{steps}]: {entry.reason}"
    return f"{at}  action   {who}  {action} by {entry.rule} [{steps}] {moved}: {entry.reason}"


def audit_to_json(row: AuditRow, tz: ZoneInfo) -> dict[str, Any]:
    """The `audit --json` object: the store's row, its instant in the rules' zone (to the
    microsecond, as stored: rows a moment apart keep their order)."""
    return {**row.to_json(), "at": row.at.astimezone(tz).isoformat()}


def hold_line(hold: Hold, tz: ZoneInfo) -> str:
    return f"{hold.campaign_id}  until {format_instant(hold.until, tz)}  {hold.reason}"


def audit_line(row: AuditRow, tz: ZoneInfo) -> str:
    parts = [
        format_instant(row.at, tz),
        row.campaign_id,
        row.rule or "-",
        str(row.step or "-"),
        str(row.outcome),
    ]
    if row.http_status:
        parts.append(f"http={row.http_status}")
    if row.request_id:
        parts.append(f"request={row.request_id}")
    if row.error:
        parts.append(f"error={row.error}")
    elif row.reason:
        parts.append(row.reason)
    return "  ".join(parts)
