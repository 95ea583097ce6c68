"""The status page and the campaign page, as HTML. Pure rendering of `overview` values.

Every value from outside (campaign names and ids, reasons, errors, rule names, file
paths) goes through `_h` (html.escape, quotes included): a campaign called
`<script>…` is text on the page, never markup. Times are in the rules' zone
(`instant.format_instant`). No JavaScript: the page refreshes itself with a `<meta>` tag.
No template engine: the page is a few tables, and f-strings with one escaping function
keep every interpolation visible in review.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Protocol
from urllib.parse import quote
from zoneinfo import ZoneInfo

from lifecycle.instant import format_instant
from lifecycle.model import Outcome, Status
from lifecycle.overview import CampaignView, Edge, Health, Overview, RulesState
from lifecycle.records import AuditRow, DecisionRow, OpenIntent, StatusRow

REFRESH_SECONDS = 10


class AccountState(Protocol):
    """An account's readiness as `/` lists it (`web.app.AccountState`)."""

    @property
    def state(self) -> str: ...
    @property
    def reason(self) -> str: ...
    @property
    def ready(self) -> bool: ...


_BAD = {Outcome.FAILED, Outcome.UNKNOWN}

_STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;
 color:#1d2430;background:#f4f6f9}
header{background:#1d2430;color:#fff;padding:12px 24px;display:flex;gap:24px;
 align-items:baseline;flex-wrap:wrap}
header h1{font-size:18px;margin:0}header a{color:#9cc3ff}
main{padding:16px 24px;display:grid;gap:16px;
 grid-template-columns:repeat(auto-fit,minmax(440px,1fr))}
section{background:#fff;border:1px solid #dde2ea;border-radius:6px;padding:12px 16px;
 overflow-x:auto}
section.wide{grid-column:1/-1}
h2{font-size:15px;margin:0 0 8px}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #edf0f4;vertical-align:top}
th{font-weight:600;color:#4a5568;font-size:12px;text-transform:uppercase}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:12px;
 overflow-wrap:anywhere}
td.at{white-space:nowrap}
.ok{color:#17803d;font-weight:600}.bad{color:#b42318;font-weight:600}
.warn{color:#b54708;font-weight:600}.muted{color:#6b7280}
.pill{display:inline-block;padding:0 8px;border-radius:10px;background:#eef2f7;
 font-size:12px}.pill.bad{background:#fde8e7}.pill.ok{background:#e3f5e9}
.pill.warn{background:#fff1dc}
pre{white-space:pre-wrap;background:#fff7f6;border:1px solid #f3c5c0;padding:8px;margin:6px 0}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:0}
dt{color:#4a5568}dd{margin:0}
"""


def _h(value: object) -> str:
    return html.escape(str(value), quote=True)


_AT = '<time class="at">'


def _at(value: datetime | None, tz: ZoneInfo) -> str:
    if value is None:
        return "—"
    return f"{_AT}{_h(format_instant(value, tz))}</time>"


def _table(head: Sequence[str], rows: Iterable[Sequence[str]], empty: str) -> str:
    """A table of cells that are already HTML (escaped by the caller)."""
    body = "".join("<tr>" + "".join(_cell(c) for c in row) + "</tr>" for row in rows)
    if not body:
        return f'<p class="muted">{_h(empty)}</p>'
    header = "".join(f"<th>{_h(name)}</th>" for name in head)
    return f"<table><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>"


def _cell(content: str) -> str:
    # Instants never wrap: a column of them reads down like a log.
    return f'<td class="at">{content}</td>' if content.startswith(_AT) else f"<td>{content}</td>"


def _document(title: str, header: str, sections: Iterable[str], *, refresh: bool) -> str:
    meta = f'<meta http-equiv="refresh" content="{REFRESH_SECONDS}">' if refresh else ""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width,initial-scale=1">{meta}'
        f"<title>{_h(title)}</title><style>{_STYLE}</style></head>"
        f"<body><header>{header}</header><main>{''.join(sections)}</main></body></html>"
    )


def _section(id_: str, title: str, content: str, *, wide: bool = False) -> str:
    cls = ' class="wide"' if wide else ""
    return f'<section id="{id_}"{cls}><h2>{_h(title)}</h2>{content}</section>'


def account_base(account: str) -> str:
    """Where an account's pages live: "" (at /) for the only account, else /accounts/SID."""
    return "/accounts/" + quote(account, safe="") if account else ""


def campaign_link(campaign_id: str, text: str | None = None, base: str = "") -> str:
    href = f"{base}/campaigns/" + quote(campaign_id, safe="")
    return f'<a href="{_h(href)}">{_h(text if text is not None else campaign_id)}</a>'


# --------------------------------------------------------------------------- the status page


def accounts_page(states: Mapping[str, AccountState], now: datetime) -> str:
    """`/` of a daemon with several accounts: each account, its readiness, its page."""
    rows = [
        [
            f'<a href="{_h(account_base(sid))}/">{_h(sid)}</a>',
            '<span class="ok">ready</span>' if s.ready else '<span class="bad">not ready</span>',
            _h(s.state),
            _h(s.reason),
        ]
        for sid, s in states.items()
    ]
    header = (
        "<h1>lifecycle</h1>"
        f'<span class="muted">as of {_h(now.isoformat(timespec="seconds"))} · '
        f"refreshes every {REFRESH_SECONDS}s</span>"
    )
    table = _table(["account", "ready", "state", "reason"], rows, "no accounts")
    return _document("lifecycle accounts", header, [_section("accounts", "Accounts", table,
                     wide=True)], refresh=True)  # fmt: skip


def status_page(view: Overview) -> str:
    tz = view.ruleset.timezone
    health = view.health
    base = account_base(view.account)
    title = f"lifecycle · {view.account}" if view.account else "lifecycle"
    back = '<a href="/">← accounts</a>' if view.account else ""
    state = (
        '<span class="ok">ready</span>' if health.ready else '<span class="bad">not ready</span>'
    )
    header = (
        f"<h1>{_h(title)}</h1>{back}"
        f"<span>{state} · {_h(health.reason)}</span>"
        f'<span class="muted">as of {_at(view.now, tz)} · refreshes every {REFRESH_SECONDS}s</span>'
        f'<form action="{_h(base)}/campaigns" method="get"><input name="id" '
        'placeholder="campaign id" '
        'aria-label="campaign id"> <button>why</button></form>'
    )
    outage = (
        [
            _section(
                "store",
                "Database unreachable",
                f'<p class="bad">{_h(view.store_error)}</p>',
                wide=True,
            )
        ]
        if view.store_error
        else []
    )
    sections = [
        *outage,
        _section("health", "Health", _health(health, tz)),
        _section("rules", "Ruleset in force", _rules(view.rules, tz)),
        _section("campaigns", "Campaigns by status", _by_status(view)),
        _section("next24h", "The next 24 hours", _edges(view.edges, view.edges_note, tz)),
        _section("intents", "Open or unknown intents", _intents(view.intents, tz, base)),
        _section("holds", "Holds", _holds(view, tz)),
        _section(
            "failures",
            "Recent failures",
            _audit(view.failures, tz, "no failures", base),
            wide=True,
        ),
        _section(
            "recent",
            "Recent actions",
            _audit(view.recent, tz, "no audit rows yet", base),
            wide=True,
        ),
    ]
    return _document(f"{title} status", header, sections, refresh=True)


def _health(health: Health, tz: ZoneInfo) -> str:
    last = health.last_tick
    if last is None:
        result = '<span class="warn">no tick has run yet</span>'
    elif last.standby:
        result = '<span class="pill">standby</span>'
    elif not last.ok:
        result = f'<span class="pill bad">failed</span> {_h(last.error)}'
    else:
        done = f"{last.campaigns} campaigns, {last.sent} steps sent, {last.failed} failed"
        warning = f' <span class="warn">{_h(last.warning)}</span>' if last.warning else ""
        result = f'<span class="pill ok">ok</span> {_h(done)}{warning}'
    return (
        "<dl>"
        f"<dt>Last tick</dt><dd>{_at(last.at if last else None, tz)}</dd>"
        f"<dt>Result</dt><dd>{result}</dd>"
        f"<dt>Next tick</dt><dd>{_at(health.next_tick, tz)} "
        f'<span class="muted">({_h(health.wakes_for)})</span></dd>'
        f"<dt>Next wake-up</dt><dd>{_at(health.next_wakeup, tz)}</dd>"
        f"<dt>Leader</dt><dd>{_h(health.leader)}</dd>"
        "</dl>"
    )


def _rules(rules: RulesState, tz: ZoneInfo) -> str:
    if rules.rejected is not None:
        disk = '<span class="bad">an edit was rejected</span>; the rules above stay in force'
    elif rules.on_disk is None:
        disk = '<span class="warn">the file cannot be read</span>'
    elif rules.disk_differs:
        disk = '<span class="warn">differs</span> (an edit not read yet)'
    else:
        disk = '<span class="ok">same as in force</span>'
    out = (
        "<dl>"
        f"<dt>File</dt><dd class=mono>{_h(rules.path)}</dd>"
        f"<dt>Hash</dt><dd class=mono>{_h(rules.hash)}</dd>"
        f"<dt>Loaded at</dt><dd>{_at(rules.loaded_at, tz)}</dd>"
        f"<dt>File on disk</dt><dd>{disk}</dd>"
        "</dl>"
    )
    if rules.rejected is not None:
        rejected = rules.rejected
        problems = "\n".join(rejected.problems)
        out += (
            f'<p id="rejected"><span class="bad">Rejected edit</span> at {_at(rejected.at, tz)} '
            f'<span class="mono">{_h(rejected.hash)}</span>:</p><pre>{_h(problems)}</pre>'
        )
    return out


def _by_status(view: Overview) -> str:
    counts = view.campaigns_by_status
    rows = [
        [_h(status.value), f'<span class="mono">{counts[status]}</span>']
        for status in Status
        if counts.get(status)
    ]
    total = sum(counts.values())
    note = f'<p class="muted">{total} campaigns, from {_h(view.campaigns_from)}</p>'
    return _table(["status", "campaigns"], rows, "no campaigns seen yet") + note


def _edges(edges: Sequence[Edge], note: str, tz: ZoneInfo) -> str:
    rows = [
        [
            _at(edge.at, tz) + f" {_h(edge.at.astimezone(tz).strftime('%a'))}",
            _kind_pill(edge.kind),
            f"<strong>{_h(edge.what)}</strong> × {edge.count}",
            _h(", ".join(edge.rules) or "Exotel"),
        ]
        for edge in edges
    ]
    empty = note or "nothing happens in the next 24 hours"
    table = _table(["when", "kind", "action × campaigns", "by"], rows, empty)
    return (
        table + '<p class="muted">From the last tick, on the campaigns it read, as '
        "<code>plan --from --to</code> shows it; an instant already past is due at the "
        "next tick.</p>"
    )


def _kind_pill(kind: str) -> str:
    cls = {"skipped": "warn", "dry-run": "warn", "exotel": ""}.get(kind, "ok")
    return f'<span class="pill {cls}">{_h(kind)}</span>'


def _intents(intents: Sequence[OpenIntent], tz: ZoneInfo, base: str) -> str:
    rows = [
        [
            campaign_link(i.campaign_id, base=base),
            _h(f"{i.step.value} ({i.action.value} by {i.rule})"),
            _state(i),
            _at(i.created_at, tz),
            _h(i.owner or "—"),
        ]
        for i in intents
    ]
    return _table(["campaign", "step", "state", "opened", "by"], rows, "none")


def _state(intent: OpenIntent) -> str:
    cls = "bad" if intent.state.value == "unknown" else ""
    return f'<span class="pill {cls}">{_h(intent.state.value)}</span>'


def _holds(view: Overview, tz: ZoneInfo) -> str:
    base = account_base(view.account)
    rows = [
        [campaign_link(h.campaign_id, base=base), _at(h.until, tz), _h(h.reason)]
        for h in view.holds
    ]
    return _table(["campaign", "until", "reason"], rows, "none")


def _audit(rows: Sequence[AuditRow], tz: ZoneInfo, empty: str, base: str = "") -> str:
    cells = [
        [
            _at(r.at, tz),
            campaign_link(r.campaign_id, f"{r.campaign_id} {r.campaign_name}".strip(), base),
            _h(r.rule),
            _h(f"{r.action.value}" + (f" ({r.step.value})" if r.step else "")),
            _outcome(r.outcome, r.http_status),
            _h(r.error or r.reason),
        ]
        for r in rows
    ]
    return _table(["at", "campaign", "rule", "action", "outcome", "reason / error"], cells, empty)


def _outcome(outcome: Outcome, http_status: int | None) -> str:
    cls = "bad" if outcome in _BAD else ("ok" if outcome == Outcome.SUCCEEDED else "")
    code = f" {http_status}" if http_status else ""
    return f'<span class="pill {cls}">{_h(outcome.value)}{_h(code)}</span>'


# --------------------------------------------------------------------------- a campaign


def campaign_page(view: CampaignView) -> str:
    tz = view.ruleset.timezone
    title = f"{view.campaign_id} {view.name}".strip()
    base = account_base(view.account)
    header = f'<h1>{_h(title)}</h1><a href="{_h(base)}/">← status</a>'
    sections = [
        _section("campaign", "Campaign", _campaign(view)),
        _section("verdicts", f"Rules at {format_instant(view.now, tz)}", _verdicts(view, tz)),
        _section("decisions", "Recent decisions", _decisions(view.decisions, tz), wide=True),
        _section("audit", "Audit trail", _audit(view.audit, tz, "no audit rows"), wide=True),
        _section("statuses", "Status history", _statuses(view.statuses, tz)),
    ]
    return _document(f"lifecycle: {title}", header, sections, refresh=False)


def _campaign(view: CampaignView) -> str:
    campaign = view.campaign
    if campaign is None:
        return '<p class="muted">not in the last tick\'s list: the rules cannot be judged on it</p>'
    read = Status.from_api(campaign.raw_status) if campaign.raw_status else campaign.status
    said = f"Exotel says {campaign.raw_status!r}"
    if read != campaign.status:  # the last tick read it before its own step took effect
        said = f"read as {campaign.raw_status!r} before this daemon's step"
    return (
        "<dl>"
        f"<dt>Status</dt><dd>{_h(campaign.status.value)} "
        f'<span class="muted">({_h(said)})</span></dd>'
        f"<dt>Name</dt><dd>{_h(campaign.name)}</dd>"
        f"<dt>Ruleset</dt><dd class=mono>{_h(view.ruleset.hash)}</dd>"
        "</dl>"
    )


def _verdicts(view: CampaignView, tz: ZoneInfo) -> str:
    rows: list[list[str]] = []
    winner_seen = False
    for verdict in view.verdicts:
        if verdict.matched and not winner_seen:
            mark, winner_seen = '<span class="pill ok">acts</span>', True
        elif verdict.matched:
            mark = '<span class="pill warn">shadowed</span>'
        else:
            mark = '<span class="pill">no match</span>'
        rows.append([_h(verdict.rule), mark, _h(verdict.reason)])
    out = _table(["rule", "verdict", "why"], rows, "no verdicts: the campaign was not observed")
    if view.verdicts and not winner_seen:
        out += '<p class="muted">no rule matches: nothing will be done</p>'
    if view.hold is not None:
        out += f"<p>held until {_at(view.hold.until, tz)}: {_h(view.hold.reason)}</p>"
    if view.in_flight:
        out += (
            '<p class="warn">a step is in flight or of unknown outcome; it is re-read next tick</p>'
        )
    return out


def _decisions(decisions: Sequence[DecisionRow], tz: ZoneInfo) -> str:
    rows = [
        [
            _at(d.at, tz),
            _h(d.kind),
            _h(d.rule),
            _h(f"{d.action.value} ({' → '.join(s.value for s in d.steps) or '-'})"),
            _h(d.mode.value if d.mode else ""),
            _h(d.reason),
        ]
        for d in decisions
    ]
    return _table(["at", "kind", "rule", "action", "mode", "reason"], rows, "no decisions recorded")


def _statuses(statuses: Sequence[StatusRow], tz: ZoneInfo) -> str:
    rows = [
        [
            _at(s.since, tz),
            _h(s.status.value),
            '<span class="muted">already in it when first seen</span>' if s.estimated else "",
        ]
        for s in statuses
    ]
    return _table(["since", "status", ""], rows, "no status history")
