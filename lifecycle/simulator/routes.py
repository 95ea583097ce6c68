"""The HTTP routes of the simulated Campaigns API v2, under `/v2/accounts/{sid}`."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import TYPE_CHECKING, Any

from aiohttp import web

from lifecycle.model import Status

from .bodies import parse_create, parse_update, unwrap
from .campaign import SimCampaign
from .config import TAG_HEADER
from .gate import Gate, read_json
from .wire import Json, Refusal, campaign_item, envelope, render_call

if TYPE_CHECKING:
    from .account import Simulator

MAX_LIMIT = 500
_SORT_KEYS: dict[str, Callable[[SimCampaign], Any]] = {
    "date_created": lambda c: (c.date_created, c.id),
    "name": lambda c: (c.name, c.id),
}
_CALL_STATUSES = frozenset({"completed", "failed", "busy", "no-answer"})


def build_app(sim: Simulator) -> web.Application:
    routes = CampaignRoutes(sim)
    app = web.Application(middlewares=[Gate(sim).middleware])
    base = "/v2/accounts/{sid}/campaigns"
    app.router.add_get(base, routes.list_campaigns)
    app.router.add_post(base, routes.create_campaign)
    app.router.add_get(base + "/{id}", routes.get_campaign)
    app.router.add_put(base + "/{id}", routes.update_campaign)
    app.router.add_delete(base + "/{id}", routes.delete_campaign)
    app.router.add_get(base + "/{id}/call-details", routes.call_details)
    return app


class CampaignRoutes:
    """One handler per endpoint. Auth, limits and faults are the Gate's business."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim

    async def list_campaigns(self, request: web.Request) -> web.Response:
        query = request.query
        offset, limit = self._window(query)
        statuses = self._status_filter(query.get("status"))
        name = query.get("name", "").lower()
        field, descending = _sort_order(query.get("sort_by", "date_created:asc"), _SORT_KEYS)
        chosen = self._sorted(field)
        hide_deleted = self.sim.config.deleted != "listed"
        if query.get("type", "trans") != "trans":
            chosen = []
        elif statuses is not None or name or hide_deleted:
            chosen = [
                c
                for c in chosen
                if (statuses is None or c.status in statuses)
                and self._visible(c)
                and name in c.name.lower()
            ]
        if descending:
            chosen = chosen[::-1]
        page = chosen[offset : offset + limit]
        items = [self._item(c) for c in page]
        meta = {"count": len(page), "offset": offset, "total": len(chosen), "limit": limit}
        return self._answer(request, items, metadata=meta)

    async def get_campaign(self, request: web.Request) -> web.Response:
        campaign = self.sim.find(request.match_info["id"])
        if not self._visible(campaign):
            raise Refusal(404, f"campaign {campaign.id} not found")
        return self._answer(request, [self._item(campaign)])

    async def create_campaign(self, request: web.Request) -> web.Response:
        item = unwrap(await read_json(request), strict=self.sim.config.strict_body)
        campaign = self.sim.create(parse_create(item))
        return self._answer(request, [self._item(campaign)])

    async def update_campaign(self, request: web.Request) -> web.Response:
        item = unwrap(await read_json(request), strict=self.sim.config.strict_body)
        tag = request.headers.get(TAG_HEADER)
        campaign = self.sim.update(request.match_info["id"], parse_update(item), tag=tag)
        return self._answer(request, [self._item(campaign)])

    async def delete_campaign(self, request: web.Request) -> web.Response:
        campaign = self.sim.delete(request.match_info["id"])
        return self._answer(request, [self._item(campaign)])

    async def call_details(self, request: web.Request) -> web.Response:
        """Bare rows, one per finished call (DOC-N), with list metadata."""
        campaign = self.sim.find(request.match_info["id"])
        query = request.query
        offset = _int_param(query, "offset", 0, minimum=0)
        limit = _int_param(query, "limit", 20, minimum=1)
        wanted = _call_status_filter(query.get("status"))
        _, descending = _sort_order(query.get("sort_by", "date_created:asc"), ("date_created",))
        rows = [render_call(campaign, i) for i in range(campaign.dialled)]
        rows = [r for r in rows if wanted is None or r["status"] in wanted]
        if descending:
            rows.reverse()
        page = rows[offset : offset + limit]
        meta = {"count": len(page), "offset": offset, "total": len(rows), "limit": limit}
        return self._answer(request, page, metadata=meta)

    def _status_filter(self, raw: str | None) -> frozenset[Status] | None:
        """The statuses a list asks for, as this simulated server reads `status`."""
        mode = self.sim.config.status_filter
        if mode == "ignore" or raw is None or not raw.strip():
            return None
        if "," in raw and mode == "reject":
            raise Refusal(400, f"status must be one status, got {raw!r}")
        if "," in raw and mode == "single":
            return frozenset()  # "InProgress,Paused" taken as one status name: matches none
        return _status_filter(raw)

    def _visible(self, campaign: SimCampaign) -> bool:
        """False for a deleted campaign on a server that drops them from answers."""
        return campaign.status != Status.DELETED or self.sim.config.deleted == "listed"

    def _sorted(self, field: str) -> list[SimCampaign]:
        """Every campaign in `field` order, ascending (ids break ties): not to be mutated.

        The default order is the simulator's cached one, so reading 100,000 campaigns page
        by page does not sort them once per page; names may change, so they are sorted anew.
        """
        if field == "date_created":
            return self.sim.in_creation_order()
        return sorted(self.sim.campaigns(), key=_SORT_KEYS[field])

    def _window(self, query: Mapping[str, str]) -> tuple[int, int]:
        """(offset, limit) of a list page, by offset/limit or, in "page" mode, page/page_size."""
        if self.sim.config.paging == "page":
            size = _int_param(query, "page_size", 20, minimum=1)
            return (_int_param(query, "page", 1, minimum=1) - 1) * size, size
        return _int_param(query, "offset", 0, minimum=0), self._limit(query)

    def _limit(self, query: Mapping[str, str]) -> int:
        limit = _int_param(query, "limit", 20, minimum=1)
        if limit <= MAX_LIMIT:
            return limit
        if self.sim.config.over_max_limit == "clamp":
            return MAX_LIMIT
        raise Refusal(400, f"limit must be at most {MAX_LIMIT}")

    def _item(self, campaign: SimCampaign) -> Json:
        return campaign_item(campaign, self.sim.config)

    def _answer(
        self, request: web.Request, items: list[Json], *, metadata: Json | None = None
    ) -> web.Response:
        body = envelope(self.sim.new_request_id(), request.method, 200, items, metadata)
        return web.json_response(body)


def _int_param(query: Mapping[str, str], name: str, default: int, *, minimum: int) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise Refusal(400, f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise Refusal(400, f"{name} must be at least {minimum}")
    return value


def _status_filter(raw: str | None) -> frozenset[Status] | None:
    """`InProgress`, `in-progress`, `inprogress`… all mean the same status."""
    if raw is None or not raw.strip():
        return None
    statuses = {Status.from_api(part.strip()) for part in raw.split(",") if part.strip()}
    if Status.UNKNOWN in statuses:
        raise Refusal(400, f"unknown status in filter {raw!r}")
    return frozenset(statuses)


def _call_status_filter(raw: str | None) -> frozenset[str] | None:
    if raw is None or not raw.strip():
        return None
    wanted = frozenset(part.strip().lower() for part in raw.split(",") if part.strip())
    if not wanted <= _CALL_STATUSES:
        raise Refusal(400, f"unknown call status in filter {raw!r}")
    return wanted


def _sort_order(raw: str, fields: Collection[str]) -> tuple[str, bool]:
    """`field:asc|desc` → (field, descending); DOC-L also writes `Date_created`."""
    field, _, direction = raw.lower().partition(":")
    direction = direction or "asc"
    if field not in fields or direction not in ("asc", "desc"):
        raise Refusal(400, f"sort_by must be one of {', '.join(fields)} with :asc or :desc")
    return field, direction == "desc"
