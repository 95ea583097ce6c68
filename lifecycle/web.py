"""The daemon's HTTP side: `/healthz`, `/readyz`, `/metrics` and the Exotel webhook receiver.

Webhooks are hints, never truth: a valid callback only asks for an early tick, which then
re-reads the campaigns (callbacks can be late, duplicated or missing: docs/exotel-api.md).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import parse_qsl

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from lifecycle.clock import Clock
from lifecycle.cycle import Progress, Reconciler, TickReport
from lifecycle.errors import ConfigError
from lifecycle.model import Status

log = logging.getLogger("lifecycle.web")

_MAX_BODY = 64 * 1024
_CAMPAIGN_KEYS = ("campaign_sid", "CampaignSid", "campaign_id")
_STATUS_KEYS = ("status", "Status", "FinalStatus")


class CallbackInvalid(ValueError):
    """A webhook body we cannot use; the message names what is wrong."""


@dataclass(frozen=True)
class Callback:
    campaign_id: str
    status: str | None


def parse_callback(fields: Mapping[str, object]) -> Callback:
    """Accept both key styles Exotel documents (snake_case and PascalCase)."""
    campaign = next((fields[k] for k in _CAMPAIGN_KEYS if k in fields), None)
    if not isinstance(campaign, str) or not campaign.strip():
        raise CallbackInvalid(f"missing campaign id: expected one of {', '.join(_CAMPAIGN_KEYS)}")
    if len(campaign) > 64 or not campaign.replace("-", "").replace("_", "").isalnum():
        raise CallbackInvalid("campaign_sid: not an Exotel id")
    status = next((fields[k] for k in _STATUS_KEYS if k in fields), None)
    if status is not None and not isinstance(status, str):
        raise CallbackInvalid("status: must be a string")
    return Callback(campaign_id=campaign.strip(), status=status)


async def _read_fields(request: web.Request) -> Mapping[str, object]:
    if request.content_length is not None and request.content_length > _MAX_BODY:
        raise CallbackInvalid(f"body larger than {_MAX_BODY} bytes")
    raw = await request.content.read(_MAX_BODY + 1)
    if len(raw) > _MAX_BODY:
        raise CallbackInvalid(f"body larger than {_MAX_BODY} bytes")
    if request.content_type == "application/json":
        try:
            body = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise CallbackInvalid(f"body is not valid JSON: {exc.msg} at char {exc.pos}") from None
        except UnicodeDecodeError:
            raise CallbackInvalid("body is not UTF-8") from None
        if not isinstance(body, dict):
            raise CallbackInvalid("JSON body must be an object")
        return body
    try:
        return dict(parse_qsl(raw.decode("utf-8"), strict_parsing=bool(raw)))
    except (UnicodeDecodeError, ValueError):
        raise CallbackInvalid("body is neither JSON nor form-encoded") from None


@dataclass
class WebState:
    """What the HTTP handlers need from the daemon."""

    reconciler: Reconciler
    clock: Clock
    poll_seconds: float
    nudge: Callable[[str], None]  # tick soon: `daemon.TickJob.nudge`
    started_at: datetime

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
        return True, "standby: another process holds the lease"
    if last.warning:
        # Still ready: the daemon acts on what it read, and a failing probe would only
        # restart a pod that a restart cannot fix (README, "Operations").
        return True, f"degraded: {last.warning}"
    return True, "ok"


def make_app(state: WebState) -> web.Application:
    app = web.Application(client_max_size=_MAX_BODY)

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
        try:
            callback = parse_callback(await _read_fields(request))
        except CallbackInvalid as exc:
            log.warning("rejected webhook from %s: %s", request.remote, exc)
            return web.json_response({"error": str(exc)}, status=400)
        status = Status.from_api(callback.status) if callback.status else None
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


async def start(state: WebState, host: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(make_app(state), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as exc:
        await runner.cleanup()
        raise ConfigError(f"LIFECYCLE_HTTP={host}:{port}: cannot listen: {exc.strerror}") from None
    log.info("http listening on %s:%d (/healthz /readyz /metrics /webhooks/exotel)", host, port)
    return runner


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None
