"""What the simulator puts on the wire: envelopes, campaign JSON, call rows, timestamps.

Shapes follow docs/exotel-api.md: every JSON answer is a v2 envelope
`{request_id, method, http_code, metadata?, response: [{code, status, error_data, data}]}`,
except call-detail rows (bare, DOC-N) and the optional v1 `RestException` 429 body.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone
from typing import Any

from lifecycle.instant import parse_iso
from lifecycle.model import Status

from .campaign import SimCampaign
from .config import CountsShape, SimulatorConfig, StatusStyle

# Exotel renders Indian accounts' timestamps in IST (docs/exotel-api.md, INF).
IST = timezone(timedelta(hours=5, minutes=30), "IST")

Json = dict[str, Any]


class Refusal(Exception):
    """A request the simulated API answers with an error envelope.

    `code` is the per-item `error_data.code`: the documented numbers where they exist
    (1003 delete-after-start, 1010 auth, 1100 internal), else the HTTP status.
    """

    def __init__(
        self, http_status: int, message: str, *, code: int | None = None, description: str = ""
    ) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.message = message
        self.code = code if code is not None else http_status
        self.description = description or message


def to_rfc3339(value: datetime) -> str:
    return value.astimezone(IST).isoformat(timespec="seconds")


def from_rfc3339(raw: object, field_name: str) -> datetime:
    """Parse an RFC 3339 timestamp with an offset; anything else is a 400 Refusal."""
    if not isinstance(raw, str):
        raise Refusal(400, f"{field_name} must be an RFC 3339 string")
    try:
        value = parse_iso(raw)
    except ValueError:
        raise Refusal(400, f"{field_name} is not RFC 3339: {raw!r}") from None
    if value.tzinfo is None:
        raise Refusal(400, f"{field_name} has no UTC offset: {raw!r}")
    return value


def render_status(status: Status, style: StatusStyle) -> str:
    return status.to_api() if style == "pascal" else status.value


def campaign_item(campaign: SimCampaign, config: SimulatorConfig) -> Json:
    """A success item holding the campaign, with its counts where `config.counts` puts them."""
    item = success_item(render_campaign(campaign, config.status_style, counts=config.counts))
    if config.counts == "summary-item":
        item["summary"] = _render_summary(campaign)
    return item


def render_campaign(
    campaign: SimCampaign, style: StatusStyle, *, counts: CountsShape = "stats"
) -> Json:
    """The campaign object of §5 (minimal form), with `stats` or a `summary` per `counts`."""
    body: Json = {
        "id": campaign.id,
        "account_sid": campaign.account_sid,
        "name": campaign.name,
        "type": "trans",
        "caller_id": campaign.caller_id,
        "campaign_type": "static",
        "schedule": _render_schedule(campaign),
        "status": render_status(campaign.status, style),
        "call_duplicate_numbers": False,
        "mode": campaign.mode,
        "throttle": campaign.throttle_cpm,
        "custom_field": campaign.custom_field,
        "date_created": to_rfc3339(campaign.date_created),
        "date_updated": to_rfc3339(campaign.date_updated),
        "uri": f"/v2/accounts/{campaign.account_sid}/campaigns/{campaign.id}",
    }
    if counts in ("stats", "stats-no-completed"):
        body["stats"] = campaign.stats(with_completed=counts == "stats")
    elif counts == "summary-data":
        body["summary"] = _render_summary(campaign)
    if campaign.from_numbers:
        body["from"] = list(campaign.from_numbers)
    else:
        body["lists"] = list(campaign.lists)
    return body


def _render_schedule(campaign: SimCampaign) -> Json:
    schedule: Json = {}
    if campaign.send_at is not None:
        schedule["send_at"] = to_rfc3339(campaign.send_at)
    if campaign.end_at is not None:
        schedule["end_at"] = to_rfc3339(campaign.end_at)
    return schedule


def _render_summary(campaign: SimCampaign) -> Json:
    dialled = campaign.dialled
    failed = campaign.failures_among(dialled)
    return {
        "campaign_sid": campaign.id,
        "call_scheduled": campaign.numbers,
        "call_initialized": dialled,
        "call_completed": dialled - failed,
        "call_failed": failed + campaign.force_failed,
        "call_inprogress": 0,
        "DateCreated": to_rfc3339(campaign.date_created),
    }


_FAILED_CALL_STATUSES = ("failed", "busy", "no-answer")


def render_call(campaign: SimCampaign, index: int) -> Json:
    """One call-detail row (DOC-N keys) for the `index`-th dialled number."""
    failed = campaign.is_failed_call(index)
    status = _FAILED_CALL_STATUSES[index % 3] if failed else "completed"
    duration = 0 if failed else 15 + index % 46
    ended = campaign.dialled_time(index)
    return {
        "call_sid": hashlib.md5(f"{campaign.id}:{index}".encode()).hexdigest(),
        "number": number_at(campaign, index),
        "name": "",
        "status": status,
        "duration": duration,
        "date_created": to_rfc3339(ended - timedelta(seconds=duration)),
        "start_time": to_rfc3339(ended - timedelta(seconds=duration)),
        "end_time": to_rfc3339(ended),
        "caller_id": campaign.caller_id,
        "direction": "Outgoing",
        "digit": "1" if not failed and index % 4 == 0 else "",
        "recording_url": None,
    }


def number_at(campaign: SimCampaign, index: int) -> str:
    if index < len(campaign.from_numbers):
        return campaign.from_numbers[index]
    base = int(hashlib.md5(campaign.id.encode()).hexdigest()[:8], 16)
    return f"+9198{(base + index) % 100_000_000:08d}"


def success_item(data: object, code: int = 200) -> Json:
    return {"code": code, "status": "success", "error_data": None, "data": data}


def failure_item(refusal: Refusal) -> Json:
    error = {"code": refusal.code, "message": refusal.message, "description": refusal.description}
    return {"code": refusal.http_status, "status": "failure", "error_data": error, "data": None}


def envelope(
    request_id: str,
    method: str,
    http_code: int,
    items: list[Json],
    metadata: Json | None = None,
) -> Json:
    body: Json = {"request_id": request_id, "method": method, "http_code": http_code}
    if metadata is not None:
        body["metadata"] = metadata
    body["response"] = items
    return body


def rest_exception(status: int, message: str, code: str) -> Json:
    """The v1 error grammar, as DOC-N shows it for 429."""
    return {"RestException": {"Status": status, "Message": message, "Code": code}}


GATEWAY_PAGE = (
    "<html><head><title>{status} {reason}</title></head>"
    "<body><center><h1>{status} {reason}</h1></center><hr><center>nginx</center></body></html>"
)
