"""Messages from what happened: pure functions, no I/O, no clock.

A tick's step outcomes become one digest (not one message per campaign): 40 campaigns
paused at 19:00 is one message with 40 entries, per channel.
"""

from __future__ import annotations

from datetime import datetime, tzinfo

from lifecycle.cycle import StepEvent, TickReport
from lifecycle.instant import format_instant
from lifecycle.model import Outcome
from lifecycle.notice import Kind, Message, Notice, Severity

_STEP_KINDS: dict[Outcome, tuple[Kind, Severity]] = {
    Outcome.SUCCEEDED: (Kind.STEP_SENT, Severity.INFO),
    Outcome.DRY_RUN: (Kind.DRY_RUN, Severity.INFO),
    Outcome.UNKNOWN: (Kind.STEP_UNKNOWN, Severity.WARNING),
    Outcome.FAILED: (Kind.STEP_FAILED, Severity.ERROR),
}


def step_notice(event: StepEvent, zone: tzinfo) -> Notice:
    """One step as a line for a person: what, to which campaign, by which rule, why."""
    kind, severity = _STEP_KINDS.get(event.outcome, (Kind.STEP_UNKNOWN, Severity.WARNING))
    d = event.decision
    detail = f": {event.detail}" if event.detail else ""
    text = (
        f"{event.step.value} {d.campaign_id} {d.campaign_name!r} by rule {d.rule}: "
        f"{event.outcome.value}{detail} ({d.reason})"
    )
    return Notice(kind, severity, event.at.astimezone(zone), text, d.campaign_id,
                  d.campaign_name, d.rule, event.step.value)  # fmt: skip


def tick_messages(report: TickReport, steps: tuple[StepEvent, ...], zone: tzinfo) -> list[Message]:
    """The tick's digest, when any step was sent, failed, or would have been (dry run);
    keyed by the tick's row, so it is never sent twice. A tick that wrote no row (the
    database was down) sends no digest: it did nothing."""
    if not steps or report.tick_id is None:
        return []
    notices = tuple(step_notice(event, zone) for event in steps)
    counts = {kind: sum(n.kind == kind for n in notices) for kind in Kind}
    said = [
        f"{counts[kind]} {word}"
        for kind, word in (
            (Kind.STEP_SENT, "sent"),
            (Kind.STEP_FAILED, "failed"),
            (Kind.STEP_UNKNOWN, "of unknown outcome"),
            (Kind.DRY_RUN, "would have been sent (dry run)"),
        )
        if counts[kind]
    ]
    title = f"tick at {format_instant(report.at, zone)}: steps {', '.join(said)}"
    return [Message(f"tick:{report.tick_id}", title, notices)]


def event_message(notice: Notice, key: str) -> Message:
    """An event of its own (an outage, a lease change, a rejected edit) as one message."""
    return Message(key, notice.text.split("\n", 1)[0], (notice,))


def rules_rejected(path: str, *, edit: str, keeping: str, problems: str, at: datetime) -> Message:
    """A saved edit of the rules that did not validate: keyed by the edit's hash, so each
    bad version of the file is told once, and the problems (FILE:LINE:COL) are in it."""
    text = f"rejected edit of {path}; keeping ruleset {keeping}:\n{problems}"
    notice = Notice(Kind.RULES_REJECTED, Severity.ERROR, at, text)
    return Message(f"rules-rejected:{edit}", f"rejected edit of {path}", (notice,))
