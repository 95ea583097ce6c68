"""The Exotel client: pure parsing and verdicts from dict fixtures, the rate limiter on
virtual time, and the whole client against the simulator over real loopback HTTP."""

from __future__ import annotations

import asyncio
import logging
import math
import re
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lifecycle.client import (
    ActionResult,
    ExotelClient,
    Listing,
    RateLimiter,
    RequestOutcome,
    campaign_from_api,
    campaigns_from_body,
    limiter_for,
)
from lifecycle.client.answer import answer_from_body
from lifecycle.client.verdict import Reply, Request, action_result, read_answer
from lifecycle.clock import FixedClock, stoppable_sleep
from lifecycle.errors import (
    ActionRejected,
    ApiAnswerInvalid,
    ApiError,
    ApiUnavailable,
    AuthFailed,
    ConfigError,
    Interrupted,
    NotFound,
    OutcomeUnknown,
    RateLimited,
)
from lifecycle.model import Action, Status
from lifecycle.simulator import Fault, RequestRecord, Simulator, SimulatorConfig, running
from lifecycle.simulator.config import FaultKind

# ---------------------------------------------------------------------------------------------
# Pure parsing: campaign objects and envelopes from dict fixtures (no event loop, no server).
# ---------------------------------------------------------------------------------------------

CAMPAIGN: dict[str, object] = {
    "id": "491dd6c97d64475ba0ce346a18530ce5",
    "account_sid": "acme1",
    "name": "jan_reminders",
    "type": "trans",
    "caller_id": "0XXXXXX4890",
    "custom_field": "batch-7",
    "schedule": {"send_at": "2024-01-15T09:00:00+05:30", "end_at": "2024-01-15T18:00:00Z"},
    "status": "InProgress",
    "date_created": "2024-01-14T16:30:00+05:30",
    "date_updated": "2024-01-15T09:00:02.250+05:30",
    "stats": {"completed": 40, "failed": 5, "failed-dnd": 2, "pending": "939", "retry": None},
}


def envelope(*items: object, **extra: object) -> dict[str, object]:
    return {
        "request_id": "745d624f47004b71bf72e6cb7d58a25b",
        "http_code": 200,
        **extra,
        "response": list(items),
    }


def ok_item(data: object) -> dict[str, object]:
    return {"code": 200, "error_data": None, "status": "success", "data": data}


def failed_item(code: int, message: str) -> dict[str, object]:
    error = {"code": code, "message": message, "description": f"{message} (details)"}
    return {"code": code, "status": "failure", "data": None, "error_data": error}


def test_campaign_from_api_reads_every_field_as_utc() -> None:
    c = campaign_from_api(CAMPAIGN)
    assert (c.id, c.name, c.type, c.caller_id, c.custom_field) == (
        "491dd6c97d64475ba0ce346a18530ce5",
        "jan_reminders",
        "trans",
        "0XXXXXX4890",
        "batch-7",
    )
    assert (c.status, c.raw_status) == (Status.IN_PROGRESS, "InProgress")
    assert c.send_at == datetime(2024, 1, 15, 3, 30, tzinfo=UTC)
    assert c.end_at == datetime(2024, 1, 15, 18, 0, tzinfo=UTC)
    assert c.date_created == datetime(2024, 1, 14, 11, 0, tzinfo=UTC)
    assert c.date_updated == datetime(2024, 1, 15, 3, 30, 2, 250000, tzinfo=UTC)
    assert all(
        t is not None and t.utcoffset() == timedelta(0)
        for t in (c.send_at, c.end_at, c.date_created, c.date_updated)
    )
    assert dict(c.stats) == {"completed": 40, "failed": 5, "failed-dnd": 2}  # non-ints ignored


def test_campaign_from_api_accepts_sid_and_a_flat_schedule() -> None:
    flat = {
        "sid": "909d2a2ba53ce07f3784668b938eb449",
        "status": "paused",
        "send_at": "2024-01-15T09:00:00+05:30",
        "end_at": "2024-01-15T18:00:00+05:30",
    }
    c = campaign_from_api(flat)
    assert (c.id, c.status) == ("909d2a2ba53ce07f3784668b938eb449", Status.PAUSED)
    assert (c.send_at, c.end_at) == (
        datetime(2024, 1, 15, 3, 30, tzinfo=UTC),
        datetime(2024, 1, 15, 12, 30, tzinfo=UTC),
    )
    assert [x.id for x in campaigns_from_body(envelope(flat))] == [flat["sid"]]


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        ("InProgress", Status.IN_PROGRESS),
        ("in-progress", Status.IN_PROGRESS),
        ("in_progress", Status.IN_PROGRESS),
        ("INPROGRESS", Status.IN_PROGRESS),
        ("Paused", Status.PAUSED),
        ("Cancelled", Status.CANCELED),
        ("archived", Status.ARCHIVED),
        ("Scheduled", Status.UNKNOWN),
        (None, Status.UNKNOWN),
        (7, Status.UNKNOWN),
    ],
)
def test_campaign_status_is_normalised_and_unknown_is_quarantined(
    raw: object, status: Status
) -> None:
    assert campaign_from_api({"id": "c1", "status": raw}).status == status


@pytest.mark.parametrize(
    "bad", ["yesterday", "2024-01-15 09:00:00", 1705300000, "2024-13-01T00:00:00Z"]
)
def test_unreadable_timestamps_become_none_with_a_warning(
    bad: object, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "lifecycle.client")
    c = campaign_from_api(
        {"id": "c1", "status": "Paused", "date_updated": bad, "schedule": {"end_at": bad}}
    )
    assert (c.date_updated, c.end_at) == (None, None)
    assert any("date_updated" in r.getMessage() for r in caplog.records)
    assert any("schedule.end_at" in r.getMessage() for r in caplog.records)


def test_missing_optional_fields_are_defaults_without_noise(
    caplog: pytest.LogCaptureFixture,
) -> None:
    c = campaign_from_api({"id": "c1", "status": "Created"})
    assert (c.name, c.send_at, c.end_at, c.date_created, dict(c.stats)) == (
        "",
        None,
        None,
        None,
        {},
    )
    assert not caplog.records


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"name": "x", "status": "Paused"}, "'id'"),
        ({"id": "", "status": "Paused"}, "'id'"),
        ({"id": ["c1"]}, "'id'"),
        ({"id": "c1", "name": {"en": "x"}}, "'name'"),
    ],
)
def test_a_malformed_campaign_names_the_field(data: dict[str, object], field: str) -> None:
    with pytest.raises(ApiAnswerInvalid, match=field):
        campaign_from_api(data)


def test_single_object_response_is_one_campaign() -> None:
    body = {
        "request_id": "r1",
        "http_code": 200,
        "response": ok_item({"id": "c1", "status": "Paused"}),
    }
    assert [(c.id, c.status) for c in campaigns_from_body(body)] == [("c1", Status.PAUSED)]


def test_bare_campaign_rows_are_accepted_and_their_status_is_not_an_item_failure() -> None:
    body = envelope({"id": "c1", "status": "Failed"}, {"id": "c2", "status": "in-progress"})
    assert [(c.id, c.status) for c in campaigns_from_body(body)] == [
        ("c1", Status.FAILED),
        ("c2", Status.IN_PROGRESS),
    ]


def test_failed_and_malformed_items_are_skipped_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, "lifecycle.client")
    body = envelope(
        ok_item({"id": "c1", "status": "Paused"}),
        failed_item(409, "busy"),
        ok_item({"name": "no id", "status": "Paused"}),
        "junk",
        {"code": 200, "status": "success", "data": None},
        ok_item({"id": "c2", "status": "Completed"}),
        metadata={"total": 6},
    )
    assert [c.id for c in campaigns_from_body(body)] == ["c1", "c2"]
    text = caplog.text
    assert "busy" in text and "'id'" in text and "745d624f47004b71bf72e6cb7d58a25b" in text


def test_an_answer_without_metadata_still_parses() -> None:
    body = {"response": [ok_item({"id": "c1", "status": "Created"})]}
    answer = answer_from_body(body)
    assert (answer.total, answer.limit, answer.request_id) == (None, None, None)
    assert [c.id for c in campaigns_from_body(body)] == ["c1"]


@pytest.mark.parametrize(
    "body",
    [
        [],
        "<html>",
        {"request_id": "r"},
        {"response": "nope"},
        {"RestException": {"Status": 429, "Message": "Too many requests"}},
    ],
)
def test_bodies_that_are_not_campaign_answers_are_invalid(body: object) -> None:
    with pytest.raises(ApiAnswerInvalid):
        campaigns_from_body(body)


# ---------------------------------------------------------------------------------------------
# Pure verdicts: what an HTTP answer means for a read and for an action.
# ---------------------------------------------------------------------------------------------

PAUSE = Request("PUT", "action", "c1", Action.PAUSE)
GET = Request("GET", "get", "c1")


def test_an_accepted_action_reports_the_new_status() -> None:
    reply = Reply(200, envelope(ok_item({"id": "c1", "status": "Paused"})))
    assert action_result(PAUSE, reply) == ActionResult(
        "c1", Action.PAUSE, 200, "745d624f47004b71bf72e6cb7d58a25b", Status.PAUSED
    )


def test_an_accepted_action_without_campaign_data_has_no_status() -> None:
    assert action_result(PAUSE, Reply(200, envelope(ok_item(None)))).status is None


@pytest.mark.parametrize("status", [200, 204])
def test_an_accepted_action_with_no_body_is_a_success(status: int) -> None:
    reply = Reply(status, None, is_json=False, empty=True)
    assert action_result(PAUSE, reply) == ActionResult("c1", Action.PAUSE, status, None, None)


def test_a_per_item_409_inside_a_207_is_a_rejection() -> None:
    reply = Reply(207, envelope(failed_item(409, "Campaign is not paused"), http_code=207))
    with pytest.raises(ActionRejected, match="Campaign is not paused") as caught:
        action_result(PAUSE, reply)
    assert (caught.value.http_status, caught.value.request_id) == (
        409,
        "745d624f47004b71bf72e6cb7d58a25b",
    )
    assert caught.value.code == 409


def test_a_per_item_failure_status_without_code_is_a_rejection() -> None:
    reply = Reply(200, envelope({"status": "failure", "error_data": {"description": "nope"}}))
    with pytest.raises(ActionRejected, match="nope"):
        action_result(PAUSE, reply)


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (Reply(400, envelope(failed_item(400, "illegal"))), ActionRejected),
        (Reply(422, None, is_json=False), ActionRejected),
        (Reply(401, envelope(failed_item(1010, "Authentication failed"))), AuthFailed),
        (Reply(403, None, is_json=False), AuthFailed),
        (Reply(404, envelope(failed_item(404, "no such campaign"))), NotFound),
        (Reply(500, envelope(failed_item(1100, "internal"))), OutcomeUnknown),
        (Reply(502, None, is_json=False), OutcomeUnknown),
        (Reply(200, None, is_json=False), OutcomeUnknown),
        (Reply(200, {"unexpected": True}), OutcomeUnknown),
    ],
)
def test_action_answers_map_to_what_the_caller_does_next(
    reply: Reply, error: type[Exception]
) -> None:
    with pytest.raises(error) as caught:
        action_result(PAUSE, reply)
    assert type(caught.value) is error


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (Reply(200, None, is_json=False), ApiUnavailable),
        (Reply(503, None, is_json=False), ApiUnavailable),
        (Reply(500, envelope(failed_item(1100, "internal"))), ApiUnavailable),
        (Reply(401, None, is_json=False), AuthFailed),
        (Reply(404, None, is_json=False), NotFound),
        (Reply(400, envelope(failed_item(400, "limit too big"))), ApiError),
        (Reply(200, {"no": "response"}), ApiUnavailable),  # a read of a bad shape is retried
        (Reply(200, None), ApiUnavailable),  # JSON null
        (Reply(200, []), ApiUnavailable),
    ],
)
def test_read_answers_map_to_what_the_caller_does_next(
    reply: Reply, error: type[Exception]
) -> None:
    with pytest.raises(error) as caught:
        read_answer(GET, reply)
    assert type(caught.value) is error


def test_a_v1_rest_exception_429_is_rate_limited_for_retry_after() -> None:
    body = {
        "RestException": {
            "Status": 429,
            "Message": "Too many requests",
            "Code": "RATE_LIMIT_EXCEEDED",
        }
    }
    with pytest.raises(RateLimited, match="RATE_LIMIT_EXCEEDED") as caught:
        action_result(PAUSE, Reply(429, body, retry_after=7.0))
    assert (caught.value.retry_after, caught.value.http_status) == (7.0, 429)


def test_a_429_without_retry_after_waits_a_whole_minute() -> None:
    with pytest.raises(RateLimited) as caught:
        read_answer(GET, Reply(429, None, is_json=False))
    assert caught.value.retry_after == 60.0


# ---------------------------------------------------------------------------------------------
# RateLimiter on virtual time: the fake sleep advances the fake clock, nothing really waits.
# ---------------------------------------------------------------------------------------------


class VirtualTime:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


def limiter_on(
    time: VirtualTime, rate: float, burst: int | None = None, margin: float = 1.0
) -> RateLimiter:
    return RateLimiter(rate, burst=burst, margin=margin, monotonic=time.monotonic, sleep=time.sleep)


async def send_times(limiter: RateLimiter, time: VirtualTime, n: int) -> list[float]:
    """Send `n` requests one after another, each answered at once; when each left."""
    times = []
    for _ in range(n):
        async with limiter.slot() as slot:
            slot.use()
            times.append(time.now)
    return times


def most_in_any_minute(times: list[float], window: float = 60.0) -> int:
    # A hair of tolerance: virtual time is float sums, the server counts whole instants.
    return max(sum(1 for t in times if start <= t < start + window - 1e-6) for start in times)


async def test_n_requests_take_at_least_n_minus_burst_over_rate_minutes() -> None:
    time = VirtualTime()
    limiter = limiter_on(time, 30)
    times = await send_times(limiter, time, 70)
    assert limiter.burst == 30
    assert times[29] == times[0]  # the burst goes out at once
    assert times[30] - times[0] == pytest.approx(61.0)  # a slot comes back window + margin on
    assert times[-1] - times[0] >= (70 - 30) / 30 * 60
    assert most_in_any_minute(times) <= 30


@given(rate=st.integers(1, 240), burst=st.integers(1, 60), n=st.integers(1, 150))
@settings(max_examples=200, deadline=None)
def test_the_limiter_never_exceeds_its_guarantee(rate: int, burst: int, n: int) -> None:
    time = VirtualTime()
    limiter = limiter_on(time, rate, burst)
    times = asyncio.run(send_times(limiter, time, n))
    assert times[-1] - times[0] >= (n - burst) / rate * 60 - 1e-6
    assert most_in_any_minute(times, limiter.window) <= burst


@given(
    requests=st.lists(
        st.tuples(st.floats(0.0, 5.0), st.floats(0.0, 1.0), st.floats(0.0, 0.999)),
        min_size=1,
        max_size=120,
    ),
    burst=st.integers(1, 20),
)
@settings(max_examples=300, deadline=None)
def test_no_window_of_arrivals_exceeds_the_burst_whatever_the_latency(
    requests: list[tuple[float, float, float]], burst: int
) -> None:
    """The docstring's guarantee: each request arrives anywhere between its send and its
    answer, and the server's stamp of it may be off by anything under the 1 s margin (a
    clock counting whole seconds, a stamp taken later in its own pipeline)."""
    time = VirtualTime()
    limiter = limiter_on(time, burst)  # window 60 s, margin 1 s

    async def drain() -> list[float]:
        stamps = []
        for latency, where, stamp_error in requests:
            async with limiter.slot() as slot:
                slot.use()
                stamps.append(time.now + where * latency + stamp_error)
                await time.sleep(latency)  # the answer comes back; the slot's hold runs from here
        return stamps

    stamps = asyncio.run(drain())
    assert max(sum(1 for t in stamps if s <= t < s + 60) for s in stamps) <= burst


async def test_a_slot_is_held_until_its_answer_and_then_for_the_window() -> None:
    time = VirtualTime()
    limiter = limiter_on(time, 1)  # one request per 60 s, margin 1 s
    async with limiter.slot() as slot:
        slot.use()
        await time.sleep(30)  # a slow answer
    async with limiter.slot():
        pass
    assert time.sleeps == [30, 61]  # 61 s after the answer, not after the send


async def test_a_slot_never_used_is_given_back_at_once() -> None:
    time = VirtualTime()
    limiter = limiter_on(time, 1)
    async with limiter.slot():
        assert limiter.held == 1
    assert limiter.held == 0
    async with limiter.slot() as slot:
        slot.use()
    assert time.sleeps == []


async def test_a_waiter_for_a_slot_in_flight_looks_again_until_it_is_answered() -> None:
    time = VirtualTime()
    limiter = limiter_on(time, 1, margin=0)
    first = await limiter.take()
    first.use()
    waiter = asyncio.create_task(limiter.take())
    for _ in range(20):  # the first request is still in flight after 5 s
        await asyncio.sleep(0)
    assert not waiter.done() and time.now >= 1005
    first.finish()
    await waiter
    assert time.now >= 1005 + 60


async def test_block_for_holds_back_every_waiting_caller() -> None:
    time = VirtualTime()
    limiter = limiter_on(time, 600)
    async with limiter.slot() as slot:
        slot.use()
    limiter.block_for(12.5)
    start = time.now

    async def one() -> None:
        async with limiter.slot() as slot:
            slot.use()

    await asyncio.gather(one(), one(), one())
    assert time.now - start >= 12.5
    limiter.block_for(3)
    limiter.block_for(1)  # a shorter block never shortens the one in force
    start = time.now
    await one()
    assert time.now - start == pytest.approx(3)


async def test_a_stoppable_sleep_ends_a_limiter_wait_at_once() -> None:
    limiter = RateLimiter(1)
    stop = asyncio.Event()
    async with limiter.slot() as slot:
        slot.use()
    waiting = asyncio.create_task(limiter.take(stoppable_sleep(stop)))
    await asyncio.sleep(0.05)
    stop.set()
    with pytest.raises(Interrupted):
        await asyncio.wait_for(waiting, 1)


def test_the_registry_shares_one_limiter_per_account() -> None:
    a = limiter_for("http://h:1/", "acct-shared", 30)
    assert limiter_for("http://h:1", "acct-shared", 99) is a
    assert limiter_for("http://h:1", "other", 30) is not a


# ---------------------------------------------------------------------------------------------
# The whole client against the simulator, over real loopback HTTP.
# ---------------------------------------------------------------------------------------------

KEY, TOKEN = "key-Zq7xW1", "token-Pv93Lr"  # distinctive, so a leak is easy to find
IDS = re.compile(r"^[0-9a-f]{32}$")


def make_sim(now: datetime, **config: Any) -> Simulator:
    settings = {"api_key": KEY, "api_token": TOKEN, "rate_per_minute": None, **config}
    return Simulator(SimulatorConfig(**settings), clock=FixedClock(now))


@asynccontextmanager
async def client_for(
    sim: Simulator, time: VirtualTime, **options: Any
) -> AsyncIterator[ExotelClient]:
    """A client on its own fast limiter and virtual sleep, talking to `sim` on a real socket."""
    options = {
        "api_key": KEY,
        "api_token": TOKEN,
        "limiter": limiter_on(time, 6000),
        "sleep": time.sleep,
        **options,
    }
    async with (
        running(sim) as url,
        ExotelClient(base_url=url, account_sid="acme1", **options) as client,
    ):
        yield client


def requests_to(sim: Simulator, method: str) -> list[RequestRecord]:
    return [r for r in sim.requests if r.method == method]


@pytest.fixture
def time() -> VirtualTime:
    return VirtualTime()


@pytest.mark.parametrize("style", ["pascal", "lower"])
async def test_paging_reads_every_campaign_in_ceil_n_over_500_requests(
    now: datetime, time: VirtualTime, style: str
) -> None:
    sim = make_sim(now, status_style=style)
    cycle = [Status.CREATED, Status.IN_PROGRESS, Status.PAUSED, Status.COMPLETED, Status.ARCHIVED]
    for i in range(1203):
        created = now - timedelta(days=30, minutes=1203 - i)
        send_at = now + timedelta(days=1)  # keeps the created ones created
        sim.add_campaign(
            name=f"c{i:04}", status=cycle[i % 5], date_created=created, send_at=send_at
        )
    async with client_for(sim, time) as client:
        campaigns = await client.list_campaigns()
    assert [c.name for c in campaigns] == [f"c{i:04}" for i in range(1203)]
    assert [c.status for c in campaigns] == [cycle[i % 5] for i in range(1203)]
    lists = requests_to(sim, "GET")
    assert len(lists) == math.ceil(1203 / 500) == 3
    assert [r.query["offset"] for r in lists] == ["0", "500", "1000"]
    assert all(
        r.query["limit"] == "500" and r.query["sort_by"] == "date_created:asc" for r in lists
    )


async def test_a_row_repeated_by_a_shifting_page_is_read_once(
    now: datetime, time: VirtualTime
) -> None:
    sim = make_sim(now)
    for i in range(700):
        sim.add_campaign(name=f"c{i:04}", date_created=now - timedelta(minutes=700 - i))

    def insert_an_older_campaign_after_page_one(outcome: RequestOutcome) -> None:
        if len(sim.requests) == 1:  # shifts every row one place: row 499 comes again
            sim.add_campaign(name="late", date_created=now - timedelta(days=9))

    async with client_for(sim, time, observer=insert_an_older_campaign_after_page_one) as client:
        campaigns = await client.list_campaigns()
    ids = [c.id for c in campaigns]
    assert len(ids) == len(set(ids)) == 700
    assert (campaigns.total, campaigns.complete) == (701, False)  # "late" was missed: said so
    assert len(requests_to(sim, "GET")) == 2


async def test_a_status_filter_goes_to_the_server(now: datetime, time: VirtualTime) -> None:
    sim = make_sim(now)
    for status in (Status.CREATED, Status.IN_PROGRESS, Status.PAUSED, Status.COMPLETED):
        sim.add_campaign(name=status.value, status=status, send_at=now + timedelta(hours=1))
    async with client_for(sim, time) as client:
        found = await client.list_campaigns(statuses={Status.PAUSED, Status.IN_PROGRESS})
        assert await client.list_campaigns(statuses=[Status.UNKNOWN]) == Listing()  # asks nothing
    assert sorted(c.status for c in found) == [Status.IN_PROGRESS, Status.PAUSED]
    assert [r.query["status"] for r in sim.requests] == ["InProgress,Paused"]


async def test_get_campaign_reads_one_campaign(now: datetime, time: VirtualTime) -> None:
    sim = make_sim(now, status_style="lower")
    send_at = now + timedelta(hours=2)
    cid = sim.add_campaign(name="emi", status=Status.CREATED, send_at=send_at, custom_field="x")
    async with client_for(sim, time) as client:
        campaign = await client.get_campaign(cid)
    assert (campaign.id, campaign.name, campaign.status, campaign.raw_status) == (
        cid,
        "emi",
        Status.CREATED,
        "created",
    )
    assert (campaign.send_at, campaign.custom_field) == (send_at, "x")
    assert campaign.send_at is not None and campaign.send_at.tzinfo == UTC


@pytest.mark.parametrize(
    ("start", "action", "end"),
    [
        (Status.CREATED, Action.PAUSE, Status.PAUSED),
        (Status.IN_PROGRESS, Action.PAUSE, Status.PAUSED),
        (Status.PAUSED, Action.RESUME, Status.IN_PROGRESS),
        (Status.PAUSED, Action.COMPLETE, Status.COMPLETED),
        (Status.COMPLETED, Action.ARCHIVE, Status.ARCHIVED),
    ],
)
async def test_each_action_is_one_wrapped_put(
    now: datetime, time: VirtualTime, start: Status, action: Action, end: Status
) -> None:
    sim = make_sim(now, strict_body=True)  # strict: the flat body would be refused
    cid = sim.add_campaign(name="c", status=start)
    async with client_for(sim, time) as client:
        result = await client.act(cid, action)
    assert (result.campaign_id, result.action, result.http_status, result.status) == (
        cid,
        action,
        200,
        end,
    )
    assert result.request_id is not None and IDS.match(result.request_id)
    assert sim.campaign(cid).status == end
    [put] = sim.requests  # no GET before it
    assert (put.method, put.path, put.body) == (
        "PUT",
        f"/v2/accounts/acme1/campaigns/{cid}",
        {"campaigns": [{"action": action.value}]},
    )


@pytest.mark.parametrize("code", [400, 409])
async def test_an_illegal_transition_is_rejected_and_not_applied(
    now: datetime, time: VirtualTime, code: int
) -> None:
    sim = make_sim(now, illegal_action_status=code)
    cid = sim.add_campaign(name="c", status=Status.IN_PROGRESS)
    async with client_for(sim, time) as client:
        with pytest.raises(
            ActionRejected, match="Cannot resume campaign in in-progress state"
        ) as caught:
            await client.act(cid, Action.RESUME)
    assert caught.value.http_status == code
    assert caught.value.request_id is not None and IDS.match(caught.value.request_id)
    assert sim.campaign(cid).status == Status.IN_PROGRESS
    assert len(sim.requests) == 1


async def test_an_unknown_campaign_is_not_found_without_retrying(
    now: datetime, time: VirtualTime
) -> None:
    sim = make_sim(now)
    async with client_for(sim, time) as client:
        with pytest.raises(NotFound):
            await client.get_campaign("f" * 32)
        with pytest.raises(NotFound):
            await client.act("f" * 32, Action.PAUSE)
    assert [r.status for r in sim.requests] == [404, 404]


@pytest.mark.parametrize("wrong", [{"api_token": "nope"}, {"api_key": "nope"}])
async def test_wrong_credentials_are_auth_failed(
    now: datetime, time: VirtualTime, wrong: dict[str, str]
) -> None:
    sim = make_sim(now)
    cid = sim.add_campaign(name="c", status=Status.IN_PROGRESS)
    async with client_for(sim, time, **wrong) as client:
        with pytest.raises(AuthFailed) as on_read:
            await client.list_campaigns()
        with pytest.raises(AuthFailed) as on_act:
            await client.act(cid, Action.PAUSE)
    assert len(sim.requests) == 2  # an auth failure is not worth a retry
    for error in (on_read.value, on_act.value):
        assert error.http_status == 401
        assert not {KEY, TOKEN, "nope"} & set(re.findall(r"[\w-]+", str(error)))


@pytest.mark.parametrize("style", ["v2", "v1"])
async def test_a_429_on_a_read_waits_retry_after_then_retries(
    now: datetime, time: VirtualTime, style: str
) -> None:
    sim = make_sim(now, rate_limit_style=style)
    sim.add_campaign(name="c")
    sim.inject(Fault("429", method="GET", seconds=7))
    async with client_for(sim, time) as client:
        campaigns = await client.list_campaigns()
    assert [c.name for c in campaigns] == ["c"]
    assert [r.status for r in sim.requests] == [429, 200]
    assert [s for s in time.sleeps if s] == [7.0]  # the limiter's wait, and no other


async def test_a_429_on_an_action_is_rate_limited_not_retried_and_holds_back_other_clients(
    now: datetime, time: VirtualTime
) -> None:
    sim = make_sim(now, rate_limit_style="v1")
    cid = sim.add_campaign(name="c", status=Status.IN_PROGRESS)
    sim.inject(Fault("429", method="PUT", seconds=5))
    shared = limiter_on(time, 6000)
    async with running(sim) as url:
        one, two = (
            ExotelClient(
                base_url=url,
                account_sid="acme1",
                api_key=KEY,
                api_token=TOKEN,
                limiter=shared,
                sleep=time.sleep,
            )
            for _ in range(2)
        )
        async with one, two:
            with pytest.raises(RateLimited, match="RATE_LIMIT_EXCEEDED") as caught:
                await one.act(cid, Action.PAUSE)
            assert caught.value.retry_after == 5.0
            assert time.sleeps == []
            await two.get_campaign(cid)
    assert time.sleeps == [5.0]
    assert [(r.method, r.status) for r in sim.requests] == [("PUT", 429), ("GET", 200)]
    assert sim.campaign(cid).status == Status.IN_PROGRESS


async def test_clients_for_one_account_share_the_registry_limiter_in_real_time(
    now: datetime,
) -> None:
    sim = make_sim(now)
    cid = sim.add_campaign(name="c", status=Status.IN_PROGRESS)
    sim.inject(Fault("429", method="PUT", seconds=0.3))
    async with running(sim) as url:
        one, two = (
            ExotelClient(base_url=url, account_sid="acme1", api_key=KEY, api_token=TOKEN)
            for _ in range(2)
        )
        other_account = ExotelClient(
            base_url=url, account_sid="acme2", api_key=KEY, api_token=TOKEN
        )
        assert one.limiter is two.limiter is limiter_for(url, "acme1", 30)
        assert other_account.limiter is not one.limiter
        async with one, two, other_account:
            with pytest.raises(RateLimited):
                await one.act(cid, Action.PAUSE)
            started = asyncio.get_running_loop().time()
            await two.get_campaign(cid)
            assert asyncio.get_running_loop().time() - started >= 0.25


@pytest.mark.parametrize("kind", ["500", "502", "503", "garbage"])
async def test_a_failing_read_is_retried_with_backoff(
    now: datetime, time: VirtualTime, kind: FaultKind
) -> None:
    sim = make_sim(now)
    cid = sim.add_campaign(name="c")
    sim.inject(Fault(kind, method="GET", times=2))
    async with client_for(sim, time) as client:
        assert (await client.get_campaign(cid)).id == cid
    assert len(sim.requests) == 3
    assert len(time.sleeps) == 2  # two full-jitter backoffs: random, bounded
    assert all(0 <= s <= 30 for s in time.sleeps)


async def test_a_503_that_says_retry_after_is_retried_that_much_later(
    now: datetime, time: VirtualTime
) -> None:
    sim = make_sim(now)
    cid = sim.add_campaign(name="c")
    sim.inject(Fault("503", method="GET", seconds=42))
    async with client_for(sim, time) as client:
        assert (await client.get_campaign(cid)).id == cid
    assert [r.status for r in sim.requests] == [503, 200]
    assert time.sleeps == [42.0]


async def test_a_stop_ends_a_read_retry_wait_at_once(now: datetime) -> None:
    sim = make_sim(now)
    sim.inject(Fault("503", method="GET", seconds=60))
    stop = asyncio.Event()
    async with client_for(sim, VirtualTime(), sleep=stoppable_sleep(stop)) as client:
        reading = asyncio.create_task(client.list_campaigns())
        for _ in range(500):  # until the 503 is answered (bounded)
            if sim.requests:
                break
            await asyncio.sleep(0.01)
        stop.set()
        with pytest.raises(Interrupted):
            await asyncio.wait_for(reading, 2)
    assert [r.status for r in sim.requests] == [503]  # nothing was sent after the stop


@pytest.mark.parametrize(("kind", "text"), [("503", "HTTP 503"), ("garbage", "not JSON")])
async def test_a_read_that_keeps_failing_raises_after_max_attempts(
    now: datetime, time: VirtualTime, kind: FaultKind, text: str
) -> None:
    sim = make_sim(now)
    sim.inject(Fault(kind, method="GET", times=10))
    async with client_for(sim, time, max_read_attempts=3) as client:
        with pytest.raises(ApiUnavailable, match=text):
            await client.list_campaigns()
    assert len(sim.requests) == 3


async def test_a_read_that_times_out_is_retried(now: datetime, time: VirtualTime) -> None:
    sim = make_sim(now)
    cid = sim.add_campaign(name="c")
    sim.inject(Fault("latency", method="GET", seconds=1.0))
    async with client_for(sim, time, timeout=0.2) as client:
        assert (await client.get_campaign(cid)).id == cid
    assert len(time.sleeps) == 1


@pytest.mark.parametrize("kind", ["500", "502", "503", "garbage"])
async def test_a_failed_or_unreadable_action_answer_is_outcome_unknown_and_not_retried(
    now: datetime, time: VirtualTime, kind: FaultKind
) -> None:
    sim = make_sim(now)
    cid = sim.add_campaign(name="c", status=Status.IN_PROGRESS)
    sim.inject(Fault(kind, method="PUT"))
    async with client_for(sim, time) as client:
        with pytest.raises(OutcomeUnknown):
            await client.act(cid, Action.PAUSE)
    assert len(sim.requests) == 1
    assert time.sleeps == []


async def test_an_action_slower_than_the_timeout_is_outcome_unknown(
    now: datetime, time: VirtualTime
) -> None:
    sim = make_sim(now)
    cid = sim.add_campaign(name="c", status=Status.IN_PROGRESS)
    sim.inject(Fault("latency", method="PUT", seconds=1.0))
    async with client_for(sim, time, timeout=0.2) as client:
        with pytest.raises(OutcomeUnknown, match="may have been applied"):
            await client.act(cid, Action.PAUSE)


@pytest.mark.parametrize(
    ("kind", "end"), [("drop_after_apply", Status.PAUSED), ("drop_before", Status.IN_PROGRESS)]
)
async def test_a_dropped_action_is_outcome_unknown_and_sent_exactly_once(
    now: datetime, time: VirtualTime, kind: FaultKind, end: Status
) -> None:
    sim = make_sim(now)
    cid = sim.add_campaign(name="c", status=Status.IN_PROGRESS)
    sim.inject(Fault(kind, method="PUT"))
    async with client_for(sim, time) as client:
        await client.get_campaign(
            cid
        )  # a pooled keep-alive connection, the case aiohttp re-sends on
        with pytest.raises(OutcomeUnknown):
            await client.act(cid, Action.PAUSE)
    assert sim.campaign(cid).status == end
    assert [r.status for r in requests_to(sim, "PUT")] == [0]


async def test_an_action_that_cannot_connect_was_not_sent(now: datetime, time: VirtualTime) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again below: nothing listens there
    async with ExotelClient(
        base_url=f"http://127.0.0.1:{port}",
        account_sid="acme1",
        api_key=KEY,
        api_token=TOKEN,
        limiter=limiter_on(time, 6000),
        sleep=time.sleep,
    ) as client:
        with pytest.raises(ApiUnavailable) as caught:
            await client.act("c1", Action.PAUSE)
    assert type(caught.value) is ApiUnavailable


async def test_the_observer_sees_every_exchange(now: datetime, time: VirtualTime) -> None:
    sim = make_sim(now)
    cid = sim.add_campaign(name="c", status=Status.IN_PROGRESS)
    seen: list[RequestOutcome] = []
    sim.inject(Fault("drop_before", method="PUT"))
    async with client_for(sim, time, observer=seen.append) as client:
        await client.list_campaigns()
        with pytest.raises(OutcomeUnknown):
            await client.act(cid, Action.PAUSE)
        with pytest.raises(ActionRejected):
            await client.act(cid, Action.RESUME)
    assert [(o.method, o.endpoint, o.http_status, o.error) for o in seen] == [
        ("GET", "list", 200, None),
        ("PUT", "action", None, "OutcomeUnknown"),
        ("PUT", "action", 409, "ActionRejected"),
    ]
    assert all(o.seconds >= 0 for o in seen)


async def test_credentials_never_appear_in_urls_logs_errors_or_reprs(
    now: datetime, time: VirtualTime, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sim = make_sim(now)
    cid = sim.add_campaign(name="c", status=Status.IN_PROGRESS)
    for fault in (
        Fault("503", method="GET"),
        Fault("429", method="GET"),
        Fault("drop_before", method="PUT"),
    ):
        sim.inject(fault)
    errors: list[BaseException] = []
    async with client_for(sim, time) as client:
        await client.list_campaigns()
        for action in (Action.PAUSE, Action.ARCHIVE):
            try:
                await client.act(cid, action)
            except ApiError as exc:
                errors.append(exc)
        text = repr(client)
    async with client_for(sim, time, api_token="wrong") as client:
        with pytest.raises(AuthFailed) as caught:
            await client.get_campaign(cid)
        errors.append(caught.value)
    assert len(errors) == 3 and caplog.records
    assert all(
        r.authorization_header_present and r.url.startswith("http://127.0.0.1")
        for r in sim.requests
    )
    texts = [r.url for r in sim.requests] + [r.getMessage() for r in caplog.records]
    texts += [str(e) for e in errors] + [repr(e) for e in errors] + [text]
    texts += [str(e.__cause__) for e in errors if e.__cause__]
    assert [t for t in texts if KEY in t or TOKEN in t] == []


def test_a_base_url_with_credentials_is_refused_without_echoing_them() -> None:
    with pytest.raises(ConfigError) as caught:
        ExotelClient(
            base_url=f"https://{KEY}:{TOKEN}@api.exotel.com",
            account_sid="a",
            api_key=KEY,
            api_token=TOKEN,
        )
    assert KEY not in str(caught.value) and TOKEN not in str(caught.value)


async def test_a_campaign_read_unchanged_is_the_object_read_last_time(
    now: datetime, time: VirtualTime
) -> None:
    """A tick never holds two copies of the fleet: the status page keeps the last one."""
    sim = make_sim(now)
    ids = [
        sim.add_campaign(name=f"c{i}", status=Status.PAUSED, send_at=now - timedelta(hours=1))
        for i in range(4)
    ]
    async with client_for(sim, time) as client:
        first = {c.id: c for c in await client.list_campaigns()}
        sim.set_status(ids[0], Status.COMPLETED)
        second = {c.id: c for c in await client.list_campaigns()}
        sim.set_status(ids[1], Status.ARCHIVED)
        filtered = {c.id: c for c in await client.list_campaigns(statuses=[Status.PAUSED])}
    assert second[ids[0]] is not first[ids[0]] and second[ids[0]].status == Status.COMPLETED
    assert all(second[i] is first[i] for i in ids[1:])  # equal, and the very same object
    assert set(filtered) == {ids[2], ids[3]} and filtered[ids[2]] is first[ids[2]]
