"""The Exotel simulator, exercised over a real socket with a plain aiohttp ClientSession."""

from __future__ import annotations

import base64
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import pytest

from lifecycle.clock import FixedClock
from lifecycle.model import Action, Status
from lifecycle.simulator import (
    TAG_HEADER,
    Fault,
    Simulator,
    SimulatorConfig,
    TransitionRecord,
    running,
)
from lifecycle.simulator.campaign import SimCampaign

from .fixtures.sim import SIM_NOW

SID = "acme1"
AUTH = "Basic " + base64.b64encode(b"sim-key:sim-token").decode()
FUTURE = SIM_NOW + timedelta(days=2)


@dataclass
class Reply:
    status: int
    body: Any
    headers: Any


@dataclass
class Api:
    """A thin HTTP helper: what any client would send, nothing of lifecycle.client."""

    session: aiohttp.ClientSession
    url: str

    async def call(
        self, method: str, path: str = "", *, sid: str = SID, auth: str | None = AUTH, **kw: Any
    ) -> Reply:
        headers = {**kw.pop("headers", {}), **({"Authorization": auth} if auth else {})}
        target = f"{self.url}/v2/accounts/{sid}/campaigns{path}"
        async with self.session.request(method, target, headers=headers, **kw) as response:
            text = await response.text()
            is_json = response.content_type == "application/json"
            return Reply(
                response.status, await response.json() if is_json else text, response.headers
            )

    async def act(self, cid: str, action: str, *, flat: bool = False) -> Reply:
        body = {"action": action} if flat else {"campaigns": [{"action": action}]}
        return await self.call("PUT", f"/{cid}", json=body)

    async def status(self, cid: str) -> str:
        reply = await self.call("GET", f"/{cid}")
        return str(reply.body["response"][0]["data"]["status"])

    async def data(self, cid: str) -> dict[str, Any]:
        reply = await self.call("GET", f"/{cid}")
        assert reply.status == 200, reply.body
        data: dict[str, Any] = reply.body["response"][0]["data"]
        return data


@asynccontextmanager
async def serving(sim: Simulator) -> AsyncIterator[Api]:
    async with running(sim) as url, aiohttp.ClientSession() as session:
        yield Api(session, url)


@pytest.fixture
async def api(sim_url: str) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession() as session:
        yield Api(session, sim_url)


def error_of(reply: Reply) -> dict[str, Any]:
    item = reply.body["response"][0]
    assert item["status"] == "failure"
    assert item["code"] == reply.status == reply.body["http_code"]
    error: dict[str, Any] = item["error_data"]
    return error


def make(sim: Simulator, status: Status, **kw: Any) -> str:
    kw.setdefault("send_at", FUTURE if status == Status.CREATED else None)
    return sim.add_campaign(name=f"camp-{status.value}", status=status, **kw)


# -- the state machine ---------------------------------------------------------------

# Written out by hand from docs/exotel-api.md, not derived from lifecycle.model.
LEGAL = {
    (Status.CREATED, "pause"): "Paused",
    (Status.IN_PROGRESS, "pause"): "Paused",
    (Status.PAUSED, "resume"): "InProgress",
    (Status.PAUSED, "complete"): "Completed",
    (Status.COMPLETED, "archive"): "Archived",
}
STATUSES = [s for s in Status if s != Status.UNKNOWN]


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("action", ["pause", "resume", "complete", "archive"])
async def test_actions_follow_the_transition_table(
    sim: Simulator, api: Api, status: Status, action: str
) -> None:
    cid = make(sim, status)
    before = await api.status(cid)
    reply = await api.act(cid, action)
    expected = LEGAL.get((status, action))
    if expected is None:
        assert reply.status == 409
        assert set(error_of(reply)) == {"code", "message", "description"}
        assert await api.status(cid) == before
    else:
        assert reply.status == 200
        assert reply.body["response"][0]["data"]["status"] == expected
        assert await api.status(cid) == expected


async def test_illegal_action_status_is_configurable(sim_clock: FixedClock) -> None:
    sim = Simulator(SimulatorConfig(illegal_action_status=400), clock=sim_clock)
    cid = make(sim, Status.COMPLETED)
    async with serving(sim) as api:
        reply = await api.act(cid, "pause")
    assert reply.status == 400
    assert error_of(reply)["code"] == 400


async def test_complete_marks_remaining_numbers_failed(sim: Simulator, api: Api) -> None:
    cid = make(sim, Status.PAUSED, numbers=100, done=30, failure_ratio=0.1)
    await api.act(cid, "complete")
    stats = (await api.data(cid))["stats"]
    assert (stats["completed"], stats["failed"], stats["paused"], stats["pending"]) == (
        27,
        73,
        0,
        0,
    )


async def test_unknown_action_and_unknown_campaign(sim: Simulator, api: Api) -> None:
    cid = make(sim, Status.PAUSED)
    assert (await api.act(cid, "stop")).status == 400
    missing = await api.act("0" * 32, "pause")
    assert missing.status == 404
    assert error_of(missing)["code"] == 404


# -- automatic moves on the injected clock ---------------------------------------------


async def test_created_starts_at_send_at(sim: Simulator, sim_clock: FixedClock, api: Api) -> None:
    send_at = SIM_NOW + timedelta(hours=1)
    cid = make(sim, Status.CREATED, send_at=send_at)
    sim_clock.advance(timedelta(minutes=59))
    assert await api.status(cid) == "Created"
    sim_clock.advance(timedelta(minutes=2))
    data = await api.data(cid)
    assert data["status"] == "InProgress"
    assert datetime.fromisoformat(data["date_updated"]) == send_at


async def test_dialling_progresses_at_throttle_and_completes(
    sim: Simulator, sim_clock: FixedClock, api: Api
) -> None:
    cid = make(sim, Status.IN_PROGRESS, numbers=100, throttle_cpm=20, failure_ratio=0.1)
    sim_clock.advance(timedelta(minutes=2, seconds=30))
    stats = (await api.data(cid))["stats"]
    assert (stats["completed"], stats["failed"], stats["pending"]) == (45, 5, 50)
    sim_clock.advance(timedelta(days=1))  # a big jump is instant: moves are computed lazily
    data = await api.data(cid)
    assert data["status"] == "Completed"
    assert datetime.fromisoformat(data["date_updated"]) == SIM_NOW + timedelta(minutes=5)
    assert (data["stats"]["completed"], data["stats"]["failed"]) == (90, 10)


async def test_nothing_connected_ends_failed(
    sim: Simulator, sim_clock: FixedClock, api: Api
) -> None:
    cid = make(sim, Status.IN_PROGRESS, numbers=10, failure_ratio=1.0)
    sim_clock.advance(timedelta(hours=1))
    assert await api.status(cid) == "Failed"


@pytest.mark.parametrize(
    ("behaviour", "status", "queue_key"),
    [("completed", "Completed", "failed-no-attempt"), ("paused", "Paused", "paused")],
)
async def test_end_at_with_numbers_left(
    sim_clock: FixedClock, behaviour: Any, status: str, queue_key: str
) -> None:
    sim = Simulator(SimulatorConfig(end_at_behaviour=behaviour), clock=sim_clock)
    end_at = SIM_NOW + timedelta(minutes=1)
    cid = make(sim, Status.IN_PROGRESS, numbers=1000, throttle_cpm=60, end_at=end_at)
    sim_clock.advance(timedelta(days=1))
    async with serving(sim) as api:
        data = await api.data(cid)
        assert data["status"] == status
        assert datetime.fromisoformat(data["date_updated"]) == end_at
        assert data["stats"][queue_key] == 940
        if behaviour == "paused":  # outside the window a resume pauses again at once
            assert (await api.act(cid, "resume")).status == 200
            assert await api.status(cid) == "Paused"


@pytest.mark.parametrize(("behaviour", "status"), [("completed", "Canceled"), ("paused", "Paused")])
async def test_paused_by_action_past_end_at(
    sim_clock: FixedClock, behaviour: Any, status: str
) -> None:
    sim = Simulator(SimulatorConfig(end_at_behaviour=behaviour), clock=sim_clock)
    cid = make(sim, Status.IN_PROGRESS, numbers=100, end_at=SIM_NOW + timedelta(hours=2))
    async with serving(sim) as api:
        await api.act(cid, "pause")
        sim_clock.advance(timedelta(hours=3))
        data = await api.data(cid)
    assert data["status"] == status
    if status == "Canceled":
        assert data["stats"]["failed"] == 100
        assert datetime.fromisoformat(data["date_updated"]) == SIM_NOW + timedelta(hours=2)


async def test_end_at_lag_stops_calls_at_end_at_but_moves_later(sim_clock: FixedClock) -> None:
    sim = Simulator(SimulatorConfig(end_at_lag=timedelta(hours=2)), clock=sim_clock)
    end_at = SIM_NOW + timedelta(minutes=1)
    cid = make(sim, Status.IN_PROGRESS, numbers=1000, throttle_cpm=60, end_at=end_at)
    sim_clock.advance(timedelta(hours=1))
    async with serving(sim) as api:
        data = await api.data(cid)
        assert (data["status"], data["stats"]["pending"]) == ("InProgress", 940)
        sim_clock.advance(timedelta(hours=1, minutes=1))
        data = await api.data(cid)
    assert data["status"] == "Completed"
    assert datetime.fromisoformat(data["date_updated"]) == end_at + timedelta(hours=2)


async def test_set_status_is_an_operator_by_hand(sim: Simulator, api: Api) -> None:
    cid = make(sim, Status.IN_PROGRESS)
    sim.set_status(cid, Status.PAUSED)
    assert await api.status(cid) == "Paused"
    assert sim.campaign(cid).status == Status.PAUSED


async def test_transitions_log_what_was_applied_and_refused(
    sim: Simulator, sim_clock: FixedClock, api: Api
) -> None:
    cid = make(sim, Status.IN_PROGRESS)
    entered = sim.campaign(cid).date_updated
    sim_clock.advance(timedelta(minutes=1))
    paused = await api.call(
        "PUT", f"/{cid}", json={"campaigns": [{"action": "pause"}]}, headers={TAG_HEADER: "p1"}
    )
    again = await api.act(cid, "pause")  # no tag: a client that sends none
    sim_clock.advance(timedelta(minutes=1))
    sim.set_status(cid, Status.IN_PROGRESS)
    assert (paused.status, again.status) == (200, 409)
    first, refused, by_hand = sim.transitions
    assert first == TransitionRecord(
        at=SIM_NOW + timedelta(minutes=1),
        campaign_id=cid,
        source="api",
        action=Action.PAUSE,
        status_before=Status.IN_PROGRESS,
        since=entered,
        status_after=Status.PAUSED,
        applied=True,
        tag="p1",
    )
    assert (refused.applied, refused.status_before, refused.since, refused.tag) == (
        False,
        Status.PAUSED,
        SIM_NOW + timedelta(minutes=1),
        None,
    )
    assert (by_hand.source, by_hand.action, by_hand.status_after) == (
        "operator",
        None,
        Status.IN_PROGRESS,
    )


# -- listing ---------------------------------------------------------------------------


async def test_paging_and_metadata(sim: Simulator, api: Api) -> None:
    ids = [
        sim.add_campaign(name=f"page-{i}", date_created=SIM_NOW - timedelta(hours=10 - i))
        for i in range(7)
    ]
    seen = []
    for offset in (0, 3, 6):
        reply = await api.call("GET", params={"offset": offset, "limit": 3})
        meta = reply.body["metadata"]
        assert meta == {"count": min(3, 7 - offset), "offset": offset, "total": 7, "limit": 3}
        seen += [item["data"]["id"] for item in reply.body["response"]]
    assert seen == ids  # default order: date_created ascending
    by_name = await api.call("GET", params={"sort_by": "name:desc", "limit": 20})
    assert [i["data"]["name"] for i in by_name.body["response"]] == [
        f"page-{i}" for i in reversed(range(7))
    ]
    named = await api.call("GET", params={"name": "GE-3"})
    assert [i["data"]["id"] for i in named.body["response"]] == [ids[3]]


async def test_paged_read_settles_each_campaign_once_per_instant(
    sim: Simulator, api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """200 pages of a 100,000-campaign list must not settle and sort the fleet 200 times:
    counted on a small fleet, 10 pages settle the 50 campaigns once, not 10 times."""
    ids = [
        make(sim, Status.COMPLETED, date_created=SIM_NOW - timedelta(minutes=i)) for i in range(50)
    ]
    settled: list[str] = []
    original = SimCampaign.settle

    def counting(self: SimCampaign, now: datetime, config: SimulatorConfig) -> None:
        settled.append(self.id)
        original(self, now, config)

    monkeypatch.setattr(SimCampaign, "settle", counting)
    seen = []
    for offset in range(0, 50, 5):
        reply = await api.call("GET", params={"offset": offset, "limit": 5})
        seen += [item["data"]["id"] for item in reply.body["response"]]
    assert seen == ids[::-1]  # date_created ascending
    assert sorted(settled) == sorted(ids)


async def test_a_change_at_the_same_instant_is_settled_on_the_next_read(
    sim: Simulator, api: Api
) -> None:
    """Settling once per instant must still apply the moves a change makes due at once:
    an in-progress campaign added past its end_at, and one set in progress past it."""
    assert (await api.call("GET")).body["metadata"]["total"] == 0  # the instant is settled
    late = make(sim, Status.IN_PROGRESS, end_at=SIM_NOW - timedelta(minutes=1))
    ended = make(sim, Status.COMPLETED, end_at=SIM_NOW - timedelta(minutes=1))
    reply = await api.call("GET", params={"status": "completed"})
    assert [i["data"]["id"] for i in reply.body["response"]] == [late, ended]
    sim.set_status(ended, Status.IN_PROGRESS)  # by hand, past end_at: completed again at once
    assert (await api.call("GET", params={"status": "in-progress"})).body["response"] == []


@pytest.mark.parametrize("spelling", ["InProgress", "in-progress", "inprogress", "IN_PROGRESS"])
async def test_status_filter_accepts_any_casing(sim: Simulator, api: Api, spelling: str) -> None:
    running_id = make(sim, Status.IN_PROGRESS)
    paused_id = make(sim, Status.PAUSED)
    make(sim, Status.COMPLETED)
    reply = await api.call("GET", params={"status": spelling})
    assert [i["data"]["id"] for i in reply.body["response"]] == [running_id]
    both = await api.call("GET", params={"status": f"{spelling}, paused"})
    assert {i["data"]["id"] for i in both.body["response"]} == {running_id, paused_id}
    assert (await api.call("GET", params={"status": "scheduled"})).status == 400


@pytest.mark.parametrize(
    ("policy", "status", "limit"), [("reject", 400, None), ("clamp", 200, 500)]
)
async def test_limit_over_500(sim_clock: FixedClock, policy: Any, status: int, limit: Any) -> None:
    sim = Simulator(SimulatorConfig(over_max_limit=policy, rate_per_minute=None), clock=sim_clock)
    async with serving(sim) as api:
        reply = await api.call("GET", params={"limit": 501})
    assert reply.status == status
    assert reply.body.get("metadata", {}).get("limit") == limit


async def test_lowercase_status_style(sim_clock: FixedClock) -> None:
    sim = Simulator(SimulatorConfig(status_style="lower"), clock=sim_clock)
    cid = make(sim, Status.IN_PROGRESS)
    async with serving(sim) as api:
        assert await api.status(cid) == "in-progress"


async def test_campaign_object_shape(sim: Simulator, api: Api) -> None:
    cid = make(sim, Status.CREATED, end_at=FUTURE + timedelta(hours=8))
    data = await api.data(cid)
    assert data["schedule"] == {
        "send_at": "2026-11-29T19:00:00+05:30",
        "end_at": "2026-11-30T03:00:00+05:30",
    }
    assert (data["id"], data["type"], data["account_sid"]) == (cid, "trans", SID)
    assert set(data["stats"]) >= {"in-progress", "failed-dnd", "failed-no-attempt", "pending"}
    assert len(cid) == 32 and int(cid, 16) >= 0


async def test_call_details_one_row_per_finished_call(
    sim: Simulator, sim_clock: FixedClock, api: Api
) -> None:
    cid = make(sim, Status.IN_PROGRESS, numbers=50, throttle_cpm=10, failure_ratio=0.2)
    sim_clock.advance(timedelta(minutes=3))
    rows = await api.call("GET", f"/{cid}/call-details", params={"limit": 100})
    assert rows.body["metadata"]["total"] == 30
    failed = await api.call(
        "GET", f"/{cid}/call-details", params={"status": "failed,busy,no-answer"}
    )
    assert failed.body["metadata"]["total"] == 6
    assert {"call_sid", "number", "status", "duration"} <= set(failed.body["response"][0])


def test_seeded_campaigns_are_deterministic(sim_clock: FixedClock) -> None:
    def shapes(seed: int) -> list[tuple[str, Status, int]]:
        sim = Simulator(clock=sim_clock, seed=seed)
        ids = sim.seed_campaigns(40)
        return [(c.name, c.status, c.numbers) for c in map(sim.campaign, ids)]

    assert shapes(7) == shapes(7)
    assert shapes(7) != shapes(8)
    assert len({status for _, status, _ in shapes(7)}) >= 4


# -- bodies ----------------------------------------------------------------------------

CREATE = {
    "name": "jan_reminders",
    "caller_id": "08047112345",
    "from": ["+919800000001", "09800000002"],
}


@pytest.mark.parametrize("body", [{"campaigns": [CREATE]}, CREATE])
async def test_create_accepts_wrapped_and_flat(sim: Simulator, api: Api, body: Any) -> None:
    reply = await api.call("POST", json=body)
    assert reply.status == 200
    data = reply.body["response"][0]["data"]
    assert (data["status"], data["name"], data["from"]) == (
        "Created",
        "jan_reminders",
        CREATE["from"],
    )
    assert sim.campaign(data["id"]).numbers == 2


@pytest.mark.parametrize(
    "body",
    [
        {k: v for k, v in CREATE.items() if k != "caller_id"},
        {**CREATE, "from": ["+919800000001", "not-a-number"]},
        {**CREATE, "lists": ["abc"]},
        {**CREATE, "schedule": {"send_at": "2026-11-28T09:00:00"}},
    ],
)
async def test_create_rejects_bad_fields(sim: Simulator, api: Api, body: Any) -> None:
    reply = await api.call("POST", json={"campaigns": [body]})
    assert reply.status == 400
    assert error_of(reply)["message"]
    assert sim.campaigns() == []


async def test_strict_body_rejects_flat_form(sim_clock: FixedClock) -> None:
    sim = Simulator(SimulatorConfig(strict_body=True), clock=sim_clock)
    cid = make(sim, Status.IN_PROGRESS)
    async with serving(sim) as api:
        assert (await api.act(cid, "pause", flat=True)).status == 400
        assert await api.status(cid) == "InProgress"
        assert (await api.act(cid, "pause")).status == 200


async def test_flat_action_body_accepted_by_default(sim: Simulator, api: Api) -> None:
    cid = make(sim, Status.IN_PROGRESS)
    assert (await api.act(cid, "pause", flat=True)).status == 200
    assert [r.body for r in sim.requests if r.method == "PUT"] == [{"action": "pause"}]


async def test_delete_only_while_created(sim: Simulator, api: Api) -> None:
    created, started = make(sim, Status.CREATED), make(sim, Status.IN_PROGRESS)
    assert (await api.call("DELETE", f"/{created}")).status == 200
    assert await api.status(created) == "Deleted"
    refused = await api.call("DELETE", f"/{started}")
    assert refused.status == 400
    assert error_of(refused)["code"] == 1003
    again = await api.call("DELETE", f"/{created}")
    assert error_of(again)["code"] == 1003


# -- auth ------------------------------------------------------------------------------

WRONG = "Basic " + base64.b64encode(b"sim-key:wrong").decode()


@pytest.mark.parametrize(("auth", "present"), [(None, False), (WRONG, True), ("Bearer x", True)])
async def test_bad_credentials_get_401(
    sim: Simulator, api: Api, auth: str | None, present: bool
) -> None:
    reply = await api.call("GET", auth=auth)
    assert reply.status == 401
    assert error_of(reply)["code"] == 1010
    record = sim.requests[-1]
    assert (record.authorized, record.authorization_header_present) == (False, present)


async def test_credentials_never_reach_the_log_or_the_answer(sim: Simulator, sim_url: str) -> None:
    url_with_creds = sim_url.replace("http://", "http://sim-key:sim-token@")
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{url_with_creds}/v2/accounts/{SID}/campaigns") as response,
    ):
        text = await response.text()
    assert response.status == 200  # aiohttp moved them into the Authorization header
    record = sim.requests[-1]
    assert record.authorized
    assert "sim-token" not in record.url and "sim-key" not in record.url
    assert "sim-token" not in text


@pytest.mark.parametrize("status", [404, 401])
async def test_wrong_sid(sim_clock: FixedClock, status: int) -> None:
    sim = Simulator(SimulatorConfig(wrong_sid_status=status), clock=sim_clock)
    async with serving(sim) as api:
        reply = await api.call("GET", sid="other")
    assert reply.status == status
    error_of(reply)


# -- rate limit ------------------------------------------------------------------------


@pytest.mark.parametrize("style", ["v2", "v1"])
async def test_rate_limit_window_on_the_sim_clock(sim_clock: FixedClock, style: Any) -> None:
    sim = Simulator(SimulatorConfig(rate_per_minute=3, rate_limit_style=style), clock=sim_clock)
    async with serving(sim) as api:
        replies = [await api.call("GET") for _ in range(3)]
        assert [r.headers["X-RateLimit-Remaining"] for r in replies] == ["2", "1", "0"]
        refused = await api.call("GET")
        assert (refused.status, refused.headers["Retry-After"]) == (429, "60")
        if style == "v1":
            assert refused.body["RestException"]["Code"] == "RATE_LIMIT_EXCEEDED"
        else:
            assert error_of(refused)["code"] == 429
        sim_clock.advance(timedelta(seconds=45))
        assert (await api.call("GET")).headers["Retry-After"] == "15"
        sim_clock.advance(timedelta(seconds=15))
        assert (await api.call("GET")).status == 200


# -- faults ----------------------------------------------------------------------------


async def test_server_error_faults(sim: Simulator, api: Api) -> None:
    for kind in ("500", "502", "503"):
        sim.inject(Fault(kind))
    internal = await api.call("GET")
    assert (internal.status, error_of(internal)["code"]) == (500, 1100)
    for status in (502, 503):
        gateway = await api.call("GET")
        assert gateway.status == status and "<html>" in gateway.body
    assert (await api.call("GET")).status == 200


async def test_fault_matches_method_path_and_times(sim: Simulator, api: Api) -> None:
    cid = make(sim, Status.IN_PROGRESS)
    sim.inject(Fault("503", method="PUT", path_contains=cid, times=2))
    assert (await api.call("GET", f"/{cid}")).status == 200
    assert (await api.act(cid, "pause")).status == 503
    assert (await api.act(cid, "pause")).status == 503
    assert (await api.act(cid, "pause")).status == 200


async def test_429_fault_carries_retry_after(sim: Simulator, api: Api) -> None:
    sim.inject(Fault("429", seconds=7))
    reply = await api.call("GET")
    assert (reply.status, reply.headers["Retry-After"]) == (429, "7")


async def test_garbage_is_a_200_that_is_not_json(sim: Simulator, api: Api) -> None:
    sim.inject(Fault("garbage"))
    reply = await api.call("GET")
    assert reply.status == 200 and isinstance(reply.body, str) and "<html>" in reply.body


async def test_latency_delays_then_answers(sim: Simulator, api: Api) -> None:
    sim.inject(Fault("latency", seconds=0.05))
    started = time.monotonic()
    assert (await api.call("GET")).status == 200
    assert time.monotonic() - started >= 0.05


async def test_drop_before_applies_nothing(sim: Simulator, api: Api) -> None:
    sim.inject(Fault("drop_before", method="POST"))
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await api.call("POST", json={"campaigns": [CREATE]})
    assert sim.campaigns() == []
    assert sim.requests[-1].status == 0


async def test_drop_after_apply_applies_then_disconnects(sim: Simulator, api: Api) -> None:
    sim.inject(Fault("drop_after_apply", method="POST"))
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await api.call("POST", json={"campaigns": [CREATE]})
    assert [c.name for c in sim.campaigns()] == ["jan_reminders"]


async def test_dropped_put_is_resent_once_by_aiohttp(sim: Simulator, api: Api) -> None:
    # aiohttp re-sends an idempotent request once after a disconnect: a client that must
    # not repeat a PUT has to know this. With times=2 both attempts are dropped.
    cid = make(sim, Status.IN_PROGRESS)
    sim.inject(Fault("drop_after_apply", method="PUT", times=2))
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await api.act(cid, "pause")
    puts = [r for r in sim.requests if r.method == "PUT"]
    assert [r.status for r in puts] == [0, 0]
    assert sim.campaign(cid).status == Status.PAUSED
