"""The leader lease: one holder per name by the database's clock, a stable owner that resumes
its own lease after a restart only when its last process is provably dead, and intents that
are written only while the lease is held (the fence)."""

from __future__ import annotations

import logging
import os
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lifecycle.lease import Incarnation, Lease, owner_id
from lifecycle.metrics import Metrics
from lifecycle.model import Action, Decision, Mode, Outcome, Status
from lifecycle.store import IntentConflict, IntentNotOpen, IntentState, LeaseLost, Store, Tick
from tests.fixtures.db import expire_lease

TTL = timedelta(minutes=3)
BOUND = timedelta(seconds=33)
NAME = "tick:acme1"


def leader(metrics: Metrics) -> int:
    """lifecycle_leader as /metrics shows it."""
    for line in metrics.exposition().decode().splitlines():
        if line.startswith("lifecycle_leader "):
            return int(float(line.split()[1]))
    raise AssertionError("no lifecycle_leader")


def lease(store: Store, instance: str, *, account: str = "acme1", **kw: object) -> Lease:
    made = Lease.for_account(
        account, store=store, instance=instance, ttl=TTL, bound=BOUND, metrics=Metrics(), zone=UTC
    )
    return replace(made, **kw) if kw else made  # type: ignore[arg-type]


def dead_twin() -> Incarnation:
    """This process's pid with another start time: the pid of a process that died and was
    reused, as a restart after kill -9 sees it."""
    here = Incarnation.current()
    return replace(here, start=str(int(here.start) + 1))


async def test_one_holder_until_released_or_expired(store: Store, db_url: str) -> None:
    a, b = lease(store, "a"), lease(store, "b")
    other = lease(store, "a", account="acme2")
    assert a.owner == owner_id("a") and a.owner != b.owner and a.name == NAME

    assert await a.hold() and leader(a.metrics) == 1
    assert not await b.hold() and leader(b.metrics) == 0  # standby
    assert a.leader() is None and (b.leader() or "").startswith(f"{a.owner} holds lease {NAME}")
    assert await other.hold()  # another account: another lease
    assert await a.hold()  # renewed
    assert not await b.hold()

    await expire_lease(db_url, NAME)  # a stopped renewing: expired by the database's clock
    assert await b.hold()
    assert not await a.hold()
    await a.release()  # not its lease any more: no effect on b's
    assert await b.hold()
    await b.release()
    assert leader(b.metrics) == 0
    assert await a.hold()  # released: no wait for the expiry


async def test_a_restart_resumes_its_own_lease_at_once_when_the_old_process_is_dead(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    crashed = lease(store, "default", incarnation=dead_twin())
    assert await crashed.hold()
    restarted = lease(store, "default")
    assert restarted.owner == crashed.owner  # host:instance, the same across restarts
    with caplog.at_level(logging.INFO, logger="lifecycle.lease"):
        caplog.clear()  # what came before (a holder taking it) is not the question
        assert await restarted.hold()  # before the old lease expires: nothing to wait for
    assert [r.getMessage() for r in caplog.records] == [
        f"resumed the lease {NAME} of instance {crashed.owner} at once: its last process "
        f"(pid {os.getpid()}) is gone"
    ]
    assert not await crashed.hold()  # the dead incarnation never gets it back


async def test_a_second_process_of_one_instance_refuses_while_the_first_is_alive(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    running = lease(store, "default")  # this very process: alive
    second = lease(store, "default", incarnation=replace(dead_twin(), pid=os.getpid() + 1))
    assert await running.hold()
    with caplog.at_level(logging.WARNING, logger="lifecycle.lease"):
        caplog.clear()  # what came before (a holder taking it) is not the question
        assert not await second.hold()
        assert not await second.hold()
    assert await running.hold()
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 1  # said once, not on every tick
    assert (
        f"another process with instance {running.owner} is running as pid {os.getpid()}"
        in (said[0])
    )


@pytest.mark.parametrize(
    "differs", [{"boot": "another-boot"}, {"namespace": "pid:[1]"}, {"start": ""}]
)
def test_a_process_is_dead_only_when_provably_so(differs: dict[str, str]) -> None:
    here = Incarnation.current()
    # On another boot, or in another pid namespace (another container), or unknown: the pid
    # means nothing here, so nothing is proven and the lease is waited out instead.
    assert not replace(dead_twin(), **differs).is_dead(here)
    assert dead_twin().is_dead(here)
    assert not here.is_dead(here)
    assert Incarnation.parse(str(here)) == here
    assert Incarnation.parse("host-a:1:abcd") is None  # a row from before revision 0002


async def test_a_process_of_the_instance_in_another_container_is_waited_out(
    store: Store, db_url: str
) -> None:
    elsewhere = replace(dead_twin(), namespace="pid:[1]")  # another pid namespace
    assert await lease(store, "default", incarnation=elsewhere).hold()
    here = lease(store, "default")
    assert not await here.hold()
    assert here.last is not None and "cannot be seen from here" in here.describe(here.last)
    await expire_lease(db_url, NAME)
    assert await here.hold()


def test_without_proc_nothing_is_provably_dead(tmp_path: Path) -> None:
    here = Incarnation.current(proc=tmp_path)
    assert (here.start, here.boot, here.namespace) == ("", "", "")
    assert not dead_twin().is_dead(here, proc=tmp_path)


async def test_standby_and_takeover_are_said_once(
    store: Store, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    a, b = lease(store, "a"), lease(store, "b")
    assert await a.hold()
    with caplog.at_level(logging.INFO, logger="lifecycle.lease"):
        caplog.clear()  # what came before (a holder taking it) is not the question
        for _ in range(3):
            assert not await b.hold()
        await expire_lease(db_url, NAME)
        assert await b.hold()
        assert await b.hold()
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 2, said
    assert said[0].startswith(f"standing by: {a.owner} holds lease {NAME} until ")
    assert said[1].startswith(f"took over the lease {NAME} from {a.owner} (expired at ")


# the fence: an intent is written only while its lease is held


def pause(campaign_id: str = "c1") -> Decision:
    return Decision(
        campaign_id=campaign_id,
        campaign_name=f"Campaign {campaign_id}",
        status=Status.IN_PROGRESS,
        rule="r",
        action=Action.PAUSE,
        steps=(Action.PAUSE,),
        mode=Mode.ENFORCE,
        reason="test",
    )


async def started(store: Store, now: datetime) -> Tick:
    return await store.start_tick(at=now, ruleset="sha256:x", dry_run=False)


async def test_an_intent_is_written_with_its_owner_while_the_lease_is_held(
    store: Store, now: datetime
) -> None:
    a = lease(store, "a")
    assert await a.hold()
    intent = await store.open_intent(
        await started(store, now), decision=pause(), step=Action.PAUSE, at=now, fence=a.fence
    )
    (found,) = await store.unresolved_intents()
    assert (found.id, found.owner, found.created_at) == (intent, a.owner, now)
    db_now = await store.db_now()
    assert found.opened_db_at is not None and found.opened_db_at <= db_now
    with pytest.raises(IntentConflict):  # still one unresolved intent per campaign
        await store.open_intent(
            await started(store, now), decision=pause(), step=Action.PAUSE, at=now, fence=a.fence
        )


@pytest.mark.parametrize("why", ["another's", "expired", "too short", "other process"])
async def test_no_intent_without_the_lease(
    store: Store, db_url: str, now: datetime, why: str
) -> None:
    a, b = lease(store, "a"), lease(store, "b")
    fence = a.fence
    if why == "another's":
        assert await b.hold()
    elif why == "expired":
        assert await a.hold()
        await expire_lease(db_url, NAME)
    elif why == "too short":  # held, but not long enough to send a request and see it end
        assert await a.hold()
        await expire_lease(db_url, NAME, ago=-(BOUND - timedelta(seconds=1)))
    else:  # the same owner id, another process (the fence carries the incarnation)
        assert await a.hold()
        fence = replace(fence, incarnation=str(dead_twin()))
    tick = await started(store, now)
    with pytest.raises(LeaseLost, match=f"does not hold lease {NAME}"):
        await store.open_intent(tick, decision=pause(), step=Action.PAUSE, at=now, fence=fence)
    assert await store.unresolved_intents() == []
    assert await store.audit(campaign_id="c1") == []  # never sent: no audit row either


async def test_outcomes_land_on_their_intent_by_id(store: Store, now: datetime) -> None:
    """A late answer for an intent already decided never lands on the campaign's next one."""
    a = lease(store, "a")
    assert await a.hold()
    tick = await started(store, now)
    first = await store.open_intent(
        tick, decision=pause(), step=Action.PAUSE, at=now, fence=a.fence
    )
    await store.resolve_intent(first, outcome=Outcome.FAILED, at=now, error="not applied")
    second = await store.open_intent(
        tick, decision=pause(), step=Action.PAUSE, at=now, fence=a.fence
    )
    with pytest.raises(IntentNotOpen):
        await store.record_outcome(first, outcome=Outcome.SUCCEEDED, at=now)
    (still,) = await store.unresolved_intents()
    assert (still.id, still.state) == (second, IntentState.OPEN)
