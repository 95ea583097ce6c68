"""What one HTTP answer means, as a value or as the error the caller acts on.

Pure: takes the request's description and the answer, returns or raises. The client
does the I/O and the retrying; this module only decides.

reads (list/get)                          act (PUT)
  2xx, an answer       → Answer             2xx, every item ok   → ActionResult
  2xx, not JSON        → ApiUnavailable     2xx/207, item failed → ActionRejected
  2xx, JSON not an     → ApiUnavailable
    answer (null, [])
  401/403              → AuthFailed         2xx, unreadable      → OutcomeUnknown
  404                  → NotFound           401/403 → AuthFailed; 404 → NotFound
  429                  → RateLimited        429     → RateLimited (not applied)
  5xx                  → ApiUnavailable     other 4xx → ActionRejected (not applied)
  3xx, other 4xx       → ApiError           3xx, 5xx, other → OutcomeUnknown (maybe applied)

"Not JSON" includes a body too large or too deeply nested to read (`Reply.problem`).
A 2xx PUT with no body is a success; a 2xx PUT whose body cannot be read is doubtful,
not a success: the body might have said the item failed, so the campaign is re-read.
Redirects are never followed (a PUT must reach the host it was meant for, once): a 3xx
on a read is a configuration error; on a PUT it is doubtful (a 303 may mean "done").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from lifecycle.client.answer import Answer, ErrorDetail, answer_from_body, describe
from lifecycle.errors import (
    ActionRejected,
    ApiAnswerInvalid,
    ApiError,
    ApiUnavailable,
    AuthFailed,
    NotFound,
    OutcomeUnknown,
    RateLimited,
)
from lifecycle.model import ACTION_GOAL, Action, Status

# Exotel's two regional clusters; the wrong one answers 401 or 404 (docs/exotel-api.md).
REGIONAL_HOSTS = "api.exotel.com for Singapore, api.in.exotel.com for Mumbai"

# Without Retry-After, wait one whole rate window: a per-minute quota has cleared by then.
DEFAULT_RETRY_AFTER = 60.0


@dataclass(frozen=True)
class Request:
    """What was asked, for messages and logs. Never holds credentials."""

    method: str
    endpoint: str  # "list" | "get" | "action"
    campaign_id: str = ""
    action: Action | None = None
    detail: str = ""  # e.g. the page offset, for logs

    def __str__(self) -> str:
        parts = [
            self.method,
            self.endpoint,
            self.action.value if self.action else "",
            self.campaign_id,
        ]
        return " ".join(p for p in (*parts, self.detail) if p)


@dataclass(frozen=True)
class Reply:
    """One HTTP answer. `body` is the decoded JSON, or None when `is_json` is False."""

    status: int
    body: object = None
    is_json: bool = True
    retry_after: float | None = None
    seconds: float = 0.0
    empty: bool = False  # no body at all (a 204, or a 200 with nothing in it)
    problem: str | None = None  # why the body was not read, e.g. "a body that is not JSON"
    location: str | None = None  # a redirect's Location header


@dataclass(frozen=True)
class ActionResult:
    """A PUT the server accepted. `status` is the campaign's new status when the answer said."""

    campaign_id: str
    action: Action
    http_status: int
    request_id: str | None
    status: Status | None

    @property
    def surprise(self) -> str | None:
        """Why the answer's status is worth a note: it is not the step's target (a pause
        answered with `in-progress`). None when it is, or when the answer gave none."""
        target = ACTION_GOAL[self.action]
        if self.status is None or self.status == target:
            return None
        return f"the answer says the campaign is {self.status.value}, not {target.value}"


def read_answer(request: Request, reply: Reply) -> Answer:
    """The decoded answer to a list/get, or the error to raise (see the module table)."""
    if 200 <= reply.status < 300:
        if not reply.is_json:
            raise ApiUnavailable(
                f"{request}: HTTP {reply.status} with {_unreadable(reply)}",
                http_status=reply.status,
            )
        try:
            return answer_from_body(reply.body)
        except ApiAnswerInvalid as exc:
            # Like a body that is not JSON: a proxy or a server mid-deploy; a read is safe
            # to retry, and a tick that fails on it would fail every tick it lasts.
            raise ApiUnavailable(
                f"{request}: HTTP {reply.status}: {exc}", http_status=reply.status
            ) from exc
    answer = _error_answer(reply)
    _raise_common(request, reply, answer)
    if reply.status >= 500:
        code = answer.error.code if answer.error else None
        raise ApiUnavailable(  # a 503 may say how long it will last
            _message(request, reply, answer),
            retry_after=reply.retry_after,
            http_status=reply.status,
            request_id=answer.request_id,
            code=code,
        )
    raise _error(ApiError, _message(request, reply, answer), reply, answer)


def action_result(request: Request, reply: Reply) -> ActionResult:
    """The result of an action PUT, or the error to raise (see the module table)."""
    assert request.action is not None, "an action request names its action"
    if 200 <= reply.status < 300:
        return _accepted(request, reply)
    answer = _error_answer(reply)
    _raise_common(request, reply, answer)
    if 400 <= reply.status < 500:
        raise _error(ActionRejected, _message(request, reply, answer), reply, answer)
    raise _error(OutcomeUnknown, _message(request, reply, answer), reply, answer)


def _rate_limited(request: Request, reply: Reply, answer: Answer) -> RateLimited:
    wait = reply.retry_after if reply.retry_after is not None else DEFAULT_RETRY_AFTER
    return RateLimited(
        f"{_message(request, reply, answer)}; retry after {wait:g}s",
        retry_after=wait,
        http_status=reply.status,
        request_id=answer.request_id,
        code=answer.error.code if answer.error else None,
    )


def _accepted(request: Request, reply: Reply) -> ActionResult:
    assert request.action is not None
    if reply.empty:
        # The docs never show the success body; a 2xx with none is still a success.
        return ActionResult(request.campaign_id, request.action, reply.status, None, None)
    if not reply.is_json:
        raise OutcomeUnknown(
            f"{request}: HTTP {reply.status} with {_unreadable(reply)}; re-read the campaign",
            http_status=reply.status,
        )
    try:
        answer = answer_from_body(reply.body)
    except ApiAnswerInvalid as exc:
        raise OutcomeUnknown(
            f"{request}: HTTP {reply.status}, {exc}; re-read the campaign"
        ) from exc
    if answer.error is not None:
        code = answer.failed_item.code if answer.failed_item else None
        raise ActionRejected(
            f"{request}: HTTP {reply.status}, item code {code}: {describe(answer.error)}",
            http_status=code or reply.status,
            request_id=answer.request_id,
            code=answer.error.code,
        )
    return ActionResult(
        campaign_id=request.campaign_id,
        action=request.action,
        http_status=reply.status,
        request_id=answer.request_id,
        status=_new_status(answer),
    )


def _new_status(answer: Answer) -> Status | None:
    data = answer.items[0].data if answer.items else None
    if data is None or "status" not in data:
        return None
    return Status.from_api(data["status"])


def _raise_common(request: Request, reply: Reply, answer: Answer) -> None:
    """The answers that mean the same for reads and writes."""
    if reply.status in (401, 403):
        hint = f"check the API key/token, the account SID and the regional host ({REGIONAL_HOSTS})"
        raise _error(AuthFailed, f"{_message(request, reply, answer)}: {hint}", reply, answer)
    if reply.status == 404:
        raise _error(NotFound, _message(request, reply, answer), reply, answer)
    if reply.status == 429:
        raise _rate_limited(request, reply, answer)
    if 300 <= reply.status < 400:
        kind = ApiError if request.method == "GET" else OutcomeUnknown
        raise _error(kind, _redirected(request, reply), reply, answer)


def _redirected(request: Request, reply: Reply) -> str:
    target = reply.location or "no Location"
    then = "" if request.method == "GET" else "; it may have been applied: re-read the campaign"
    return (
        f"{request}: HTTP {reply.status} redirect to {target}, not followed: point "
        f"EXOTEL_BASE_URL at the host that answers{then}"
    )


def _unreadable(reply: Reply) -> str:
    return reply.problem or "a body that is not JSON"


def _error_answer(reply: Reply) -> Answer:
    """Whatever detail an error answer carries; a gateway's HTML page carries none."""
    if not reply.is_json:
        return Answer(error=ErrorDetail(f"the answer has {_unreadable(reply)}"))
    try:
        answer = answer_from_body(reply.body)
    except ApiAnswerInvalid:
        answer = Answer(error=ErrorDetail("the body has no error detail"))
    if answer.error is None or answer.error.message.startswith(_PLACEHOLDERS):
        # Not a documented error grammar, but the server's text beats no detail at all.
        loose = _loose_error(reply.body)
        if loose is not None:
            return replace(answer, error=ErrorDetail(loose))
    return answer


# The texts answer.py and this module write when the server gave none of its own.
_PLACEHOLDERS = ("the item failed with code", "the body has no error detail")


def _loose_error(body: object) -> str | None:
    """An `error` or `message` text at the top, in `response`, or in its first item."""
    places = [body]
    response = body.get("response") if isinstance(body, Mapping) else None
    places.append(response[0] if isinstance(response, list) and response else response)
    for place in places:
        if not isinstance(place, Mapping):
            continue
        for key in ("error", "message", "Message"):
            value = place.get(key)
            if isinstance(value, Mapping):
                value = value.get("message") or value.get("description")
            if isinstance(value, str) and value.strip():
                return value.strip()
    return None


def _message(request: Request, reply: Reply, answer: Answer) -> str:
    return f"{request}: HTTP {reply.status}: {describe(answer.error)}"


def _error(kind: type[ApiError], message: str, reply: Reply, answer: Answer) -> ApiError:
    code = answer.error.code if answer.error else None
    return kind(message, http_status=reply.status, request_id=answer.request_id, code=code)
