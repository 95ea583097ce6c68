"""The HTTP handlers: `/healthz`, `/readyz`, `/metrics` and the Exotel webhook receiver.

Webhooks are hints, never truth: a valid callback only asks for an early tick, which then
re-reads the campaigns (callbacks can be late, duplicated or missing: docs/exotel-api.md).
With LIFECYCLE_WEBHOOK_TOKEN set, a callback must carry it (`?token=`, `Authorization:
Bearer`, or `X-Lifecycle-Token`), compared in constant time; without it, 401 and no detail.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from lifecycle.clock import Clock
from lifecycle.cycle import Progress, Reconciler, TickReport
from lifecycle.model import Status
from lifecycle.web.callbacks import MAX_BODY, CallbackInvalid, parse_callback, read_fields

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

    def readiness(self) -> tuple[bool, str]:
        """(ready, reason), from the last tick and the one in progress: `judge_readiness`."""
        stall = timedelta(seconds=3 * self.poll_seconds) * self.clock.speed
        reconciler = self.reconciler
        return judge_readiness(
            reconciler.last, reconciler.progress, now=self.clock.now(), stall=stall
        )


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
        last = state.reconciler.last
        body = {
            "ready": ready,
            "reason": reason,
            "degraded": reason.startswith("degraded: "),
            "last_tick": last.at.isoformat() if last else None,
            "tick_in_progress_since": _iso(state.reconciler.progress.started),
            "ruleset": state.reconciler.ruleset().hash,
        }
        return web.json_response(body, status=200 if ready else 503)

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(
            body=state.reconciler.metrics.exposition(),
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

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    app.router.add_post("/webhooks/exotel", webhook)
    return app


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None


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
