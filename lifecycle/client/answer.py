"""Reading Exotel's answers: envelopes, per-item results, error details, campaign objects.

Pure functions over decoded JSON; no I/O. The shapes accepted (docs/exotel-api.md):

- v2: `{request_id, method?, http_code, metadata?, response: [item…] | item}` where an
  item is `{code, status: "success"|"failure", error_data, data}`; per-item codes can
  report errors inside a 2xx/207 answer, so every item is checked on its own.
- bare campaign objects in `response` (no `data` wrapper), as some pages show.
- call counts in three places (§0): a `summary` beside `data` in the item (the
  update-campaign body), a `summary` inside the campaign object, and its `stats` map.
- v1 errors: `{"RestException": {"Status", "Message", "Code"?}}`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from lifecycle.errors import ApiAnswerInvalid
from lifecycle.instant import parse_instant
from lifecycle.model import CallCounts, Campaign, CountSource, Status

log = logging.getLogger("lifecycle.client")

_FAILURE_STATUSES = frozenset({"failure", "failed", "error"})

# What a campaign's fields may hold to be reasoned about. Beyond these a value is bad data:
# years outside this span overflow date arithmetic (an `end_at` in 9999 plus a grace
# period), counts beyond this bound overflow a database integer column, and a NUL cannot
# be stored by PostgreSQL at all.
_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
_LATEST = datetime(2200, 1, 1, tzinfo=UTC)
_MAX_COUNT = 2**31 - 1
_MAX_ID_LENGTH = 200  # how much of a bad id an error quotes
_PLAIN_ID = re.compile(r"[A-Za-z0-9._~-]{1,128}")


@dataclass(frozen=True)
class ErrorDetail:
    """What the server said went wrong: `error_data` or a v1 `RestException`."""

    message: str
    code: int | None = None


@dataclass(frozen=True)
class Item:
    """One element of `response`. `data` is the resource when the item succeeded."""

    ok: bool
    code: int | None = None
    data: Mapping[str, object] | None = None
    error: ErrorDetail | None = None
    summary: Mapping[str, int] | None = None  # a `summary` beside `data`, as reported


@dataclass(frozen=True)
class Answer:
    """A decoded body. `error` is the first thing the server reported as failed, if any."""

    request_id: str | None = None
    items: tuple[Item, ...] = ()
    total: int | None = None
    limit: int | None = None
    error: ErrorDetail | None = None
    failed_item: Item | None = None


def answer_from_body(body: object) -> Answer:
    """Decode any v2 or v1 body; raises ApiAnswerInvalid when it is neither."""
    if not isinstance(body, Mapping):
        raise ApiAnswerInvalid("the answer is not a JSON object")
    request_id = _opt_str(body.get("request_id"))
    rest = body.get("RestException")
    if isinstance(rest, Mapping):
        return Answer(request_id=request_id, error=_rest_exception(rest))
    items = tuple(_item(raw) for raw in _raw_items(body, request_id))
    failed = next((item for item in items if not item.ok), None)
    metadata = body.get("metadata")
    meta = metadata if isinstance(metadata, Mapping) else {}
    return Answer(
        request_id=request_id,
        items=items,
        total=_opt_int(meta.get("total")),
        limit=_opt_int(meta.get("limit")),
        error=failed.error if failed else None,
        failed_item=failed,
    )


def campaigns_from_body(body: object) -> list[Campaign]:
    """The campaigns in a list or get answer (or a snapshot file holding one), in order.

    Items the server marked as failed, and items that are not valid campaigns, are logged
    and skipped: one bad row must not hide every other campaign. Raises ApiAnswerInvalid
    when the body itself is not an answer, or is an error answer.
    """
    return campaigns_from_answer(answer_from_body(body))


def campaigns_from_answer(answer: Answer) -> list[Campaign]:
    """As `campaigns_from_body`, for an answer already decoded."""
    if answer.error is not None and not answer.items:
        raise ApiAnswerInvalid(
            f"the answer is an error: {answer.error.message}", request_id=answer.request_id
        )
    return [c for c in (_campaign_or_none(item, answer.request_id) for item in answer.items) if c]


def campaign_from_item(item: Item) -> Campaign:
    """The campaign in a successful item, with a `summary` found beside its `data`."""
    if item.data is None:
        raise ApiAnswerInvalid("the item holds no campaign")
    return campaign_from_api(item.data, item_summary=item.summary)


def campaign_from_api(
    data: Mapping[str, object], *, item_summary: Mapping[str, int] | None = None
) -> Campaign:
    """One campaign object (§5) as a Campaign; raises ApiAnswerInvalid naming the bad field.

    Only `id` is required. Unknown statuses become Status.UNKNOWN (never acted on);
    timestamps become aware UTC, and an unreadable one becomes None with a warning;
    `stats` and `summary` keep only integer counts; send_at/end_at come from `schedule`.
    A summary beside `data` (`item_summary`) wins over one inside the campaign object.
    """
    campaign_id = _required_id(data)
    schedule = data.get("schedule")
    # The documented place is `schedule`; a flat send_at/end_at is read when it is absent.
    plan = schedule if isinstance(schedule, Mapping) else data
    raw_status = data.get("status")
    return Campaign(
        id=campaign_id,
        name=_text(data, "name", campaign_id),
        status=Status.from_api(raw_status),
        raw_status=raw_status if isinstance(raw_status, str) else "",
        type=_loose_text(data, "type", campaign_id) or "trans",
        caller_id=_loose_text(data, "caller_id", campaign_id),
        custom_field=_loose_text(data, "custom_field", campaign_id),
        send_at=_timestamp(plan, "schedule.send_at", campaign_id),
        end_at=_timestamp(plan, "schedule.end_at", campaign_id),
        date_created=_timestamp(data, "date_created", campaign_id),
        date_updated=_timestamp(data, "date_updated", campaign_id),
        stats=_counts(data.get("stats")),
        summary=_summary(item_summary, data.get("summary")),
    )


def describe(error: ErrorDetail | None) -> str:
    """A short human text for an error detail (never contains a request header)."""
    if error is None:
        return "no error detail given"
    return f"{error.message} (code {error.code})" if error.code is not None else error.message


def _raw_items(body: Mapping[str, object], request_id: str | None) -> list[object]:
    response = body.get("response")
    if isinstance(response, Mapping):
        return [response]
    if isinstance(response, list):
        return response
    raise ApiAnswerInvalid("the answer has no 'response' array or object", request_id=request_id)


def _item(raw: object) -> Item:
    if not isinstance(raw, Mapping):
        return Item(ok=False, error=ErrorDetail("a response item is not an object"))
    if "data" not in raw and ("id" in raw or "sid" in raw):
        return Item(ok=True, data=raw)  # a bare campaign: its `status` is the campaign's
    code = _opt_int(raw.get("code"))
    status = raw.get("status")
    failed = (code is not None and code >= 400) or (
        isinstance(status, str) and status.lower() in _FAILURE_STATUSES
    )
    data, summary = raw.get("data"), raw.get("summary")
    return Item(
        ok=not failed,
        code=code,
        data=data if isinstance(data, Mapping) else None,
        error=_error_data(raw.get("error_data"), code) if failed else None,
        summary=_counts(summary) if isinstance(summary, Mapping) else None,
    )


def _error_data(raw: object, item_code: int | None) -> ErrorDetail:
    if not isinstance(raw, Mapping):
        return ErrorDetail(f"the item failed with code {item_code}", code=None)
    parts = [p for p in (_opt_str(raw.get("message")), _opt_str(raw.get("description"))) if p]
    message = ": ".join(dict.fromkeys(parts)) or f"the item failed with code {item_code}"
    return ErrorDetail(message, code=_opt_int(raw.get("code")))


def _rest_exception(raw: Mapping[str, object]) -> ErrorDetail:
    message = _opt_str(raw.get("Message")) or "no message"
    code = raw.get("Code")
    if isinstance(code, str) and not code.isdigit():
        return ErrorDetail(f"{message} ({code})")
    return ErrorDetail(message, code=_opt_int(code))


def _campaign_or_none(item: Item, request_id: str | None) -> Campaign | None:
    if not item.ok or item.data is None:
        log.warning(
            "skipping a list item: code=%s request_id=%s error=%s",
            item.code,
            request_id,
            describe(item.error) if item.error else "no data",
        )
        return None
    try:
        return campaign_from_api(item.data, item_summary=item.summary)
    except ApiAnswerInvalid as exc:
        log.warning("skipping an invalid campaign item: %s request_id=%s", exc, request_id)
        return None


def _required_id(data: Mapping[str, object]) -> str:
    # `id` is canonical; some answers (and the SMS API) call it `sid`.
    value = data.get("id", data.get("sid"))
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str) or not value.strip():
        raise ApiAnswerInvalid(
            f"campaign item has no valid 'id' field (got {type(value).__name__})"
        )
    if not is_plain_id(value):
        raise ApiAnswerInvalid(
            f"campaign id {value[:_MAX_ID_LENGTH]!r} is not a plain path segment"
        )
    return value


def is_plain_id(campaign_id: str) -> bool:
    """Whether an id can name a campaign in a URL path segment, unescaped, and in a database
    row as it is: 1 to 128 URL-unreserved characters (RFC 3986), and not `.` or `..`, which
    a URL would normalise into some other resource."""
    return campaign_id not in (".", "..") and _PLAIN_ID.fullmatch(campaign_id) is not None


def _has_control(value: str) -> bool:
    return any(ord(ch) < 32 or 127 <= ord(ch) < 160 for ch in value)


def _text(data: Mapping[str, object], name: str, campaign_id: str) -> str:
    value = data.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ApiAnswerInvalid(
            f"campaign {campaign_id}: field '{name}' is {type(value).__name__}, not a string"
        )
    if _has_control(value):  # rules match on it: a cleaned-up name would be another name
        raise ApiAnswerInvalid(f"campaign {campaign_id}: field '{name}' holds a control character")
    return value


def _loose_text(data: Mapping[str, object], name: str, campaign_id: str) -> str:
    """A field we only display: a wrong type is logged, not worth losing the campaign over."""
    value = data.get(name)
    if value is None or (isinstance(value, str) and not _has_control(value)):
        return value or ""
    if isinstance(value, str):
        log.warning("campaign %s: ignoring %s holding a control character", campaign_id, name)
        return ""
    log.warning(
        "campaign %s: ignoring non-text %s of type %s", campaign_id, name, type(value).__name__
    )
    return ""


def _timestamp(data: Mapping[str, object], name: str, campaign_id: str) -> datetime | None:
    """Aware UTC, or None. A missing value is normal (the schedule is optional), so only
    an unreadable one is logged."""
    key = name.rsplit(".", 1)[-1]
    value = data.get(key)
    if value is None or value == "":
        return None
    parsed = _instant(value)
    if parsed is None:
        log.warning("campaign %s: ignoring unreadable %s %r", campaign_id, name, value)
    elif not _EARLIEST <= parsed < _LATEST:
        log.warning("campaign %s: ignoring %s %r, outside 1970-2200", campaign_id, name, value)
        return None
    return parsed


def _instant(value: object) -> datetime | None:
    """RFC 3339 with an offset, or None: without one the instant is unknown, and a guessed
    zone would shift every rule."""
    if not isinstance(value, str):
        return None
    try:
        return parse_instant(value)
    except ValueError:
        return None


def _counts(raw: object) -> dict[str, int]:
    """The integer counts in a `stats` or `summary` map; a negative or absurdly large one
    is dropped (with a warning) like any other unreadable count."""
    if not isinstance(raw, Mapping):
        return {}
    counts = {str(k): v for k, v in raw.items() if isinstance(v, int) and not isinstance(v, bool)}
    wild = [k for k, v in counts.items() if not 0 <= v <= _MAX_COUNT]
    if wild:
        log.warning("ignoring call counts outside 0..%d: %s", _MAX_COUNT, ", ".join(wild))
    return {k: v for k, v in counts.items() if k not in wild}


def _summary(beside: Mapping[str, int] | None, inside: object) -> CallCounts | None:
    if beside is not None:
        return CallCounts.from_summary(beside, CountSource.SUMMARY_ITEM)
    if isinstance(inside, Mapping):
        return CallCounts.from_summary(_counts(inside), CountSource.SUMMARY_DATA)
    return None


def _opt_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _opt_str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
