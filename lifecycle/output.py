"""How plans and audit rows look on a terminal and in JSON (DESIGN.md §4). Pure formatting."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from lifecycle.model import Plan
from lifecycle.store import AuditRow


def local_iso(value: datetime | None, tz: ZoneInfo) -> str | None:
    return value.astimezone(tz).isoformat() if value else None


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
    lines.append(f"next wake-up: {local_iso(plan.next_wakeup, tz) or 'none'}")
    return "\n".join(lines)


def audit_line(row: AuditRow) -> str:
    parts = [
        row.at.isoformat(timespec="seconds"),
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
