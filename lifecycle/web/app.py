"""The HTTP handlers: the status page `/` and `/campaigns/{id}`, `/healthz`, `/readyz`,
`/metrics` and the Exotel webhook receiver. With several accounts `/` lists them and each
has its pages under `/accounts/SID/` (`/accounts/SID/campaigns/{id}`).

The pages read through `overview.Sources` (the store and the last tick's state, never
Exotel) and render with `page`.

Webhooks are hints, never truth: a valid callback only asks for an early tick, which then
re-reads the campaigns (callbacks can be late, duplicated or missing: docs/exotel-api.md).
With LIFECYCLE_WEBHOOK_TOKEN set, a callback must carry it (`?token=`, `Authorization:
Bearer`, or `X-Lifecycle-Token`), compared in constant time; without it, 401 and no detail.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import quote

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from lifecycle.clock import Clock
from lifecycle.cycle import Progress, Reconciler, TickReport
from lifecycle.errors import StoreUnavailable
from lifecycle.model import Status
from lifecycle.overview import RulesState, Sources
from lifecycle.web.callbacks import MAX_BODY, CallbackInvalid, parse_callback, read_fields
from lifecycle.web.page import account_base, accounts_page, campaign_page, status_page

log = logging.getLogger("lifecycle.web")


@dataclass
class WebState:
    """What the HTTP handlers need from the daemon."""

    reconciler: Reconciler
    clock: Clock
    poll_seconds: float
    nudge: Callable[[str], None]  # a webhook's early tick: `daemon.TickJob.hint`
    started_at: datetime
    token: str = ""  # LIFECYCLE_WEBHOOK_TOKEN; empty: webhooks need none
    body_timeout: float = 10.0  # seconds a webhook body may take to arrive
    # Every account the daemon serves, by SID (`reconciler` is one of them); empty: only
    # `reconciler`'s. And the exposition of all their metrics (default: `reconciler`'s).
    accounts: Mapping[str, Reconciler] = field(default_factory=dict)
    exposition: Callable[[], bytes] | None = None
    # The rules in force and any rejected edit (`daemon.RulesInForce.state`): `rules` for
    # `reconciler`, `account_rules` for each of `accounts`. None: only what the reconciler
    # knows (the hash), as in tests that build a WebState by hand.
    rules: Callable[[], RulesState] | None = None
    account_rules: Mapping[str, Callable[[], RulesState]] = field(default_factory=dict)
    _sources: dict[str, Sources] = field(default_factory=dict)

    def served(self) -> Mapping[str, Reconciler]:
        """The accounts by SID; one account without an accounts file, under ""."""
        return self.accounts or {"": self.reconciler}

    def account_states(self) -> dict[str, AccountState]:
        """Each account's readiness, by SID: `account_readiness`."""
        return {sid: AccountState.of(*self.account_readiness(sid)) for sid in self.served()}

    def account_readiness(self, sid: str) -> tuple[bool, str]:
        """(ready, reason) of one account, from its last tick and the one in progress:
        `judge_readiness`; a rejected rules edit is said in the reason, and is still ready
        (the last good rules are in force, and a restart would not fix the file)."""
        stall = timedelta(seconds=3 * self.poll_seconds) * self.clock.speed
        reconciler = self.served()[sid]
        ready, reason = judge_readiness(
            reconciler.last, reconciler.progress, now=self.clock.now(), stall=stall
        )
        rejected = self.rules_state(sid).rejected
        if rejected is not None:
            reason += f"; rules edit {rejected.hash} rejected, keeping {reconciler.ruleset().hash}"
        return ready, reason

    def readiness(self) -> tuple[bool, str]:
        """(ready, reason): `account_readiness` for one account; for several, ready when
        every account is (leading and healthy, or standing by), else the reasons of those
        that are not."""
        states = self.account_states()
        if len(states) == 1:
            (only,) = states.values()
            return only.ready, only.reason
        failing = [f"{sid}: {s.reason}" for sid, s in states.items() if not s.ready]
        if failing:
            return False, "; ".join(failing)
        tally = [f"{n} {kind}" for kind in ("leading", "standby") if (n := _count(states, kind))]
        return True, "ok: " + ", ".join(tally)

    def rules_state(self, sid: str | None = None) -> RulesState:
        """The rules of account `sid` (default: `reconciler`'s)."""
        served = self.served()
        reconciler = self.reconciler if sid is None else served[sid]
        told = self.rules if sid is None or len(served) == 1 else self.account_rules.get(sid)
        if told is not None:
            return told()
        ruleset = reconciler.ruleset()
        return RulesState(path="", hash=ruleset.hash, loaded_at=self.started_at, on_disk=None)

    @property
    def sources(self) -> Sources:
        """The pages' read model of `reconciler`'s account."""
        return self.sources_for(None)

    def sources_for(self, sid: str | None) -> Sources:
        """The read model of one account's pages (default: `reconciler`'s), built once.
        With several accounts its links lead under `/accounts/SID/`."""
        served = self.served()
        key = "" if sid is None else sid
        if key not in self._sources:
            reconciler = self.reconciler if sid is None else served[sid]
            several = len(served) > 1 and sid is not None
            self._sources[key] = Sources(
                store=reconciler.store,
                last=lambda: reconciler.last,
                ruleset=reconciler.ruleset,
                rules=lambda: self.rules_state(sid),
                readiness=((lambda: self.account_readiness(key)) if several else self.readiness),
                poll=timedelta(seconds=self.poll_seconds) * self.clock.speed,
                dry_run=reconciler.options.dry_run,
                account=key if several else "",
            )
        return self._sources[key]


@dataclass(frozen=True)
class AccountState:
    """One account on `/readyz`: leading (acting), standby (another daemon holds its lease)
    or failing (not ready: `reason` says why)."""

    state: str
    reason: str

    @property
    def ready(self) -> bool:
        return self.state != "failing"

    @classmethod
    def of(cls, ready: bool, reason: str) -> AccountState:
        if not ready:
            return cls("failing", reason)
        return cls("standby" if reason.startswith("standby") else "leading", reason)


def _count(states: Mapping[str, AccountState], kind: str) -> int:
    return sum(1 for s in states.values() if s.state == kind)


def judge_readiness(
    last: TickReport | None, progress: Progress, *, now: datetime, stall: timedelta
) -> tuple[bool, str]:
    """(ready, reason). Ready: leading and healthy ("ok", or "degraded: …" for a tick that
    worked on a short campaign list), or a standby. Not ready: no tick yet, the database
    unreachable, the last tick failed, or nothing moved for longer than `stall` — a tick
    in progress that keeps reading pages and sending steps is ready however long it runs.
    Purely computational."""
    quiet = now - progress.at if progress.at is not None else None
    if quiet is not None and quiet > stall:
        where = "in the tick in progress" if progress.started else "since the last tick"
        return False, f"no progress for {int(quiet.total_seconds())}s {where}"
    if last is None:
        return False, "no tick has run yet"
    if last.database_unreachable:
        return False, f"database unreachable: {last.error}"
    if not last.ok:
        return False, f"last tick failed: {last.error}"
    if last.standby:
        return True, f"standby: {last.leader or 'another process holds the lease'}"
    if last.warning:
        # Still ready: the daemon acts on what it read, and a failing probe would only
        # restart a pod that a restart cannot fix (README, "Operations").
        return True, f"degraded: {last.warning}"
    return True, "ok"


def make_app(state: WebState) -> web.Application:
    # aiohttp refuses a body of client_max_size bytes or more: MAX_BODY itself is allowed.
    app = web.Application(client_max_size=MAX_BODY + 1)

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "alive"})

    async def readyz(_: web.Request) -> web.Response:
        ready, reason = state.readiness()
        # The top-level fields are `reconciler`'s account's, as with one account; with
        # several, `accounts` has the same fields for each of them.
        body: dict[str, object] = {
            "ready": ready,
            "reason": reason,
            "degraded": reason.startswith("degraded: "),
            **_tick_fields(state, None),
        }
        if state.accounts:
            body["accounts"] = {
                sid: {"state": s.state, "reason": s.reason, **_tick_fields(state, sid)}
                for sid, s in state.account_states().items()
            }
        return web.json_response(body, status=200 if ready else 503)

    def sources(request: web.Request) -> Sources:
        """The read model of the account the path names (`/accounts/SID/…`), else the
        only one's; 404 for an account this daemon does not serve."""
        sid = request.match_info.get("sid")
        if sid is None:
            return state.sources
        if sid not in state.accounts:
            raise web.HTTPNotFound(text=f"no account {sid} here\n")
        return state.sources_for(sid)

    async def index(request: web.Request) -> web.Response:
        if len(state.accounts) > 1 and "sid" not in request.match_info:
            return _html(accounts_page(state.account_states(), state.clock.now()))
        view = await sources(request).overview(state.clock.now())
        return _html(status_page(view))

    async def find_campaign(request: web.Request) -> web.Response:
        # The page's "campaign id" form (a GET, so it works without JavaScript).
        base = account_base(sources(request).account)
        campaign_id = request.query.get("id", "").strip()
        target = f"{base}/campaigns/" + quote(campaign_id, safe="") if campaign_id else f"{base}/"
        raise web.HTTPSeeOther(target)

    async def campaign(request: web.Request) -> web.Response:
        campaign_id = request.match_info["campaign_id"]
        try:
            view = await sources(request).campaign(campaign_id, state.clock.now())
        except StoreUnavailable as exc:  # its message names the database without a password
            return web.Response(text=f"database unreachable: {exc}\n", status=503)
        return _html(campaign_page(view))

    async def metrics(_: web.Request) -> web.Response:
        expose = state.exposition or state.reconciler.metrics.exposition
        return web.Response(
            body=expose(),
            headers={"Content-Type": CONTENT_TYPE_LATEST},
        )

    async def webhook(request: web.Request) -> web.Response:
        if not is_authorized(request, state.token):
            log.warning("rejected webhook from %s: no token or a wrong one", request.remote)
            return web.json_response({"error": "unauthorized"}, status=401)
        try:
            callback = parse_callback(await read_fields(request, within=state.body_timeout))
        except CallbackInvalid as exc:
            log.warning("rejected webhook from %s: %s", request.remote, exc)
            return web.json_response({"error": str(exc)}, status=exc.status)
        status = Status.from_api(callback.status) if callback.status else None
        # At most one such line per 30 s (a RepeatFilter on this logger), with a count.
        log.info(
            "webhook for %s (status %s): early tick requested",
            callback.campaign_id,
            status.value if status else "-",
        )
        state.nudge(callback.campaign_id)
        return web.json_response({"accepted": True}, status=202)

    app.router.add_get("/", index)
    app.router.add_get("/campaigns", find_campaign)
    app.router.add_get("/campaigns/{campaign_id}", campaign)
    # Several accounts: `/` lists them, each with its own pages under /accounts/SID/.
    app.router.add_get("/accounts/{sid}/", index)
    app.router.add_get("/accounts/{sid}/campaigns", find_campaign)
    app.router.add_get("/accounts/{sid}/campaigns/{campaign_id}", campaign)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    app.router.add_post("/webhooks/exotel", webhook)
    return app


def _tick_fields(state: WebState, sid: str | None) -> dict[str, object]:
    """One account's ticks and rules on `/readyz` (default: `reconciler`'s account)."""
    reconciler = state.reconciler if sid is None else state.served()[sid]
    last = reconciler.last
    health = state.sources_for(sid).health()
    return {
        "last_tick": last.at.isoformat() if last else None,
        "tick_in_progress_since": _iso(reconciler.progress.started),
        "ruleset": reconciler.ruleset().hash,
        "rules_rejected": _rejected(state.rules_state(sid)),
        "next_tick": _iso(health.next_tick),
        "leader": health.leader,
    }


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None


def _rejected(rules: RulesState) -> dict[str, object] | None:
    """`/readyz`'s `rules_rejected`: the edit that did not validate, when, and why."""
    rejected = rules.rejected
    if rejected is None:
        return None
    return {
        "hash": rejected.hash,
        "at": rejected.at.isoformat(),
        "problems": list(rejected.problems),
    }


def _html(text: str) -> web.Response:
    # The page is the daemon's own: no framing by other sites, no guessing of types.
    headers = {
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-store",
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
    }
    return web.Response(text=text, content_type="text/html", charset="utf-8", headers=headers)


def is_authorized(request: web.Request, token: str) -> bool:
    """True when no token is configured, or the request carries it. Both sides are hashed
    first, so the comparison takes the same time whatever the length of the guess."""
    if not token:
        return True
    offered = offered_token(request)
    if offered is None:
        return False
    return hmac.compare_digest(_digest(offered), _digest(token))


def offered_token(request: web.Request) -> str | None:
    """The token a request carries: `Authorization: Bearer …`, `X-Lifecycle-Token`, or
    `?token=` (Exotel's callback URLs can carry nothing else)."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.headers.get("X-Lifecycle-Token") or request.query.get("token")


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()
