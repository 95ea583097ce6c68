"""The soak's figures, computed after the run from four records kept during it.

- the proxy's `ProxyEvent`s (who sent what, which fault, the lease row at arrival);
- the simulator's `TransitionRecord`s (what the server applied or refused, from which
  status, in place since when), tied to proxy events by their tag;
- the intents and audit rows the daemons wrote in PostgreSQL;
- the RSS samples and the chaos log.

Definitions (README, Soak):
- duplicate: a step the server refused because the very same step had already been applied
  to the campaign by a daemon (the status it set is still there). No action leads from a
  status to itself, so a step sent twice in a row can only show up this way.
- illegal: a step the server refused as not legal from the campaign's status at arrival,
  when that status was set by a daemon, or was already there at the sender's last
  successful read. A status set by a person or by the platform *after* the sender's last
  read is a race no client can avoid (no conditional PUT): counted as `raced`, apart.
- disagreeing audit: an intent closed `succeeded` that the server never applied, or closed
  `failed` that the server did apply. A server change is tied to an intent by the
  request id in the audit row when the answer came back, else to the campaign's latest
  intent for that step opened before the PUT left the daemon. When a person or the
  platform changed the campaign between the intent's opening and the re-read that closed
  it, the re-read could not tell (no client could): such rows are `masked`, apart.
- unaudited: a change the server applied that ties to no intent at all.
- open intents: intents still open or unknown after the quiet period and a clean stop.
- without lease: PUTs whose sender did not hold an unexpired lease when the PUT reached
  the proxy (by the database's clock); `lease unreadable` counts PUTs the probe could
  not read the row for.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from lifecycle.model import Action
from lifecycle.simulator import TransitionRecord

from .leases import LeaseSight, Roster
from .proxy import ProxyEvent

# Wall clocks of the proxy, the simulator and PostgreSQL are one machine's clock; this
# absorbs the few milliseconds between an intent's commit and its PUT's arrival order.
_CLOCK_SLACK = timedelta(seconds=1)
TARGETS = (
    "duplicates",
    "illegal",
    "audit_disagrees",
    "unaudited",
    "open_intents",
    "puts_without_lease",
)


@dataclass(frozen=True)
class Intent:
    id: int
    campaign_id: str
    step: str
    state: str
    created_at: datetime
    closed_at: datetime | None


@dataclass(frozen=True)
class AuditLink:
    intent_id: int
    request_id: str


@dataclass(frozen=True)
class Inputs:
    events: list[ProxyEvent]
    transitions: list[TransitionRecord]
    intents: list[Intent]
    audit_links: list[AuditLink]
    roster: Roster
    rss_max_kib: dict[str, int]


def compute(inputs: Inputs) -> dict[str, Any]:
    """Every figure, with the offending items listed under `details`."""
    by_tag = {int(t.tag): t for t in inputs.transitions if t.source == "api" and t.tag}
    events = {e.seq: e for e in inputs.events}
    refused = _judge_refusals(inputs, by_tag, events)
    audit = _judge_audit(inputs, by_tag, events)
    lease = _judge_leases(inputs)
    puts = [e for e in inputs.events if e.method == "PUT"]
    figures: dict[str, Any] = {
        "requests": dict(Counter(e.daemon for e in inputs.events)),
        "puts_sent": dict(Counter(e.daemon for e in puts)),
        "faults": dict(Counter(e.fault for e in inputs.events if e.fault)),
        "late_puts_delivered_after_client_left": sum(
            1 for e in puts if e.fault == "late" and e.client_gone_at_forward and e.upstream_status
        ),
        "applied": sum(1 for t in inputs.transitions if t.source == "api" and t.applied),
        "operator_moves": sum(1 for t in inputs.transitions if t.source == "operator"),
        "duplicates": len(refused["duplicate"]),
        "illegal": len(refused["illegal"]),
        "raced": len(refused["raced"]),
        "audit_disagrees": len(audit["disagrees"]),
        "audit_disagrees_masked": len(audit["disagrees_masked"]),
        "unaudited": len(audit["unaudited"]),
        "open_intents": sum(1 for i in inputs.intents if i.state in ("open", "unknown")),
        "intents": dict(Counter(i.state for i in inputs.intents)),
        "puts_without_lease": len(lease["without"]),
        "puts_by_sender_and_holder": lease["holders"],
        "lease_unreadable": len(lease["unreadable"]),
        "rss_max_mib": {d: round(k / 1024, 1) for d, k in inputs.rss_max_kib.items()},
    }
    figures["details"] = {
        **refused,
        **audit,
        "without_lease": lease["without"],
        "open_intents": [asdict(i) for i in inputs.intents if i.state in ("open", "unknown")],
    }
    return figures


def _judge_refusals(
    inputs: Inputs, by_tag: dict[int, TransitionRecord], events: dict[int, ProxyEvent]
) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {"duplicate": [], "illegal": [], "raced": []}
    applied_at = {
        (t.campaign_id, t.at): t for t in inputs.transitions if t.applied
    }  # who set a status: the applied change at exactly its `since`
    for seq, record in sorted(by_tag.items(), key=lambda item: item[1].at):
        if record.applied:
            continue
        event = events[seq]
        setter = applied_at.get((record.campaign_id, record.since))
        kind = _refusal_kind(record, setter, _last_read(inputs.events, event))
        found[kind].append(_item(event, record, setter, kind))
    return found


def _refusal_kind(
    record: TransitionRecord, setter: TransitionRecord | None, last_read: datetime | None
) -> str:
    if setter is not None and setter.source == "api":
        return "duplicate" if setter.action == record.action else "illegal"
    outside_change_unseen = last_read is None or record.since > last_read
    return "raced" if outside_change_unseen else "illegal"


def _last_read(events: list[ProxyEvent], put: ProxyEvent) -> datetime | None:
    """When the server answered the sender's last good read of this campaign before `put`."""
    reads = [
        e.forwarded_at
        for e in events
        if e.daemon == put.daemon
        and e.method == "GET"
        and (e.is_list or e.campaign_id == put.campaign_id)
        and e.answered == 200
        and e.fault is None
        and e.forwarded_at is not None
        and e.received_at < put.received_at
    ]
    return max(reads, default=None)


def _item(
    event: ProxyEvent, record: TransitionRecord, setter: TransitionRecord | None, why: str
) -> dict[str, Any]:
    setter_event = f"event {setter.tag}" if setter and setter.tag else None
    return {
        "why": why,
        "campaign_id": record.campaign_id,
        "action": record.action.value if record.action else None,
        "daemon": event.daemon,
        "event": event.seq,
        "fault": event.fault,
        "sent_at": event.received_at.isoformat(),
        "arrived_at": record.at.isoformat(),
        "status_before": record.status_before.value,
        "status_since": record.since.isoformat(),
        "status_set_by": setter.source if setter else "platform",
        "status_set_by_event": setter_event,
    }


def _judge_audit(
    inputs: Inputs, by_tag: dict[int, TransitionRecord], events: dict[int, ProxyEvent]
) -> dict[str, list[dict[str, Any]]]:
    by_request = {link.request_id: link.intent_id for link in inputs.audit_links}
    intents = {i.id: i for i in inputs.intents}
    applied_to: dict[int, list[int]] = {}
    unaudited = []
    for seq, record in by_tag.items():
        if not record.applied or record.action is None:
            continue
        event = events[seq]
        intent_id = by_request.get(event.upstream_request_id or "") or _intent_before(
            inputs.intents, record.campaign_id, record.action, event.received_at
        )
        if intent_id is None:
            unaudited.append({"campaign_id": record.campaign_id, "event": seq})
        else:
            applied_to.setdefault(intent_id, []).append(seq)
    found: dict[str, list[dict[str, Any]]] = {"disagrees": [], "disagrees_masked": []}
    for intent in intents.values():
        applied = intent.id in applied_to
        if (intent.state == "succeeded" and not applied) or (intent.state == "failed" and applied):
            outside = _outside_changes(inputs.transitions, intent, _reread(inputs.events, intent))
            found["disagrees_masked" if outside else "disagrees"].append(
                {
                    "intent": intent.id,
                    "campaign_id": intent.campaign_id,
                    "step": intent.step,
                    "state": intent.state,
                    "server_applied": applied,
                    "events": applied_to.get(intent.id, []),
                    "created_at": intent.created_at.isoformat(),
                    "closed_at": intent.closed_at.isoformat() if intent.closed_at else None,
                    "outside_changes": outside,
                }
            )
    return {**found, "unaudited": unaudited}


def _reread(events: list[ProxyEvent], intent: Intent) -> datetime | None:
    """When the server answered the first good read of the campaign after the intent was
    closed: the re-read that decided a doubtful step. `closed_at` is the deciding tick's
    start, read once per tick, so the re-read itself comes after it."""
    if intent.closed_at is None:
        return None
    reads = [
        e.forwarded_at
        for e in events
        if e.method == "GET"
        and e.campaign_id == intent.campaign_id
        and e.answered == 200
        and e.fault is None
        and e.forwarded_at is not None
        and e.received_at >= intent.closed_at
    ]
    return min(reads, default=None)


def _outside_changes(
    transitions: list[TransitionRecord], intent: Intent, reread: datetime | None
) -> list[str]:
    """Changes by a person or the platform to the intent's campaign from its opening to
    the read that closed it.

    The daemon resolves a doubtful step by re-reading the status; a change by someone
    else in between masks the step's effect (or fakes it), and no client can tell.
    """
    closed = max(filter(None, (intent.closed_at, reread)), default=None)
    if closed is None:
        closed = datetime.max.replace(tzinfo=intent.created_at.tzinfo)
    opened = intent.created_at - _CLOCK_SLACK
    known = {t.at for t in transitions if t.campaign_id == intent.campaign_id and t.applied}
    found = set()
    for t in transitions:
        if t.campaign_id != intent.campaign_id:
            continue
        if t.source == "operator" and opened <= t.at <= closed:
            found.add(f"operator at {t.at.isoformat()}: {t.status_after.value}")
        if opened <= t.since <= closed and t.since not in known and t.since != t.at:
            found.add(f"platform at {t.since.isoformat()}: {t.status_before.value}")
    return sorted(found)


def _intent_before(
    intents: list[Intent], campaign_id: str, action: Action, sent_at: datetime
) -> int | None:
    candidates = [
        i
        for i in intents
        if i.campaign_id == campaign_id
        and i.step == action.value
        and i.created_at <= sent_at + _CLOCK_SLACK
    ]
    return max(candidates, key=lambda i: i.created_at).id if candidates else None


def _judge_leases(inputs: Inputs) -> dict[str, Any]:
    without, unreadable = [], []
    holders: Counter[str] = Counter()
    for event in inputs.events:
        if event.method != "PUT":
            continue
        sight = event.lease
        if not isinstance(sight, LeaseSight):
            unreadable.append({"event": event.seq})
            continue
        holder = inputs.roster.owner_to_daemon(sight.owner) or sight.owner or "nobody"
        expired = sight.expires_at is not None and sight.expires_at <= sight.db_now
        holders[f"{event.daemon} sent, {holder} held{' (expired)' if expired else ''}"] += 1
        if not sight.is_held_by(inputs.roster.of(event.daemon)):
            without.append(
                {
                    "event": event.seq,
                    "daemon": event.daemon,
                    "campaign_id": event.campaign_id,
                    "action": event.action,
                    "sent_at": event.received_at.isoformat(),
                    "lease_owner": sight.owner,
                    "lease_owner_daemon": inputs.roster.owner_to_daemon(sight.owner),
                    "expires_at": sight.expires_at.isoformat() if sight.expires_at else None,
                    "db_now": sight.db_now.isoformat(),
                }
            )
    return {"without": without, "unreadable": unreadable, "holders": dict(holders)}
