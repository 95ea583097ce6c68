"""Notifications end to end: the simulator over loopback HTTP, a real database, a local
webhook receiver (for the JSON webhook and for Slack) and a local SMTP server (aiosmtpd).

No test sleeps: the notifier's back-off sleep is a gate the test opens, and every wait
for a delivery is on an event set by the receiver (with a generous cap that only turns a
hang into a failure)."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from pathlib import Path

import pytest
from aiohttp import web
from aiosmtpd.smtp import SMTP, Envelope, Session

from lifecycle.client import ExotelClient
from lifecycle.clock import FixedClock
from lifecycle.cycle import Reconciler, TickOptions, TickReport
from lifecycle.model import Status
from lifecycle.notice import Kind, Message, Notice, Severity
from lifecycle.notify import Notifier, TickWatch
from lifecycle.rules import Ruleset, parse_rules
from lifecycle.simulator import Fault, Simulator
from lifecycle.store import Store
from tests.fixtures.db import expire_lease
from tests.fixtures.sim import serve

CAP = 20.0  # seconds: only ever reached by a hang
SLACK_SECRET = "T0000/B0000/XXXXSECRETXXXX"


@dataclass
class Receiver:
    """A webhook receiver on loopback: records each POST by path; answers the statuses
    queued for a path first, then 200. `audit_rows` is how many succeeded audit rows the
    store held when each message arrived (the digest must come after they are written)."""

    store: Store
    bodies: dict[str, list[dict[str, object]]] = field(default_factory=lambda: defaultdict(list))
    answers: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    attempts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    audit_rows: list[int] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        path = request.path
        self.attempts[path] += 1
        if self.answers[path]:
            return web.Response(status=self.answers[path].pop(0))
        self.bodies[path].append(await request.json())
        rows = await self.store.audit(limit=1000)
        self.audit_rows.append(sum(r.outcome.value == "succeeded" for r in rows))
        self.arrived.set()
        return web.Response(text="ok")

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self.handle)
        return app


class Mailbox:
    """aiosmtpd's handler: every mail received, parsed."""

    def __init__(self) -> None:
        self.mails: list[dict[str, str]] = []
        self.arrived = asyncio.Event()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        mail = message_from_bytes(bytes(envelope.original_content or b""))
        body = mail.get_payload(decode=True)
        assert isinstance(body, bytes)
        self.mails.append({"subject": str(mail["Subject"]), "body": body.decode()})
        self.arrived.set()
        return "250 OK"


@pytest.fixture
async def mailbox() -> AsyncIterator[tuple[Mailbox, int]]:
    """A real SMTP server (aiosmtpd) on this loop, on a free loopback port."""
    box = Mailbox()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(box), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield box, port
    server.close()
    await server.wait_closed()


@pytest.fixture
async def receiver(store: Store) -> AsyncIterator[tuple[Receiver, str]]:
    found = Receiver(store)
    async with serve(found.app()) as url:
        yield found, url


def rules_text(hook: str, slack_file: Path, smtp_port: int) -> str:
    return f"""\
timezone: Asia/Kolkata
rules:
  - name: pause-running
    match: {{status: [in-progress]}}
    action: pause
notify:
  failing_for: 10m
  channels:
    - name: ops-hook
      webhook: {{url: "{hook}/hook"}}
    - name: ops-slack
      slack: {{url_file: {slack_file}}}
    - name: ops-mail
      email: {{host: 127.0.0.1, port: {smtp_port}, security: none,
              from: lifecycle@example.com, to: [oncall@example.com]}}
"""


@pytest.fixture
def ruleset(
    receiver: tuple[Receiver, str], mailbox: tuple[Mailbox, int], tmp_path: Path
) -> Ruleset:
    slack_file = tmp_path / "slack-url"
    slack_file.write_text(f"{receiver[1]}/services/{SLACK_SECRET}\n")
    return parse_rules(rules_text(receiver[1], slack_file, mailbox[1]))


class Gate:
    """The notifier's back-off sleep: records each delay and waits until the test opens."""

    def __init__(self) -> None:
        self.delays: list[float] = []
        self.open = asyncio.Event()
        self.waiting = asyncio.Event()

    async def sleep(self, seconds: float) -> None:
        self.delays.append(seconds)
        self.waiting.set()
        await self.open.wait()


def notifier_for(store: Store, ruleset: Ruleset, clock: FixedClock, gate: Gate) -> Notifier:
    return Notifier(store=store, ruleset=lambda: ruleset, clock=clock, sleep=gate.sleep)


def reconciler_for(
    client: ExotelClient, store: Store, ruleset: Ruleset, clock: FixedClock, notifier: Notifier
) -> Reconciler:
    return Reconciler(
        client=client, store=store, ruleset=lambda: ruleset, clock=clock,
        options=TickOptions(after_tick=notifier.on_tick),
    )  # fmt: skip


def running(sim: Simulator, count: int) -> None:
    for i in range(count):
        sim.add_campaign(name=f"campaign-{i:02}", status=Status.IN_PROGRESS, numbers=1000)


async def until(event: asyncio.Event) -> None:
    await asyncio.wait_for(event.wait(), CAP)
    event.clear()


async def test_a_tick_that_pauses_40_campaigns_sends_one_digest_per_channel_after_its_rows(
    sim: Simulator, client: ExotelClient, store: Store, sim_clock: FixedClock,
    receiver: tuple[Receiver, str], mailbox: tuple[Mailbox, int], ruleset: Ruleset,
) -> None:  # fmt: skip
    hooks, box = receiver[0], mailbox[0]
    running(sim, 40)
    notifier = notifier_for(store, ruleset, sim_clock, Gate())
    report = await reconciler_for(client, store, ruleset, sim_clock, notifier).tick()
    assert report.ok and report.sent == 40
    assert await notifier.drain(CAP)

    (hook,) = hooks.bodies["/hook"]
    assert hook["count"] == 40 and hook["severity"] == "info"
    notices = hook["notices"]
    assert isinstance(notices, list) and len(notices) == 40
    assert {(n["kind"], n["step"], n["rule"]) for n in notices} == {
        ("step-sent", "pause", "pause-running")
    }
    assert sorted(n["campaign_name"] for n in notices) == [f"campaign-{i:02}" for i in range(40)]
    (slack,) = hooks.bodies[f"/services/{SLACK_SECRET}"]
    text = str(slack["text"]).splitlines()
    assert text[0].startswith("*lifecycle info: tick at 2026-11-27T19:00:00+05:30: steps 40 sent")
    assert len(text) == 41 and all(line.startswith("• pause ") for line in text[1:])
    (mail,) = box.mails
    assert mail["subject"].startswith("[lifecycle] info: tick at 2026-11-27T19:00:00+05:30")
    assert sum(line.startswith("• pause ") for line in mail["body"].splitlines()) == 40
    # Sent after the tick's audit rows were committed: each receiver saw all 40 of them.
    assert hooks.audit_rows == [40, 40]

    # A tick with nothing to do tells nothing.
    assert (await reconciler_for(client, store, ruleset, sim_clock, notifier).tick()).ok
    assert await notifier.drain(CAP)
    assert len(hooks.bodies["/hook"]) == 1 and len(box.mails) == 1
    await notifier.close()


async def test_a_failing_channel_is_retried_with_backoff_and_delays_nothing_else(
    sim: Simulator, client: ExotelClient, store: Store, sim_clock: FixedClock,
    receiver: tuple[Receiver, str], mailbox: tuple[Mailbox, int], ruleset: Ruleset,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    hooks, box = receiver[0], mailbox[0]
    slack_path = f"/services/{SLACK_SECRET}"
    hooks.answers[slack_path] = [500, 500]
    running(sim, 3)
    gate = Gate()
    notifier = notifier_for(store, ruleset, sim_clock, gate)
    ticks = reconciler_for(client, store, ruleset, sim_clock, notifier)

    assert (await ticks.tick()).sent == 3
    await until(gate.waiting)  # Slack answered 500: its worker waits out the back-off
    await until(hooks.arrived)  # meanwhile the other channels got theirs
    await until(box.arrived)
    assert len(hooks.bodies["/hook"]) == 1 and hooks.bodies[slack_path] == []

    running(sim, 2)  # the next tick runs, and its digest goes out, while Slack waits
    sim_clock.advance(timedelta(minutes=1))
    assert (await ticks.tick()).sent == 2
    await until(hooks.arrived)
    await until(box.arrived)
    assert len(hooks.bodies["/hook"]) == 2 and hooks.bodies[slack_path] == []
    assert gate.delays == [5.0]

    gate.open.set()  # the back-off ends: attempt 2 fails, attempt 3 delivers; then tick 2's
    assert await notifier.drain(CAP)
    assert gate.delays == [5.0, 30.0]
    assert [len(b["text"].splitlines()) for b in hooks.bodies[slack_path]] == [4, 3]  # type: ignore[attr-defined]
    assert hooks.attempts[slack_path] == 4
    assert "notification tick:1 to ops-slack: attempt 1 answered HTTP 500" in caplog.text
    assert SLACK_SECRET not in caplog.text
    await notifier.close()


async def test_a_restart_sends_what_was_left_unsent_and_never_resends(
    sim: Simulator, client: ExotelClient, store: Store, sim_clock: FixedClock,
    receiver: tuple[Receiver, str], mailbox: tuple[Mailbox, int], ruleset: Ruleset,
) -> None:  # fmt: skip
    hooks, box = receiver[0], mailbox[0]
    hooks.answers["/hook"] = [503]
    running(sim, 5)
    first = notifier_for(store, ruleset, sim_clock, gate := Gate())
    await reconciler_for(client, store, ruleset, sim_clock, first).tick()
    await until(gate.waiting)  # the webhook failed once and waits to retry...
    await until(box.arrived)
    await until(hooks.arrived)  # (Slack's)
    await first.close(grace=0)  # ... when the process stops
    assert hooks.bodies["/hook"] == []

    second = notifier_for(store, ruleset, sim_clock, Gate())  # the next process
    await second.resume()
    assert await second.drain(CAP)
    (hook,) = hooks.bodies["/hook"]
    assert hook["key"] == "tick:1" and hook["count"] == 5
    assert len(box.mails) == 1 and len(hooks.bodies[f"/services/{SLACK_SECRET}"]) == 1

    # Nothing is pending any more, and a message once recorded is never sent again.
    await second.resume()
    second.post(Message.from_json(hook))  # type: ignore[arg-type]
    sim_clock.advance(timedelta(minutes=1))
    await reconciler_for(client, store, ruleset, sim_clock, second).tick()
    assert await second.drain(CAP)
    assert len(hooks.bodies["/hook"]) == 1 and len(box.mails) == 1
    assert await store.pending_notifications() == []
    await second.close()


async def test_a_channel_hears_only_its_severity_and_above(
    sim: Simulator, client: ExotelClient, store: Store, sim_clock: FixedClock,
    receiver: tuple[Receiver, str], mailbox: tuple[Mailbox, int], ruleset: Ruleset,
) -> None:  # fmt: skip
    hooks, box = receiver[0], mailbox[0]
    channels = [
        c.model_copy(update={"min_severity": Severity.WARNING}) if c.name == "ops-mail" else c
        for c in ruleset.notify.channels
    ]
    picky = replace(ruleset, notify=ruleset.notify.model_copy(update={"channels": channels}))
    running(sim, 2)
    sim.inject(Fault(kind="500", method="PUT", times=1))
    notifier = notifier_for(store, picky, sim_clock, Gate())
    await reconciler_for(client, store, picky, sim_clock, notifier).tick()
    assert await notifier.drain(CAP)

    (hook,) = hooks.bodies["/hook"]
    assert sorted(n["kind"] for n in hook["notices"]) in (  # type: ignore[attr-defined]
        ["step-failed", "step-sent"], ["step-sent", "step-unknown"]
    )  # fmt: skip
    (mail,) = box.mails  # the failed step only: the sent one is info
    (line,) = [x for x in mail["body"].splitlines() if x.startswith(("✖", "⚠"))]
    assert "pause" in line and "HTTP 500" in line
    assert "• pause" not in mail["body"]
    await notifier.close()


AT = datetime(2026, 11, 27, 13, 30, tzinfo=UTC)


def report(minute: int, **fields: object) -> TickReport:
    return TickReport(at=AT + timedelta(minutes=minute), tick_id=minute, **fields)  # type: ignore[arg-type]


API_DOWN = {"error": "ApiUnavailable: HTTP 503", "api_unreachable": True}
DB_DOWN = {"error": "database at sqlite:///x is unavailable", "database_unreachable": True}


@pytest.mark.parametrize(
    ("reports", "told"),
    [
        ([report(0), report(1)], [[], []]),
        (
            [report(0, **API_DOWN), report(5, **API_DOWN), report(10, **API_DOWN), report(11)],
            [[Kind.API_OUTAGE], [], [Kind.TICKS_FAILING], [Kind.API_RECOVERED]],
        ),
        (
            [report(0, **DB_DOWN), report(1, **DB_DOWN), report(2)],
            [[Kind.DATABASE_OUTAGE], [], [Kind.DATABASE_RECOVERED]],
        ),
        (
            [report(0, error="ValueError: bug"), report(9, error="ValueError: bug"), report(20)],
            [[], [], []],
        ),
        ([report(0, standby=True), report(30, standby=True)], [[], []]),
        (
            [report(0, **API_DOWN), report(10, **API_DOWN), report(11), report(12, **API_DOWN),
             report(22, **API_DOWN)],
            [[Kind.API_OUTAGE], [Kind.TICKS_FAILING], [Kind.API_RECOVERED], [Kind.API_OUTAGE],
             [Kind.TICKS_FAILING]],
        ),
    ],
)  # fmt: skip
def test_outages_and_long_failures_are_told_once_per_episode(
    reports: list[TickReport], told: list[list[Kind]]
) -> None:
    watch = TickWatch()
    zone = parse_rules(rules_text("http://x", Path("/x"), 25)).timezone
    said = [watch.observe(r, failing_for=timedelta(minutes=10), zone=zone) for r in reports]
    assert [[n.kind for m in messages for n in m.notices] for messages in said] == told
    keys = [m.key for messages in said for m in messages]
    assert len(keys) == len(set(keys))  # each episode has a key of its own


def test_a_message_keeps_only_what_a_channel_wants() -> None:
    def notice(severity: Severity) -> Notice:
        return Notice(Kind.STEP_SENT, severity, AT, severity.value)

    digest = Message("tick:1", "t", tuple(notice(s) for s in Severity))
    assert digest.severity == Severity.ERROR
    kept = digest.only(Severity.WARNING)
    assert kept is not None and [n.text for n in kept.notices] == ["warning", "error"]
    assert Message("k", "t", (notice(Severity.INFO),)).only(Severity.WARNING) is None
    assert Message.from_json(json.loads(json.dumps(digest.to_json()))) == digest


def test_a_rejected_rules_edit_is_told_once_with_its_located_problems(tmp_path: Path) -> None:
    from lifecycle.daemon import RejectedEdit, RulesInForce
    from lifecycle.metrics import Metrics
    from lifecycle.notify import rules_rejected

    path = tmp_path / "rules.yaml"
    path.write_text(rules_text("http://127.0.0.1:1", tmp_path / "slack", 25))
    rules = RulesInForce(path, Metrics())
    told: list[RejectedEdit] = []
    rules.on_rejected = told.append
    path.write_text(path.read_text().replace("action: pause", "action: snooze"))
    assert not rules.refresh() and not rules.refresh()  # the same bad file: told once
    (edit,) = told
    problems = "\n".join(str(p) for p in edit.error.problems)
    message = rules_rejected(
        str(path), edit=edit.hash, keeping=rules.current.hash, problems=problems, at=AT
    )
    assert message.key == f"rules-rejected:{edit.hash}"
    (notice,) = message.notices
    assert notice.severity == Severity.ERROR
    assert f"{path}:5:13: rules[0].action: unknown action 'snooze'" in notice.text


@pytest.mark.parametrize(
    ("section", "problems"),
    [
        ("notify: {channels: [{name: a}]}", ["6:21: notify.channels[0]: give exactly one of "
         "'webhook', 'slack' or 'email'"]),
        ("notify: {channels: [{name: a, slack: {url: 'https://hooks.example/x'}}]}",
         ["6:38: notify.channels[0].slack: missing required key 'url_file'",
          "6:39: notify.channels[0].slack.url: unknown key 'url' (expected one of url_file)"]),
        ("notify: {channels: [{name: a, webhook: {url: 'https://u:p@x.example/'}}]}",
         ["6:46: notify.channels[0].webhook.url: credentials do not belong in the rules file: "
          "put the URL in a file and name it with url_file"]),
        ("notify: {channels: [{name: a, min_severity: loud, webhook: {url: 'http://x/'}}]}",
         ["6:45: notify.channels[0].min_severity: unknown severity 'loud': expected one of "
          "info, warning, error"]),
        ("notify: {failing_for: 0s}", ["6:23: notify.failing_for: expected a positive "
         "duration, e.g. 10m"]),
    ],
)  # fmt: skip
def test_check_locates_every_mistake_in_the_notify_section(
    section: str, problems: list[str]
) -> None:
    from lifecycle.rules import check_rules

    text = "timezone: Asia/Kolkata\nrules:\n  - name: a\n    action: pause\n\n" + section + "\n"
    report = check_rules(text, filename="rules.yaml")
    assert [str(p) for p in report.errors] == [f"rules.yaml:{p}" for p in problems]


async def test_messages_still_queued_at_a_stop_are_kept_for_the_next_start(
    store: Store, sim_clock: FixedClock, receiver: tuple[Receiver, str], ruleset: Ruleset
) -> None:
    hooks = receiver[0]
    hooks.answers["/hook"] = [500]
    only_hook = ruleset.notify.model_copy(update={"channels": ruleset.notify.channels[:1]})
    ruleset = replace(ruleset, notify=only_hook)
    first = notifier_for(store, ruleset, sim_clock, gate := Gate())
    notice = Notice(Kind.API_OUTAGE, Severity.ERROR, AT, "Exotel API unreachable")
    first.post(Message("api-outage:1", "outage", (notice,)))
    first.post(Message("api-outage:2", "outage", (notice,)))  # queued behind the first
    await until(gate.waiting)
    await first.close(grace=0)
    assert {p.channel for p in await store.pending_notifications()} == {"ops-hook"}
    assert len(await store.pending_notifications()) == 2  # the one retrying, the one queued

    second = notifier_for(store, ruleset, sim_clock, Gate())
    await second.resume()
    assert await second.drain(CAP)
    assert [b["key"] for b in hooks.bodies["/hook"]] == ["api-outage:1", "api-outage:2"]
    assert await store.pending_notifications() == []
    await second.close()


async def test_a_lease_taken_over_and_lost_is_told_once_each(store: Store, db_url: str) -> None:
    from lifecycle.lease import Lease
    from lifecycle.metrics import Metrics

    def lease(instance: str, told: list[Message]) -> Lease:
        held = Lease.for_account(
            "acme1", store=store, instance=instance, ttl=timedelta(minutes=3),
            bound=timedelta(seconds=5), metrics=Metrics(), zone=UTC,
        )  # fmt: skip
        held.on_notice = told.append
        return held

    told_a: list[Message] = []
    told_b: list[Message] = []
    a, b = lease("a", told_a), lease("b", told_b)
    assert await a.hold() and not await b.hold()
    assert told_a == told_b == []  # a first take and a standby's first look: nothing to tell
    await expire_lease(db_url, "tick:acme1")
    assert await b.hold()  # b takes over the expired lease ...
    assert not await a.hold()  # ... and a finds it lost
    assert not await a.hold()
    (taken,) = told_b
    (lost,) = told_a
    assert taken.notices[0].kind == Kind.LEASE_TAKEN_OVER
    assert taken.title.startswith("took over the lease tick:acme1 from ")
    assert lost.notices[0].kind == Kind.LEASE_LOST and lost.severity == Severity.WARNING
    assert lost.title.startswith("lost the lease: ") and "holds lease tick:acme1" in lost.title
    assert taken.key != lost.key


async def test_a_restart_in_an_outage_does_not_tell_it_again_and_tells_its_end_once(
    store: Store, sim_clock: FixedClock, receiver: tuple[Receiver, str], ruleset: Ruleset
) -> None:
    hooks = receiver[0]
    only_hook = ruleset.notify.model_copy(update={"channels": ruleset.notify.channels[:1]})
    ruleset = replace(ruleset, notify=only_hook)

    async def tick(notifier: Notifier, minute: int, error: str | None) -> None:
        at = AT + timedelta(minutes=minute)
        row = await store.start_tick(at=at, ruleset=ruleset.hash, dry_run=False)
        await store.finish_tick(row, at=at, campaigns=0, actions=0, error=error)
        report = TickReport(at=at, error=error, api_unreachable=error is not None, tick_id=row.id)
        notifier.on_tick(report, ())
        assert await notifier.drain(CAP)

    down = "ApiUnavailable: GET list offset=0: HTTP 503"
    first = notifier_for(store, ruleset, sim_clock, Gate())
    await first.resume()
    await tick(first, 0, None)
    await tick(first, 1, down)
    await tick(first, 12, down)  # down for 11 minutes: past failing_for (10m)
    await first.close()
    second = notifier_for(store, ruleset, sim_clock, Gate())  # restarted mid-outage
    await second.resume()
    await tick(second, 13, down)
    await tick(second, 14, None)
    await second.close()
    assert [b["key"] for b in hooks.bodies["/hook"]] == [
        "api-outage:2026-11-27T19:01:00+05:30",
        "ticks-failing:2026-11-27T19:01:00+05:30",
        "api-recovered:2026-11-27T19:01:00+05:30",
    ]


async def test_with_several_accounts_each_message_names_its_account_and_is_its_own(
    store: Store, sim_clock: FixedClock, receiver: tuple[Receiver, str], ruleset: Ruleset
) -> None:
    """Two accounts on one rules file tell the same event (same key) each once, named; a
    restart of one account's notifier resumes only that account's unsent messages."""
    hooks = receiver[0]
    only_hook = ruleset.notify.model_copy(update={"channels": ruleset.notify.channels[:1]})
    ruleset = replace(ruleset, notify=only_hook)
    north, south = store.for_account("north"), store.for_account("south")
    notice = Notice(Kind.RULES_REJECTED, Severity.ERROR, AT, "rejected edit of rules.yaml")
    told = Message("rules-rejected:sha256:x", "rejected edit of rules.yaml", (notice,))
    for account in (north, south):
        notifier = Notifier(store=account, ruleset=lambda: ruleset, clock=sim_clock,
                            sleep=Gate().sleep, account=account.account)  # fmt: skip
        notifier.post(told)
        notifier.post(told)  # the same again: never twice for one account
        assert await notifier.drain(CAP)
        await notifier.close()
    bodies = sorted(hooks.bodies["/hook"], key=lambda body: str(body["account"]))
    assert [(b["account"], b["key"], b["title"]) for b in bodies] == [
        ("north", told.key, "[north] rejected edit of rules.yaml"),
        ("south", told.key, "[south] rejected edit of rules.yaml"),
    ]

    hooks.answers["/hook"] = [500]
    stopping = Notifier(store=north, ruleset=lambda: ruleset, clock=sim_clock,
                        sleep=(gate := Gate()).sleep, account="north")  # fmt: skip
    stopping.post(Message("api-outage:1", "outage", (notice,)))
    await until(gate.waiting)
    await stopping.close(grace=0)
    assert [p.channel for p in await north.pending_notifications()] == ["ops-hook"]
    assert await south.pending_notifications() == []
