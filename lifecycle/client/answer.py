"""Reading Exotel's answers: envelopes, per-item results, error details, campaign objects.

Pure functions over decoded JSON; no I/O. The shapes accepted (docs/exotel-api.md):

- v2: `{request_id, method?, http_code, metadata?, response: [item…] | item}` where an
  item is `{code, status: "success"|"failure", error_data, data}`; per-item codes can
  report errors inside a 2xx/207 answer, so every item is checked on its own.
- bare campaign objects in `response` (no `data` wrapper), as some pages show.
- call counts in three places (§0): a `summary` beside `data` in the item (the
  update-campaign body), a `summary` inside the campaign object, and its `stats` map.
- v1 errors: `{"RestException": {"Status", "Message", "Code"?}}`.

Campaign objects are read by a `CampaignReader`: one per list, across all its pages, so
what repeats across a fleet (status spellings, type, caller id, custom field, timestamps,
the key set of a stats map) is held once. The common shape goes through a fast path
(exact types, cached timestamps, no per-character scans); anything else falls back to
the checks that name what is wrong, with the same result and the same warnings.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NamedTuple, TypeGuard

from lifecycle.errors import ApiAnswerInvalid
from lifecycle.instant import parse_instant
from lifecycle.model import NO_COUNTS, CallCounts, Campaign, CountMap, CountSource, Status

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
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")  # C0, DEL and C1: never in a name we match
# How many distinct values a reader shares, per table. A fleet repeats a handful of each;
# a fleet of unique values must not grow a table as large as itself.
_SHARED_MAX = 4096


@dataclass(frozen=True, slots=True)
class ErrorDetail:
    """What the server said went wrong: `error_data` or a v1 `RestException`."""

    message: str
    code: int | None = None


class Item(NamedTuple):
    """One element of `response`. `data` is the resource when the item succeeded.

    A named tuple: a list page makes 500 of these, and a tuple is the cheapest immutable
    record to build."""

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


def campaigns_from_answer(answer: Answer, reader: CampaignReader | None = None) -> list[Campaign]:
    """As `campaigns_from_body`, for an answer already decoded. Pass the same `reader` for
    every page of one list, so that the pages share what repeats."""
    if answer.error is not None and not answer.items:
        raise ApiAnswerInvalid(
            f"the answer is an error: {answer.error.message}", request_id=answer.request_id
        )
    read = (reader or CampaignReader()).campaign_or_none
    return [c for c in (read(item, answer.request_id) for item in answer.items) if c is not None]


def campaign_from_item(item: Item) -> Campaign:
    """The campaign in a successful item, with a `summary` found beside its `data`."""
    if item.data is None:
        raise ApiAnswerInvalid("the item holds no campaign")
    return CampaignReader().campaign(item.data, item.summary)


def campaign_from_api(
    data: Mapping[str, object], *, item_summary: Mapping[str, int] | None = None
) -> Campaign:
    """One campaign object (§5) as a Campaign; raises ApiAnswerInvalid naming the bad field.

    Only `id` is required. Unknown statuses become Status.UNKNOWN (never acted on);
    timestamps become aware UTC, and an unreadable one becomes None with a warning;
    `stats` and `summary` keep only integer counts; send_at/end_at come from `schedule`.
    A summary beside `data` (`item_summary`) wins over one inside the campaign object.
    """
    return CampaignReader().campaign(data, item_summary)


class CampaignReader:
    """Reads campaign objects into Campaigns, sharing equal values between them.

    Use one reader for one list (every page of it) and then drop it. It keeps, each
    bounded by _SHARED_MAX, the short texts it has checked (status spelling, type, caller
    id, custom field: the first string read stands for every equal one after it), the
    timestamps it has parsed (by their exact text, cleared when full), and the key sets
    of count maps (one key table per shape, see `CountMap`). A value is only ever shared
    with an equal one: the tables are dicts keyed by the value itself.
    """

    __slots__ = ("_instants", "_shapes", "_statuses", "_texts")

    def __init__(self) -> None:
        self._statuses: dict[str, tuple[str, Status]] = {}
        self._texts: dict[str, str] = {}
        self._instants: dict[str, datetime] = {}
        self._shapes: dict[tuple[str, ...], dict[str, int]] = {}

    def campaign_or_none(self, item: Item, request_id: str | None) -> Campaign | None:
        """The item's campaign, or None (logged) for a failed or invalid item."""
        if not item.ok or item.data is None:
            log.warning(
                "skipping a list item: code=%s request_id=%s error=%s",
                item.code,
                request_id,
                describe(item.error) if item.error else "no data",
            )
            return None
        try:
            return self.campaign(item.data, item.summary)
        except ApiAnswerInvalid as exc:
            log.warning("skipping an invalid campaign item: %s request_id=%s", exc, request_id)
            return None

    def campaign(
        self, data: Mapping[str, object], item_summary: Mapping[str, int] | None = None
    ) -> Campaign:
        """As `campaign_from_api`."""
        value = data.get("id")
        if type(value) is str and _PLAIN_ID.fullmatch(value) and value not in (".", ".."):
            campaign_id = value
        else:
            campaign_id = _required_id(data)
        schedule = data.get("schedule")
        # The documented place is `schedule`; a flat send_at/end_at is read when it is absent.
        plan = schedule if _is_map(schedule) else data
        raw_status, status = self._status(data.get("status"))
        name = data.get("name")
        if type(name) is not str or _CONTROL.search(name) is not None:
            name = _text(data, "name", campaign_id)
        summary = data.get("summary")
        return Campaign(
            campaign_id,
            name,
            status,
            raw_status,
            self._text(data, "type", campaign_id) or "trans",
            self._text(data, "caller_id", campaign_id),
            self._text(data, "custom_field", campaign_id),
            self._instant(plan, "send_at", "schedule.send_at", campaign_id),
            self._instant(plan, "end_at", "schedule.end_at", campaign_id),
            self._instant(data, "date_created", "date_created", campaign_id),
            self._instant(data, "date_updated", "date_updated", campaign_id),
            self.counts(data.get("stats")),
            None
            if item_summary is None and summary is None
            else self._summary(item_summary, summary),
        )

    def counts(self, raw: object) -> Mapping[str, int]:
        """The integer counts in a `stats` or `summary` map (see `_counts`), as a CountMap
        sharing its key table with every map of the same keys; NO_COUNTS for none."""
        if type(raw) is dict and raw:
            values = tuple(raw.values())
            for value in values:
                if type(value) is not int or not 0 <= value <= _MAX_COUNT:
                    break
            else:
                keys = tuple(raw)
                index = self._shapes.get(keys)
                if index is None and all(type(key) is str for key in keys):
                    index = {key: i for i, key in enumerate(keys)}
                    if len(self._shapes) < _SHARED_MAX:
                        self._shapes[keys] = index
                if index is not None:
                    return CountMap(index, values)
        counts = _counts(raw)  # the slow path: drops what is not a count, and says so
        return self.counts(counts) if counts else NO_COUNTS

    def _status(self, raw: object) -> tuple[str, Status]:
        """The status as written (shared) and as understood; ("", UNKNOWN) for no text."""
        if type(raw) is not str:
            return (raw, Status.from_api(raw)) if isinstance(raw, str) else ("", Status.UNKNOWN)
        known = self._statuses.get(raw)
        if known is None:
            known = (raw, Status.from_api(raw))
            if len(self._statuses) < _SHARED_MAX:
                self._statuses[raw] = known
        return known

    def _share(self, value: str) -> str:
        """`value`, or the equal string read before it."""
        shared = self._texts.get(value)
        if shared is not None:
            return shared
        if len(self._texts) < _SHARED_MAX:
            self._texts[value] = value
        return value

    def _text(self, data: Mapping[str, object], name: str, campaign_id: str) -> str:
        """A short, repeated text we only display or match (`_loose_text`), shared."""
        value = data.get(name)
        if value is None:
            return ""
        if type(value) is str:
            shared = self._texts.get(value)
            if shared is not None:
                return shared
            if _CONTROL.search(value) is None:
                return self._share(value)
        return _loose_text(data, name, campaign_id)

    def _instant(
        self, data: Mapping[str, object], key: str, name: str, campaign_id: str
    ) -> datetime | None:
        """As `_timestamp`: the common RFC 3339 text is parsed once per reader; anything
        else (blank, no offset, out of range, not text) goes the way that logs it."""
        value = data.get(key)
        if type(value) is not str:
            return _timestamp(data, name, campaign_id)
        known = self._instants.get(value)
        if known is not None:
            return known
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return _timestamp(data, name, campaign_id)
        if parsed.tzinfo is None:
            return _timestamp(data, name, campaign_id)
        if parsed.tzinfo is not UTC:
            parsed = parsed.astimezone(UTC)
        if not _EARLIEST <= parsed < _LATEST:
            return _timestamp(data, name, campaign_id)
        if len(self._instants) >= _SHARED_MAX:
            self._instants.clear()
        self._instants[value] = parsed
        return parsed

    def _summary(self, beside: Mapping[str, int] | None, inside: object) -> CallCounts | None:
        if beside is not None:
            return CallCounts.from_summary(self.counts(beside), CountSource.SUMMARY_ITEM)
        if isinstance(inside, Mapping):
            return CallCounts.from_summary(self.counts(inside), CountSource.SUMMARY_DATA)
        return None


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
    if not _is_map(raw):
        return Item(ok=False, error=ErrorDetail("a response item is not an object"))
    if "data" not in raw and ("id" in raw or "sid" in raw):
        return Item(ok=True, data=raw)  # a bare campaign: its `status` is the campaign's
    code = raw.get("code")
    if type(code) is not int:
        code = _opt_int(code)
    status = raw.get("status")
    failed = (code is not None and code >= 400) or (
        status != "success" and isinstance(status, str) and status.lower() in _FAILURE_STATUSES
    )
    data, summary = raw.get("data"), raw.get("summary")
    return Item(
        not failed,
        code,
        data if _is_map(data) else None,
        _error_data(raw.get("error_data"), code) if failed else None,
        _counts(summary) if summary is not None and _is_map(summary) else None,
    )


def _is_map(value: object) -> TypeGuard[Mapping[str, object]]:
    """isinstance(value, Mapping), quick for the dicts JSON decodes into."""
    return type(value) is dict or isinstance(value, Mapping)


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
    return _CONTROL.search(value) is not None


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
