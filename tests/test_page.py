"""The status page and the campaign page over real HTTP: a real tick on the simulator, the
store on SQLite and Postgres, the clock fixed at Friday 19:00 in Mumbai (conftest.NOW).

What the browser test (test_page_browser.py) checks by eye, these check on every machine:
hostile names are escaped, no credential reaches the HTML, times are in the rules' zone,
the read model sends nothing to Exotel, and a rejected edit shows on the page and /readyz.
"""

from __future__ import annotations

import asyncio
import html
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest

from lifecycle.client import ExotelClient
from lifecycle.clock import FixedClock
from lifecycle.cycle import Reconciler, TickReport
from lifecycle.engine import TimelineEntry
from lifecycle.model import Action, Mode, Status
from lifecycle.overview import Rejection, RulesState, Sources, edges_of
from lifecycle.rules import load_rules
from lifecycle.simulator import Simulator
from lifecycle.store import Store
from lifecycle.web import WebState, make_app
from lifecycle.web.page import status_page
from tests.conftest import NOW
from tests.fixtures.sim import serve

RULES = load_rules(Path(__file__).parents[1] / "rules.yaml")
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


@pytest.fixture
def reconciler(client: ExotelClient, store: Store, sim_clock: FixedClock) -> Reconciler:
    return Reconciler(client=client, store=store, ruleset=lambda: RULES, clock=sim_clock)


def seed(sim: Simulator, running: int) -> list[str]:
    now = sim.clock.now()
    return [
        sim.add_campaign(
            name=HOSTILE if n == 0 else f"evening {n}",
            status=Status.IN_PROGRESS,
            send_at=now - timedelta(hours=8),
            end_at=now + timedelta(days=2),
            numbers=1000,
        )
        for n in range(running)
    ]


def state_for(
    reconciler: Reconciler, clock: FixedClock, rules: RulesState | None = None
) -> WebState:
    return WebState(
        reconciler=reconciler, clock=clock, poll_seconds=60, nudge=lambda _: None,
        started_at=clock.now(), rules=(lambda: rules) if rules else None,
    )  # fmt: skip


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def get_text(http: aiohttp.ClientSession, url: str) -> str:
    async with http.get(url) as answer:
        assert answer.status == 200
        assert answer.headers["Content-Type"].startswith("text/html")
        return await answer.text()


async def test_the_status_page_after_a_tick_that_paused_campaigns(
    sim: Simulator,
    reconciler: Reconciler,
    sim_clock: FixedClock,
    store: Store,
    http: aiohttp.ClientSession,
    db_url: str,
) -> None:
    seed(sim, 3)
    report = await reconciler.tick()
    assert report.ok and report.sent == 3
    await store.add_hold(
        campaign_id="held-1", until=sim_clock.now() + timedelta(hours=2),
        reason=f"client call {HOSTILE}", at=sim_clock.now(),
    )  # fmt: skip
    requests = len(sim.requests)
    async with serve(make_app(state_for(reconciler, sim_clock))) as base:
        page = await get_text(http, f"{base}/")
    assert len(sim.requests) == requests  # viewing the page asked Exotel nothing

    assert HOSTILE not in page and "<script" not in page and "<img" not in page
    assert html.escape(HOSTILE) in page  # in the recent actions and the hold's reason
    secrets = [sim.config.api_key, sim.config.api_token, "Basic "]
    assert [s for s in secrets if s in page] == []
    if "@" in db_url:  # Postgres: neither the URL nor its user appears
        assert db_url not in page
    # Health: the last tick, in the rules' zone.
    assert "2026-11-27T19:00:00+05:30" in page
    assert "3 campaigns, 3 steps sent, 0 failed" in page
    # The tick's own pauses are counted as done: paused 3, and the next edge resumes them.
    assert "<td>paused</td>" in page and "in-progress" not in _section(page, "campaigns")
    edges = _section(page, "next24h")
    assert "2026-11-28T10:00:00+05:30" in edges and "resume</strong> × 3" in edges
    assert "2026-11-27T19:00:00+05:30" not in edges  # done, not still to come
    recent = _section(page, "recent")
    assert recent.count("succeeded 200") == 3 and "outside business-hours" in recent
    assert "held-1" in _section(page, "holds")
    assert "none" in _section(page, "intents") and "no failures" in _section(page, "failures")


async def test_the_campaign_page_shows_each_rules_verdict_and_the_trail(
    sim: Simulator,
    reconciler: Reconciler,
    sim_clock: FixedClock,
    http: aiohttp.ClientSession,
) -> None:
    hostile, _ = seed(sim, 2)
    await reconciler.tick()
    async with serve(make_app(state_for(reconciler, sim_clock))) as base:
        page = await get_text(http, f"{base}/campaigns/{hostile}")
        async with http.get(
            f"{base}/campaigns", params={"id": hostile}, allow_redirects=False
        ) as found:
            assert found.status == 303 and found.headers["Location"] == f"/campaigns/{hostile}"
        unknown = await get_text(http, f"{base}/campaigns/%3Cnope%3E")
    assert "<script" not in page and html.escape(HOSTILE) in page
    verdicts = _section(page, "verdicts")
    for rule in RULES.rules:
        assert f"<td>{rule.name}</td>" in verdicts
    # Paused by the tick: the resume rule matches (and waits for the window), none acts now.
    assert "outside business-hours" in verdicts or "closed" in verdicts
    assert "paused" in _section(page, "campaign")
    assert "read as &#x27;InProgress&#x27; before this daemon&#x27;s step" in page
    assert "pause-outside-business-hours" in _section(page, "decisions")
    assert _section(page, "audit").count("succeeded 200") == 1
    assert "in-progress" in _section(page, "statuses") and "paused" in _section(page, "statuses")
    assert "&lt;nope&gt;" in unknown and "not in the last tick" in unknown


async def test_a_rejected_edit_is_on_the_page_and_in_readyz_and_still_ready(
    sim: Simulator,
    reconciler: Reconciler,
    sim_clock: FixedClock,
    http: aiohttp.ClientSession,
) -> None:
    seed(sim, 1)
    await reconciler.tick()
    problem = f"rules.yaml:34:13: rules[1].action: unknown action {HOSTILE!r}"
    rejection = Rejection("sha256:bad", sim_clock.now(), (problem,))
    rules = RulesState("rules.yaml", RULES.hash, sim_clock.now(), rejection, "sha256:bad")
    async with serve(make_app(state_for(reconciler, sim_clock, rules))) as base:
        page = await get_text(http, f"{base}/")
        async with http.get(f"{base}/readyz") as answer:
            assert answer.status == 200
            body = await answer.json()
    assert body["ready"] is True
    assert body["reason"] == f"ok; rules edit sha256:bad rejected, keeping {RULES.hash}"
    assert body["rules_rejected"] == {
        "hash": "sha256:bad", "at": sim_clock.now().isoformat(), "problems": [problem],
    }  # fmt: skip
    section = _section(page, "rules")
    assert 'id="rejected"' in section and html.escape(problem) in section
    assert "<script" not in page


async def test_readyz_without_a_rejected_edit_says_ok_and_the_next_tick(
    sim: Simulator,
    reconciler: Reconciler,
    sim_clock: FixedClock,
    http: aiohttp.ClientSession,
) -> None:
    seed(sim, 1)
    await reconciler.tick()
    async with (
        serve(make_app(state_for(reconciler, sim_clock))) as base,
        http.get(f"{base}/readyz") as answer,
    ):
        body = await answer.json()
    assert (body["reason"], body["rules_rejected"], body["leader"]) == ("ok", None, "this process")
    # Paused at 19:00; the next time edge is Saturday 10:00, but the poll comes first.
    assert body["next_tick"] == (sim_clock.now() + timedelta(seconds=60)).isoformat()


async def test_a_database_outage_keeps_the_page_up_and_says_so(
    sim: Simulator,
    reconciler: Reconciler,
    sim_clock: FixedClock,
    http: aiohttp.ClientSession,
    tmp_path: Path,
) -> None:
    seed(sim, 1)
    await reconciler.tick()
    gone = await Store.connect(f"sqlite+aiosqlite:///{tmp_path / 'no-such-dir' / 'x.db'}")
    try:
        cut_off = replace(reconciler, store=gone)  # the last tick is remembered, the DB not
        async with serve(make_app(state_for(cut_off, sim_clock))) as base:
            page = await get_text(http, f"{base}/")
            async with http.get(f"{base}/campaigns/abc") as answer:
                assert answer.status == 503
                assert "database unreachable" in await answer.text()
    finally:
        await gone.close()
    assert "Database unreachable" in _section(page, "store")
    assert "2026-11-27T19:00:00+05:30" in _section(page, "health")  # still shown
    assert "the database is unreachable" in _section(page, "next24h")


async def test_a_standby_says_who_leads_and_counts_campaigns_from_the_database(
    sim: Simulator, reconciler: Reconciler, sim_clock: FixedClock, store: Store
) -> None:
    seed(sim, 2)
    await reconciler.tick()  # another process, the leader, paused both
    leader = "host-b:default until 2026-11-27T19:01:00+05:30"
    standby = TickReport(at=sim_clock.now(), standby=True, leader=leader)
    sources = Sources(
        store=store, last=lambda: standby, ruleset=lambda: RULES,
        rules=lambda: RulesState("rules.yaml", RULES.hash, NOW), readiness=lambda: (True, "ok"),
        poll=timedelta(seconds=60),
    )  # fmt: skip
    view = await sources.overview(sim_clock.now())
    assert view.health.leader == f"standby: {leader}"
    assert view.campaigns_by_status == {Status.PAUSED: 2}
    assert view.campaigns_from.startswith("the database")
    assert view.edges == () and "a standby does not poll" in view.edges_note
    assert "standby: host-b:default" in status_page(view)


async def test_views_of_one_tick_share_one_timeline(
    sim: Simulator, reconciler: Reconciler, sim_clock: FixedClock, store: Store
) -> None:
    seed(sim, 3)
    await reconciler.tick()
    sources = state_for(reconciler, sim_clock).sources
    first, second = await asyncio.gather(
        sources.overview(sim_clock.now()), sources.overview(sim_clock.now())
    )
    sim_clock.advance(timedelta(minutes=5))
    later = await sources.overview(sim_clock.now())
    assert first.edges and first.edges is second.edges is later.edges  # computed once
    await reconciler.tick()
    assert (await sources.overview(sim_clock.now())).edges is not first.edges  # a new tick


def test_edges_count_campaigns_per_instant_and_action() -> None:
    def entry(campaign: str, action: Action | None, rule: str, later: int = 0) -> TimelineEntry:
        return TimelineEntry(
            at=NOW + timedelta(hours=later), kind="action" if action else "exotel",
            campaign_id=campaign, campaign_name=campaign, rule=rule, action=action,
            steps=(action,) if action else (), status_before=Status.IN_PROGRESS,
            status_after=Status.PAUSED if action else Status.COMPLETED,
            mode=Mode.ENFORCE if action else None, reason="",
        )  # fmt: skip

    edges = edges_of([
        entry("a", Action.PAUSE, "night"), entry("b", Action.PAUSE, "night"),
        entry("c", Action.PAUSE, "other"), entry("d", None, "", later=2),
        entry("a", Action.RESUME, "day", later=1),
    ])  # fmt: skip
    assert [(e.at - NOW, e.kind, e.what, e.count, e.rules) for e in edges] == [
        (timedelta(0), "action", "pause", 3, ("night", "other")),
        (timedelta(hours=1), "action", "resume", 1, ("day",)),
        (timedelta(hours=2), "exotel", "→ completed", 1, ()),
    ]


def _section(page: str, section_id: str) -> str:
    start = page.index(f'<section id="{section_id}"')
    return page[start : page.index("</section>", start)]


async def test_the_timeline_stays_within_its_budget_and_says_it_is_truncated(
    sim: Simulator, reconciler: Reconciler, sim_clock: FixedClock
) -> None:
    """Each instant of the timeline plans every campaign: on a large fleet the page shows
    the instants its budget reached, says so, and never spends minutes of a core."""
    seed(sim, 3)
    await reconciler.tick()
    sources = state_for(reconciler, sim_clock).sources
    whole = await sources.overview(sim_clock.now())
    assert whole.edges and not whole.edges_note  # 24 hours within the default budget
    cut = replace(sources, timeline_budget=3 * 2, _timeline={})  # two instants of three
    view = await cut.overview(sim_clock.now())
    assert view.edges_note.startswith("truncated: 2 evaluations of 3 campaigns")
    assert view.edges == whole.edges[: len(view.edges)] and len(view.edges) < len(whole.edges)
