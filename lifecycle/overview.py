"""The read model behind the status page, the campaign page and `lifecycle status`.

One place reads what they show, for one account: its store (`Store.for_account`) and its
rules; with several accounts each has its own `Sources`. It reads only the store, the
last tick's report and the rules in force: it never sends a request to Exotel, so viewing
the page costs none of the API budget. The values it returns are plain frozen data;
rendering them (HTML, text, JSON) is elsewhere.

The next 24 hours come from `engine.timeline` (the code behind `plan --from --to`), run on
the campaigns the last tick observed, in a worker thread: a big list never stalls ticks.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from lifecycle import engine
from lifecycle.cycle import TickReport
from lifecycle.engine import RuleVerdict, TimelineEntry
from lifecycle.errors import StoreUnavailable
from lifecycle.instant import format_duration, format_instant, parse_instant
from lifecycle.model import Campaign, Hold, Outcome, Status
from lifecycle.records import AuditRow, DecisionRow, OpenIntent, StatusRow, TickRow
from lifecycle.rules import Ruleset
from lifecycle.store import Store

HORIZON = timedelta(hours=24)
RECENT_ROWS = 30  # audit rows shown as "recent actions"
FAILURE_SCAN = 500  # newest audit rows searched for failures
_FAILED = (Outcome.FAILED, Outcome.UNKNOWN)


@dataclass(frozen=True)
class Rejection:
    """A saved edit of the rules file that did not validate (the last good rules stay)."""

    hash: str
    at: datetime
    problems: tuple[str, ...]  # "FILE:LINE:COL: message", as `lifecycle check` prints them


@dataclass(frozen=True)
class RulesState:
    """The ruleset in force, and how the file on disk compares with it."""

    path: str
    hash: str
    loaded_at: datetime
    rejected: Rejection | None = None
    on_disk: str | None = None  # the file's hash now; None when it cannot be read

    @property
    def disk_differs(self) -> bool:
        """The file holds an edit that is neither in force nor rejected (yet): the watcher
        has not read it, or the file cannot be read."""
        if self.on_disk is None:
            return True
        return self.on_disk not in (self.hash, self.rejected.hash if self.rejected else None)


@dataclass(frozen=True)
class Health:
    """The page's header, as the daemon itself sees it."""

    ready: bool
    reason: str
    last_tick: TickReport | None
    next_wakeup: datetime | None  # from the last tick's plan
    next_poll: datetime | None  # the last tick plus the poll interval
    leader: str  # "this process", or who holds the lease (standby)

    @property
    def wakes_for(self) -> str:
        """Why the next tick comes when it does: a time edge of the rules, or the poll."""
        if self.next_wakeup is not None and (
            self.next_poll is None or self.next_wakeup < self.next_poll
        ):
            return "a rule's time edge (a window opens or closes, an end_at, an age)"
        return "the poll interval"

    @property
    def next_tick(self) -> datetime | None:
        due = [at for at in (self.next_wakeup, self.next_poll) if at is not None]
        return min(due) if due else None


@dataclass(frozen=True)
class Edge:
    """What happens at one instant of the next 24 hours: campaigns counted per action."""

    at: datetime
    kind: str  # "action", "dry-run", "skipped" or "exotel"
    what: str  # the action ("pause"), or Exotel's move ("→ completed")
    count: int
    rules: tuple[str, ...]


@dataclass(frozen=True)
class Overview:
    health: Health
    rules: RulesState
    ruleset: Ruleset
    campaigns_by_status: dict[Status, int]
    campaigns_from: str  # where the counts come from: "last tick" or "store"
    edges: tuple[Edge, ...]
    edges_note: str  # why the list is empty or partial, "" when it is complete
    recent: tuple[AuditRow, ...]
    failures: tuple[AuditRow, ...]
    intents: tuple[OpenIntent, ...]
    holds: tuple[Hold, ...]
    now: datetime
    # The database did not answer: what the page shows of it is empty, and this says why.
    store_error: str | None = None
    # The account shown, when the daemon serves several (its pages are under its SID).
    account: str = ""


@dataclass(frozen=True)
class CampaignView:
    """What `why` shows about one campaign, as data."""

    campaign_id: str
    campaign: Campaign | None  # as the last tick observed it; None if it did not
    name: str
    verdicts: tuple[RuleVerdict, ...]
    hold: Hold | None
    in_flight: bool
    decisions: tuple[DecisionRow, ...]
    audit: tuple[AuditRow, ...]
    statuses: tuple[StatusRow, ...]
    ruleset: Ruleset
    now: datetime
    account: str = ""  # as on Overview


@dataclass
class Sources:
    """Where the read model reads from: the daemon's state, never Exotel."""

    store: Store
    last: Callable[[], TickReport | None]
    ruleset: Callable[[], Ruleset]
    rules: Callable[[], RulesState]
    readiness: Callable[[], tuple[bool, str]]
    poll: timedelta
    dry_run: bool = False
    # The account, when the daemon serves several: the views carry it, for their links.
    # The store is already that account's (`Store.for_account`).
    account: str = ""
    # The most campaign evaluations one timeline may cost (each evaluation plans every
    # observed campaign at one instant): about 4 s of CPU. Past it the page says the
    # timeline is truncated, rather than spend minutes of a core on 100,000 campaigns.
    timeline_budget: int = 500_000
    _timeline: dict[tuple[datetime, str], asyncio.Future[tuple[tuple[Edge, ...], bool]]] = field(
        default_factory=dict
    )

    async def overview(self, now: datetime) -> Overview:
        """Everything the status page shows. A database that does not answer empties
        what comes from it and says so: health and the rules still show (they are what
        an operator looks at during an outage)."""
        last, ruleset = self.last(), self.ruleset()
        base = Overview(
            health=self.health(),
            rules=self.rules(),
            ruleset=ruleset,
            campaigns_by_status={},
            campaigns_from="",
            edges=(),
            edges_note="",
            recent=(),
            failures=(),
            intents=(),
            holds=(),
            now=now,
            account=self.account,
        )
        try:
            return await self._from_store(base, last, now)
        except StoreUnavailable as exc:
            return replace(base, store_error=str(exc), edges_note="the database is unreachable")

    async def _from_store(self, base: Overview, last: TickReport | None, now: datetime) -> Overview:
        observed = await self.observed(last)
        by_status, counted_from = await self._by_status(observed)
        edges, note = await self._edges(last, observed, base.ruleset, now)
        rows = await self.store.audit(limit=FAILURE_SCAN)
        return replace(
            base,
            campaigns_by_status=by_status,
            campaigns_from=counted_from,
            edges=edges,
            edges_note=note,
            # An intent row is followed by its outcome's (open ones are listed apart).
            recent=tuple(r for r in rows if r.outcome != Outcome.INTENT)[:RECENT_ROWS],
            failures=tuple(r for r in rows if r.outcome in _FAILED)[:RECENT_ROWS],
            intents=tuple(await self.store.unresolved_intents()),
            holds=tuple(await self.store.holds(at=now)),
        )

    def health(self) -> Health:
        ready, reason = self.readiness()
        last = self.last()
        plan = last.plan if last is not None else None
        return Health(
            ready=ready,
            reason=reason,
            last_tick=last,
            next_wakeup=plan.next_wakeup if plan is not None else None,
            next_poll=last.at + self.poll if last is not None else None,
            leader=_leader(last),
        )

    async def observed(self, last: TickReport | None) -> tuple[Campaign, ...]:
        """The campaigns the last tick read, each in its status as the store knows it now:
        after the tick's own steps took effect (the tick read them before acting)."""
        campaigns = last.observed if last is not None else ()
        if not campaigns:
            return ()
        known = await self.store.latest_statuses([c.id for c in campaigns])
        return tuple(
            replace(c, status=known[c.id]) if known.get(c.id, c.status) != c.status else c
            for c in campaigns
        )

    async def _by_status(self, observed: Sequence[Campaign]) -> tuple[dict[Status, int], str]:
        if observed:
            return dict(Counter(c.status for c in observed)), "the last tick"
        # A standby (or a tick that failed) observed nothing: the store's last sight.
        statuses = await self.store.latest_statuses()
        return dict(Counter(statuses.values())), "the database (every campaign ever seen)"

    async def _edges(
        self,
        last: TickReport | None,
        observed: Sequence[Campaign],
        ruleset: Ruleset,
        now: datetime,
    ) -> tuple[tuple[Edge, ...], str]:
        """The timeline from the last tick for 24 hours, computed once per tick and ruleset
        however many people view the page (it costs seconds on thousands of campaigns:
        README, Operate), in a worker thread so the ticks and probes go on meanwhile, and
        within `timeline_budget`."""
        if last is None or not observed:
            return (), "no campaigns observed by this process yet (a standby does not poll)"
        key = (last.at, ruleset.hash)
        task = self._timeline.get(key)
        if task is None or (task.done() and task.exception() is not None):
            task = asyncio.ensure_future(self._timeline_from(last.at, observed, ruleset))
            self._timeline = {key: task}  # one entry: views of the same tick share it
        edges, truncated = await asyncio.shield(task)
        if not truncated:
            return edges, ""
        return edges, (
            f"truncated: {self._timeline_steps(len(observed))} evaluations of "
            f"{len(observed)} campaigns did not reach 24 hours (`lifecycle plan --from --to` "
            "goes further)"
        )

    def _timeline_steps(self, campaigns: int) -> int:
        """How many instants a timeline of `campaigns` may evaluate, within the budget."""
        return max(2, self.timeline_budget // max(1, campaigns))

    async def _timeline_from(
        self, start: datetime, observed: Sequence[Campaign], ruleset: Ruleset
    ) -> tuple[tuple[Edge, ...], bool]:
        history = await self.store.history(at=start, campaign_ids=[c.id for c in observed])
        found = await asyncio.to_thread(
            engine.timeline,
            observed,
            ruleset,
            history,
            start,
            start + HORIZON,
            dry_run=self.dry_run,
            max_steps=self._timeline_steps(len(observed)),
        )
        return edges_of(found.entries), found.truncated

    async def campaign(self, campaign_id: str, now: datetime) -> CampaignView:
        last, ruleset = self.last(), self.ruleset()
        observed = {c.id: c for c in await self.observed(last)}
        campaign = observed.get(campaign_id)
        history = await self.store.history(at=now, campaign_ids=[campaign_id])
        verdicts = engine.explain(campaign, ruleset, history, now) if campaign else []
        audit = await self.store.audit(campaign_id=campaign_id, limit=20)
        decisions = await self.store.decisions(campaign_id=campaign_id, until=now, limit=20)
        name = campaign.name if campaign else _name_from(audit, decisions)
        return CampaignView(
            campaign_id=campaign_id,
            campaign=campaign,
            name=name,
            verdicts=tuple(verdicts),
            hold=history.holds.get(campaign_id),
            in_flight=campaign_id in history.open_intents,
            decisions=tuple(decisions),
            audit=tuple(audit),
            statuses=tuple(await self.store.status_timeline(campaign_id, limit=20)),
            ruleset=ruleset,
            now=now,
            account=self.account,
        )


def edges_of(entries: Sequence[TimelineEntry]) -> tuple[Edge, ...]:
    """Timeline entries grouped by instant, kind and action, in time order: "19:00 pause
    × 12 by pause-outside-business-hours". Purely computational."""
    counts: Counter[tuple[datetime, str, str]] = Counter()
    rules: dict[tuple[datetime, str, str], set[str]] = {}
    for entry in entries:
        key = (entry.at, _kind(entry), _what(entry))
        counts[key] += 1
        if entry.rule:
            rules.setdefault(key, set()).add(entry.rule)
    return tuple(
        Edge(
            at, kind, what, counts[(at, kind, what)], tuple(sorted(rules.get((at, kind, what), ())))
        )
        for at, kind, what in sorted(counts)
    )


def _kind(entry: TimelineEntry) -> str:
    if entry.kind == "action" and entry.mode is not None and entry.mode.value == "dry-run":
        return "dry-run"
    return entry.kind


def _what(entry: TimelineEntry) -> str:
    if entry.action is None:
        return f"→ {entry.status_after.value}"
    return entry.action.value


def _leader(last: TickReport | None) -> str:
    if last is None:
        return "not known yet (no tick has run)"
    if last.standby:
        return f"standby: {last.leader or 'another process holds the lease'}"
    return "this process"


def _name_from(audit: Sequence[AuditRow], decisions: Sequence[DecisionRow]) -> str:
    names = [row.campaign_name for row in audit] + [row.campaign_name for row in decisions]
    return next((name for name in names if name), "")


@dataclass(frozen=True)
class StoredHealth:
    """What `lifecycle status` reads from the database alone (no daemon needed)."""

    last_tick: TickRow | None
    lease_owner: str | None
    lease_expires: datetime | None
    db_now: datetime
    campaigns_by_status: dict[Status, int]
    intents: int
    holds: int


async def stored_health(store: Store, *, lease: str, now: datetime) -> StoredHealth:
    """The header as the database tells it: the last tick any leader recorded, who holds
    the lease `lease` (by the database's clock), the last-seen campaigns by status."""
    row = await store.lease(lease)
    return StoredHealth(
        last_tick=await store.last_tick(),
        lease_owner=row.owner if row is not None and row.expires_at > row.db_now else None,
        lease_expires=row.expires_at if row is not None else None,
        db_now=row.db_now if row is not None else await store.db_now(),
        campaigns_by_status=dict(Counter((await store.latest_statuses()).values())),
        intents=len(await store.unresolved_intents()),
        holds=len(await store.holds(at=now)),
    )


@dataclass(frozen=True)
class StatusReport:
    """What `lifecycle status` prints: the database's account, the rules file, and the
    daemon's own word when it answers. `healthy` decides the exit code (0 or 1)."""

    stored: StoredHealth
    rules_path: str
    rules_on_disk: str | None  # the file's hash; None when it cannot be read
    rules_problems: tuple[str, ...]  # the file's located errors, when it does not validate
    daemon_url: str
    daemon: dict[str, Any] | None  # its /readyz body; None when it did not answer
    problems: tuple[str, ...]  # why it is not healthy; empty when it is

    @property
    def healthy(self) -> bool:
        return not self.problems


def judge_status(
    stored: StoredHealth, daemon: dict[str, Any] | None, *, now: datetime, stale: timedelta
) -> tuple[str, ...]:
    """Why the account is not healthy (empty: it is). Not healthy: no tick ever recorded,
    the last one failed or never finished, none started within `stale`, or the daemon
    answered and is not ready. A daemon that does not answer is no problem by itself: the
    leader may be another host's. Purely computational."""
    problems: list[str] = []
    last = stored.last_tick
    if last is None:
        problems.append("no tick has ever been recorded")
    elif last.error:
        problems.append(f"the last tick failed: {last.error}")
    elif now - last.started_at > stale:
        problems.append(f"no tick for {format_duration(now - last.started_at)}")
    elif last.finished_at is None:
        problems.append("the last tick has not finished")
    if daemon is not None and not daemon.get("ready"):
        problems.append(f"the daemon is not ready: {daemon.get('reason')}")
    return tuple(problems)


def status_to_json(report: StatusReport, tz: ZoneInfo) -> dict[str, Any]:
    """The `status --json` object; instants in the rules' zone."""
    stored, last = report.stored, report.stored.last_tick
    return {
        "healthy": report.healthy,
        "problems": list(report.problems),
        "last_tick": None
        if last is None
        else {
            "started_at": format_instant(last.started_at, tz),
            "finished_at": format_instant(last.finished_at, tz) if last.finished_at else None,
            "ok": last.error is None,
            "error": last.error,
            "campaigns": last.campaigns,
            "actions": last.actions,
            "ruleset": last.ruleset,
            "dry_run": last.dry_run,
        },
        "leader": stored.lease_owner,
        "lease_expires": format_instant(stored.lease_expires, tz) if stored.lease_expires else None,
        "rules": {
            "path": report.rules_path,
            "on_disk": report.rules_on_disk,
            "problems": list(report.rules_problems),
        },
        "campaigns": {status.value: n for status, n in sorted(stored.campaigns_by_status.items())},
        "unresolved_intents": stored.intents,
        "holds": stored.holds,
        "daemon": {
            "url": report.daemon_url,
            "answered": report.daemon is not None,
            **(report.daemon or {}),
        },
    }


def status_to_text(report: StatusReport, tz: ZoneInfo) -> str:
    stored, last = report.stored, report.stored.last_tick
    lines = [f"health      {'ok' if report.healthy else 'NOT OK: ' + '; '.join(report.problems)}"]
    if last is None:
        lines.append("last tick   none recorded")
    else:
        result = f"failed: {last.error}" if last.error else "ok"
        done = f"{last.campaigns or 0} campaigns, {last.actions or 0} steps sent"
        lines.append(f"last tick   {format_instant(last.started_at, tz)}  {result} ({done})")
    if stored.lease_owner:
        until = format_instant(stored.lease_expires, tz) if stored.lease_expires else "?"
        lines.append(f"leader      {stored.lease_owner} (lease until {until})")
    else:
        lines.append("leader      none: the lease is free or expired")
    on_disk = report.rules_on_disk or "cannot be read"
    ran_on = last.ruleset if last is not None else None
    same = "" if ran_on in (None, on_disk) else f" (the last tick ran on {ran_on})"
    lines.append(f"rules       {report.rules_path}: {on_disk}{same}")
    lines += [f"            {problem}" for problem in report.rules_problems]
    counts = ", ".join(
        f"{status.value} {n}" for status, n in sorted(stored.campaigns_by_status.items())
    )
    lines.append(f"campaigns   {counts or 'none seen'}")
    lines.append(f"intents     {stored.intents} open or unknown")
    lines.append(f"holds       {stored.holds} in force")
    lines.append(f"daemon      {_daemon_line(report, tz)}")
    return "\n".join(lines)


def _daemon_line(report: StatusReport, tz: ZoneInfo) -> str:
    daemon = report.daemon
    if daemon is None:
        return f"not answering at {report.daemon_url}"
    state = "ready" if daemon.get("ready") else "NOT READY"
    after = f"; next tick {_local(daemon.get('next_tick'), tz)}" if daemon.get("next_tick") else ""
    return f"{state}: {daemon.get('reason')}{after} ({report.daemon_url})"


def _local(text: object, tz: ZoneInfo) -> str:
    """An instant from the daemon's JSON, in the rules' zone (as sent when unreadable)."""
    try:
        return format_instant(parse_instant(str(text)), tz)
    except ValueError:
        return str(text)
