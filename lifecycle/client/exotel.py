"""ExotelClient: the only code in the project that speaks HTTP to Exotel.

Reads (list/get) are retried here, with exponential backoff and full jitter, on anything
that says "try again" (ApiUnavailable, RateLimited). An action PUT is sent exactly once
and never retried here: after a doubtful answer only a re-read can tell what happened,
and the cycle does that. Every request, retries included, holds a slot of the account's
RateLimiter from before it leaves until its answer is in; an action may be given a slot
the caller took earlier (`slot()`), so that the wait comes before its intent is written.
Every wait (rate slot, Retry-After, read back-off) goes through the injected `sleep`: the
daemon passes one that raises `Interrupted` when it stops. Credentials travel only in the
Authorization header, and redirects are never followed.

What comes back is bounded: a body past MAX_BODY_BYTES, a list past its page budget, JSON
nested past the recursion limit and a Retry-After past 300 s (README, "Limits on answers").
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import math
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol, Self, TypeVar
from urllib.parse import quote

import aiohttp
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt
from tenacity.wait import wait_random_exponential
from yarl import URL

from lifecycle.client.answer import (
    Answer,
    CampaignReader,
    campaign_from_item,
    campaigns_from_answer,
    describe,
    is_plain_id,
)
from lifecycle.client.limiter import RateLimiter, Reservation, Sleep, Slot, limiter_for
from lifecycle.client.listing import Listing
from lifecycle.client.verdict import (
    REGIONAL_HOSTS,
    ActionResult,
    Reply,
    Request,
    action_result,
    read_answer,
)
from lifecycle.errors import (
    ActionRejected,
    ApiAnswerInvalid,
    ApiError,
    ApiUnavailable,
    ConfigError,
    NotFound,
    NotSent,
    OutcomeUnknown,
    RateLimited,
)
from lifecycle.model import Action, Campaign, Status
from lifecycle.settings import Settings

log = logging.getLogger("lifecycle.client")

PAGE_LIMIT = 500  # the documented maximum: fewer requests per poll
_SORT = "date_created:asc"  # stable order keeps offset paging from skipping rows
_CONNECT_TIMEOUT = 10.0
_BACKOFF = wait_random_exponential(multiplier=0.5, max=30)  # full jitter
_MAX_RETRY_AFTER = 300.0  # a Retry-After beyond this is a misconfigured gateway
# A page of 500 campaigns is well under 1 MiB; 32 MiB is room for fat stats maps, and
# stops a small gzip that inflates to gigabytes before it is in memory.
MAX_BODY_BYTES = 32 * 1024 * 1024
_CHUNK = 64 * 1024
# Pages per list: what metadata.total needs plus slack, and never more than this (100,000
# campaigns at 500 a page): pages that keep changing must not hold a tick forever.
MAX_PAGES = 200
_PAGE_SLACK = 5
# An id goes into the URL path: only RFC 3986 unreserved characters, never "." or "..".


@dataclass(frozen=True)
class RequestOutcome:
    """One HTTP exchange, for metrics. `http_status` is None when no answer came."""

    method: str
    endpoint: str  # "list" | "get" | "action"
    http_status: int | None
    seconds: float
    error: str | None  # the error class raised, e.g. "RateLimited"


class ExotelClient:
    """The Exotel Campaigns API v2 for one account. Use as `async with ExotelClient(...)`."""

    def __init__(
        self,
        *,
        base_url: str,
        account_sid: str,
        api_key: str,
        api_token: str,
        rate_per_minute: float = 30.0,
        timeout: float = 30.0,
        max_read_attempts: int = 4,
        limiter: RateLimiter | None = None,
        sleep: Sleep = asyncio.sleep,
        observer: Callable[[RequestOutcome], None] | None = None,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        if URL(base_url).user is not None:
            # Saying which URL would print the secret we refuse to carry.
            raise ConfigError("the Exotel base URL must not contain credentials")
        self._base = base_url.rstrip("/")
        self._account = account_sid
        self._headers = {"Authorization": _basic_auth(api_key, api_token)}
        self._timeout = aiohttp.ClientTimeout(total=timeout, connect=min(timeout, _CONNECT_TIMEOUT))
        self._attempts = max(1, max_read_attempts)
        if limiter is None:
            limiter = limiter_for(self._base, account_sid, rate_per_minute)
        self._limiter = limiter
        self._sleep = sleep
        self._observer = observer
        self._session = session
        self._owns_session = session is None

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        observer: Callable[[RequestOutcome], None] | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> Self:
        """The client the daemon and the commands use, configured from Settings."""
        return cls(
            base_url=settings.exotel_base_url,
            account_sid=settings.exotel_account_sid,
            api_key=settings.exotel_api_key.get_secret_value(),
            api_token=settings.exotel_api_token.get_secret_value(),
            rate_per_minute=settings.api_rate_per_minute,
            timeout=settings.http_timeout_seconds,
            sleep=sleep,
            observer=observer,
        )

    def __repr__(self) -> str:
        return f"ExotelClient(base_url={self._base!r}, account_sid={self._account!r})"

    @property
    def limiter(self) -> RateLimiter:
        return self._limiter

    def slot(self) -> Reservation:
        """`async with client.slot() as slot`: wait for a rate slot now, to pass to `act`."""
        return self._limiter.slot(sleep=self._sleep)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP session if this client opened it; a session passed in stays open."""
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    async def list_campaigns(self, *, statuses: Collection[Status] | None = None) -> Listing:
        """Every campaign (or those in `statuses`), oldest first, each id once.

        Pages with limit=500 until `metadata.total` is reached (or an empty page when the
        answer has no metadata). A row seen twice (offset paging over a changing set) keeps
        its later reading. Failed or malformed rows are logged and skipped. A list that
        ends short of `metadata.total`, or on a page that repeats the one before (a server
        that ignores `offset`), is logged as an ERROR and comes back with
        `complete=False`: the caller acts on what was read, and a campaign not read is
        unknown, not gone. So does a list stopped by its page budget (`_page_budget`), and
        a row whose id is not a plain path segment is skipped as unreadable.

        Each page is read into campaigns as it arrives, and its JSON dropped before the next
        is asked for; one CampaignReader serves every page, so the fleet holds each
        repeated text, timestamp and stats key set once.
        """
        params = _list_params(statuses)
        if params is None:
            return Listing()
        found: dict[str, Campaign] = {}
        offset: int | None = 0
        previous: tuple[object, ...] | None = None
        total: int | None = None
        repeated = False
        unreadable = 0
        pages, budget = 0, MAX_PAGES
        reader = CampaignReader()  # one for every page: the fleet shares what repeats
        while offset is not None:
            if pages >= budget:
                break
            answer = await self._list_page(offset, params)
            budget = _page_budget(answer) if not pages else budget
            pages += 1
            page = campaigns_from_answer(answer, reader)  # rows with a bad id are skipped there
            key = (len(answer.items), *(c.id for c in page))
            if key == previous:  # the server ignored offset: more pages would be the same
                repeated = True
                break
            unreadable += len(answer.items) - len(page)
            found.update((c.id, c) for c in page)
            total = answer.total
            offset = _next_offset(offset, answer)
            previous = key
        cut = pages if offset is not None and not repeated else None
        listing = Listing(tuple(found.values()), total, repeated, unreadable, cut)
        if not listing.complete:
            log.error("incomplete campaign list for %s: %s", self._account, listing.shortfall)
        return listing

    async def _list_page(self, offset: int, params: Mapping[str, str | int]) -> Answer:
        request = Request("GET", "list", detail=f"offset={offset}")
        try:
            return await self._read(request, "", {**params, "offset": offset})
        except NotFound as exc:
            if offset:
                raise
            # Exotel answers 404 for a wrong regional endpoint too, not only a wrong SID.
            raise NotFound(
                f"HTTP 404 listing campaigns for account {self._account} at {self._base}: "
                f"check the account SID and the regional host ({REGIONAL_HOSTS}) [{exc}]",
                http_status=exc.http_status,
                request_id=exc.request_id,
                code=exc.code,
            ) from exc

    async def get_campaign(self, campaign_id: str) -> Campaign:
        """One campaign; NotFound when the API says it does not exist, ApiAnswerInvalid when
        the answer is about another campaign."""
        request = Request("GET", "get", campaign_id)
        answer = await self._read(request, _segment(campaign_id, NotFound), None)
        item = answer.items[0] if answer.items else None
        if item is None or (item.ok and item.data is None):
            raise ApiAnswerInvalid(
                f"{request}: the answer holds no campaign", request_id=answer.request_id
            )
        if not item.ok:
            kind = NotFound if item.code == 404 else ApiError
            raise kind(
                f"{request}: item code {item.code}: {describe(item.error)}",
                http_status=item.code,
                request_id=answer.request_id,
            )
        assert item.data is not None
        campaign = campaign_from_item(item)
        if campaign.id != campaign_id:
            raise ApiAnswerInvalid(
                f"{request}: asked for campaign {campaign_id}, answered with {campaign.id}",
                request_id=answer.request_id,
            )
        return campaign

    async def act(
        self,
        campaign_id: str,
        action: Action,
        *,
        slot: Slot | None = None,
        send_by: float | None = None,
    ) -> ActionResult:
        """Send one lifecycle action: exactly one PUT, no read first, never retried here.

        With `slot` (from `slot()`), the PUT leaves at once on that slot; without, it waits
        for one first. Raises ActionRejected (refused, not applied), RateLimited (not
        applied; every caller is held back for Retry-After), AuthFailed, NotFound,
        ApiUnavailable (no connection could be made, so not applied) or OutcomeUnknown (it
        may have been applied: re-read the campaign).

        `send_by` (`time.monotonic()` seconds): when the PUT would be handed to the HTTP
        session later than this, it is not sent at all and NotSent is raised. The monotonic
        clock counts on through a SIGSTOP, so a process frozen after its lease check sends
        nothing on waking.
        """
        request = Request("PUT", "action", campaign_id, action)
        body = {"campaigns": [{"action": action.value}]}
        path = _segment(campaign_id, ActionRejected)
        reply = await self._exchange(request, path, json_body=body, slot=slot, send_by=send_by)
        return self._judge(request, reply, action_result)

    async def _read(
        self, request: Request, suffix: str, params: Mapping[str, str | int] | None
    ) -> Answer:
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._attempts),
            wait=_read_wait,
            retry=retry_if_exception_type(ApiUnavailable),
            sleep=self._sleep,
            before_sleep=_log_retry,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                reply = await self._exchange(request, suffix, params=params)
                return self._judge(request, reply, read_answer)
        raise AssertionError("tenacity either returns or re-raises")  # pragma: no cover

    async def _exchange(
        self,
        request: Request,
        suffix: str,
        *,
        params: Mapping[str, str | int] | None = None,
        json_body: object = None,
        slot: Slot | None = None,
        send_by: float | None = None,
    ) -> Reply:
        """One rate-limited HTTP round trip; raises only when no answer came back."""
        if slot is None:
            async with self.slot() as own:
                return await self._exchange(
                    request, suffix, params=params, json_body=json_body, slot=own, send_by=send_by
                )
        url = f"{self._base}/v2/accounts/{quote(self._account, safe='')}/campaigns{suffix}"
        if send_by is not None and (late := time.monotonic() - send_by) > 0:
            raise NotSent(f"{request}: not sent, {late:.3f}s past its time to leave")
        started = time.perf_counter()
        slot.use()
        try:
            async with self._http().request(
                request.method,
                url,
                params=params,
                json=json_body,
                headers=self._headers,
                timeout=self._timeout,
                allow_redirects=False,  # see verdict.py: a 3xx is an answer, not a detour
                middlewares=None if request.method == "GET" else (_send_once,),
            ) as response:
                raw = await _body(response)
                return _reply(response, raw, time.perf_counter() - started)
        except (TimeoutError, aiohttp.ClientError) as exc:
            error = _unanswered(request, exc)
            self._record(request, None, time.perf_counter() - started, error)
            raise error from exc
        finally:
            slot.finish()  # the request arrived, if at all, before now

    def _judge(self, request: Request, reply: Reply, judge: Callable[[Request, Reply], T]) -> T:
        """Run a verdict and record it; a 429 holds back every caller of this account."""
        try:
            result = judge(request, reply)
        except ApiError as exc:
            self._record(request, reply.status, reply.seconds, exc)
            if isinstance(exc, RateLimited):
                self._limiter.block_for(exc.retry_after)
            raise
        self._record(request, reply.status, reply.seconds, None, result.request_id)
        return result

    def _record(
        self,
        request: Request,
        status: int | None,
        seconds: float,
        error: ApiError | None,
        request_id: str | None = None,
    ) -> None:
        if self._observer is not None:
            kind = type(error).__name__ if error else None
            self._observer(RequestOutcome(request.method, request.endpoint, status, seconds, kind))
        if error is not None:
            request_id = error.request_id
        level = logging.DEBUG if request.method == "GET" else logging.INFO
        log.log(
            logging.WARNING if error else level,
            "%s -> HTTP %s request_id=%s in %.3fs%s",
            request,
            status if status is not None else "none",
            request_id,
            seconds,
            f": {error}" if error else "",
        )

    def _http(self) -> aiohttp.ClientSession:
        # Created on first use: a ClientSession must be born inside a running loop.
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session


class _Identified(Protocol):
    @property
    def request_id(self) -> str | None: ...


T = TypeVar("T", bound=_Identified)


def _list_params(statuses: Collection[Status] | None) -> dict[str, str | int] | None:
    """Query parameters for a list; None when the filter can match nothing."""
    params: dict[str, str | int] = {"limit": PAGE_LIMIT, "sort_by": _SORT}
    if statuses is None:
        return params
    wanted = sorted({s.to_api() for s in statuses if s != Status.UNKNOWN})
    if not wanted:
        return None
    params["status"] = ",".join(wanted)
    return params


def _next_offset(offset: int, answer: Answer) -> int | None:
    """The next page's offset, or None after the last page.

    Advances by the rows actually returned, since a server may cap a page below the
    `limit` asked for without saying so. With `metadata.total`, pages end there; without
    it, only an empty page ends them (one request more, but no campaign missed). The
    caller also stops on a page with the same rows as the one before: a server that
    ignores `offset` cannot keep us paging forever.
    """
    if not answer.items:
        return None
    following = offset + len(answer.items)
    if answer.total is not None:
        return following if following < answer.total else None
    return following


def _basic_auth(key: str, token: str) -> str:
    # Built by hand: aiohttp.BasicAuth is deprecated, and its repr shows the password.
    return "Basic " + base64.b64encode(f"{key}:{token}".encode()).decode("ascii")


def _page_budget(first: Answer) -> int:
    """How many pages a list may take, judged from its first page."""
    if first.total is None or not first.items:
        return MAX_PAGES
    return min(MAX_PAGES, math.ceil(first.total / len(first.items)) + _PAGE_SLACK)


def _segment(campaign_id: str, refused: type[ApiError]) -> str:
    """The URL path for one campaign; `refused` (nothing is sent) for an id that is not
    a plain segment: "..", a slash or an escape would address some other resource."""
    if not is_plain_id(campaign_id):
        raise refused(f"campaign id {campaign_id!r} is not a plain path segment; not sent")
    return "/" + campaign_id


async def _body(response: aiohttp.ClientResponse) -> bytes | None:
    """The (inflated) body, or None once it grows past MAX_BODY_BYTES: reading stops."""
    body = bytearray()
    async for chunk in response.content.iter_chunked(_CHUNK):
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            return None
    return bytes(body)


def _reply(response: aiohttp.ClientResponse, raw: bytes | None, seconds: float) -> Reply:
    body, problem = _decode(raw)
    return Reply(
        response.status,
        body,
        problem is None,
        _seconds(response.headers.get("Retry-After")),
        seconds,
        empty=raw is not None and not raw.strip(),
        problem=problem,
        location=response.headers.get("Location"),
    )


def _decode(raw: bytes | None) -> tuple[object, str | None]:
    """The JSON body, or None and why it could not be read."""
    if raw is None:
        return None, f"a body larger than {MAX_BODY_BYTES // 2**20} MiB (not read)"
    try:
        return json.loads(raw), None
    except RecursionError:  # the C decoder stops at the interpreter's recursion limit
        return None, "a JSON body nested too deeply to read"
    except ValueError:
        return None, "a body that is not JSON"  # an empty one too


def _seconds(header: str | None) -> float | None:
    """Retry-After as delta-seconds, at most _MAX_RETRY_AFTER (an `inf` would block every
    caller for good); an HTTP-date, NaN or junk gives None: the default wait."""
    try:
        value = float(header) if header is not None else None
    except ValueError:
        return None
    if value is None or not value >= 0:  # `not >=` also catches NaN
        return None
    return min(value, _MAX_RETRY_AFTER)


class ConnectionDropped(aiohttp.ClientError):
    """The connection closed before an answer, on a request that must not be re-sent."""


async def _send_once(
    request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
) -> aiohttp.ClientResponse:
    """Keep aiohttp from re-sending a write after a dropped connection.

    aiohttp silently sends an idempotent request (PUT included) a second time when the
    connection drops before the answer. For an action that breaks "exactly one PUT": the
    first may have been applied, and the second would then be refused (or worse, apply a
    step twice for one observation). Re-raised under a name aiohttp does not retry.
    """
    try:
        return await handler(request)
    except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError):
        raise  # never sent, and aiohttp does not retry these
    except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as exc:
        raise ConnectionDropped(f"{type(exc).__name__}: {exc}") from exc


def _unanswered(request: Request, exc: BaseException) -> ApiError:
    """The error for a request that got no answer. Only a PUT that may have left is doubtful."""
    what = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if isinstance(exc, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError):
        return ApiUnavailable(f"{request}: could not connect ({what})")
    if request.method != "GET":
        return OutcomeUnknown(f"{request}: no answer ({what}); it may have been applied")
    return ApiUnavailable(f"{request}: no answer ({what})")


def _read_wait(state: RetryCallState) -> float:
    error = state.outcome.exception() if state.outcome else None
    if isinstance(error, RateLimited):
        return 0.0  # the limiter already holds every caller back for Retry-After
    if isinstance(error, ApiUnavailable) and error.retry_after is not None:
        return min(error.retry_after, _MAX_RETRY_AFTER)  # a 503 that said when to come back
    return _BACKOFF(state)


def _log_retry(state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome else None
    wait = state.next_action.sleep if state.next_action else 0.0
    log.warning("read attempt %d failed (%s); retrying in %.2fs", state.attempt_number, error, wait)
