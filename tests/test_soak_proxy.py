"""The soak's fault proxy (bench/soak/proxy.py), each fault kind against the simulator.

The instrument must be right before its figures mean anything: a "late" request really
reaches the server after its client gave up, a "drop" is applied but unanswered, a "hang"
is never forwarded, and every forwarded request carries the tag that ties the server's
record to the proxy's. Order of events is judged, never durations.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime

import aiohttp
import pytest

from bench.soak.proxy import CALM, FaultKind, FaultPlan, FaultyProxy, ProxyEvent
from lifecycle.clock import wall_now
from lifecycle.model import Action, Status
from lifecycle.simulator import Simulator

from .fixtures.sim import serve

AUTH = {"Authorization": "Basic " + base64.b64encode(b"sim-key:sim-token").decode()}
# Long enough for a proxied PUT on a busy machine (0.3 s timed out there under load).
CLIENT_TIMEOUT = 1.0


@dataclass
class Rig:
    sim: Simulator
    proxy: FaultyProxy
    events: list[ProxyEvent]
    url: str
    session: aiohttp.ClientSession
    campaign: str

    async def pause(self) -> aiohttp.ClientResponse:
        target = f"{self.url}/v2/accounts/acme1/campaigns/{self.campaign}"
        body = {"campaigns": [{"action": "pause"}]}
        async with self.session.put(target, json=body, headers=AUTH) as response:
            await response.read()
            return response

    async def until(self, condition: object, limit: float = 10.0) -> None:
        """Wait (polling) until `condition()` holds; fail after `limit` seconds."""
        waited = 0.0
        while not condition():  # type: ignore[operator]
            assert waited < limit, "the proxy never got there"
            await asyncio.sleep(0.02)
            waited += 0.02


@asynccontextmanager
async def rig(sim: Simulator, plan: FaultPlan, sights: list[bool]) -> AsyncIterator[Rig]:
    """The simulator behind a proxy with `plan`; `sights` gets, for each PUT, whether the
    server had applied anything yet when the proxy's PUT hook ran."""
    campaign = sim.add_campaign(name="soaked", status=Status.IN_PROGRESS)
    events: list[ProxyEvent] = []

    async def on_put(_event: ProxyEvent) -> object:
        sights.append(bool(sim.transitions))
        return "lease"

    async with serve(sim.app()) as sim_url:
        proxy = FaultyProxy(
            daemon="a", upstream=sim_url, plan=plan, seed=1, events=events, on_put=on_put
        )
        timeout = aiohttp.ClientTimeout(total=CLIENT_TIMEOUT)
        async with serve(proxy.app()) as url, aiohttp.ClientSession(timeout=timeout) as session:
            yield Rig(sim, proxy, events, url, session, campaign)


def always(kind: FaultKind, **kw: object) -> FaultPlan:
    return FaultPlan(rates={kind: 1.0}, **kw)  # type: ignore[arg-type]


async def test_no_fault_forwards_and_tags(sim: Simulator) -> None:
    sights: list[bool] = []
    async with rig(sim, CALM, sights) as r:
        response = await r.pause()
    (event,) = r.events
    (record,) = sim.transitions
    assert response.status == 200 == event.answered == event.upstream_status
    assert (record.action, record.applied, record.tag) == (Action.PAUSE, True, str(event.seq))
    assert (event.action, event.campaign_id, event.lease, sights) == (
        "pause",
        r.campaign,
        "lease",
        [False],
    )


async def test_5xx_answers_without_forwarding(sim: Simulator) -> None:
    async with rig(sim, always("5xx"), []) as r:
        response = await r.pause()
    assert response.status in (500, 502, 503)
    assert sim.requests == [] and sim.transitions == []
    assert r.events[0].forwarded_at is None


async def test_hang_holds_until_the_client_gives_up_and_forwards_nothing(sim: Simulator) -> None:
    async with rig(sim, always("hang", hang_limit=30.0), []) as r:
        with pytest.raises(TimeoutError):
            await r.pause()
    assert sim.requests == [] and r.events[0].answered is None


async def test_drop_applies_then_closes_without_an_answer(sim: Simulator) -> None:
    async with rig(sim, always("drop"), []) as r:
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await r.pause()
    # aiohttp re-sends an idempotent request once after a disconnect (lifecycle's client
    # does not): the second one is dropped too, refused as the campaign is paused already.
    assert [t.applied for t in sim.transitions] == [True, False][: len(r.events)]
    assert r.events[0].upstream_status == 200
    assert all(e.answered is None and e.fault == "drop" for e in r.events)


async def test_late_reaches_the_server_after_the_client_gave_up(sim: Simulator) -> None:
    plan = always("late", late_by=(CLIENT_TIMEOUT + 0.3, CLIENT_TIMEOUT + 0.4))
    sights: list[bool] = []
    async with rig(sim, plan, sights) as r:
        with pytest.raises(TimeoutError):
            await r.pause()
        gave_up: datetime = wall_now()
        assert sim.transitions == []  # not yet: it is still "on the wire"
        await r.until(lambda: r.events[0].upstream_status is not None)
    event = r.events[0]
    (record,) = sim.transitions
    assert event.client_gone_at_forward is True
    assert event.forwarded_at is not None and gave_up < event.forwarded_at
    assert record.applied and record.tag == str(event.seq) and sights == [False]


async def test_garbage_is_a_200_that_is_not_json_after_applying(sim: Simulator) -> None:
    async with rig(sim, always("garbage"), []) as r:
        target = f"{r.url}/v2/accounts/acme1/campaigns/{r.campaign}"
        body = {"campaigns": [{"action": "pause"}]}
        async with r.session.put(target, json=body, headers=AUTH) as response:
            text = await response.text()
    assert response.status == 200
    with pytest.raises(ValueError):
        json.loads(text)
    assert sim.transitions[0].applied


async def test_429_comes_in_bursts_with_retry_after(sim: Simulator) -> None:
    plan = always("429", burst=(2, 2), retry_after=(3, 3))
    async with rig(sim, plan, []) as r:
        first = await r.pause()
        r.proxy.plan = CALM  # the burst goes on regardless
        burst = [await r.pause() for _ in range(2)]
        after = await r.pause()
    assert [x.status for x in (first, *burst, after)] == [429, 429, 429, 200]
    assert first.headers["Retry-After"] == "3"
    assert len(sim.transitions) == 1


def test_fault_rates_above_one_are_refused() -> None:
    with pytest.raises(ValueError, match="sum to at most 1"):
        FaultPlan(rates={"5xx": 0.6, "late": 0.6})
