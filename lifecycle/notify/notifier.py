"""The Notifier: hands messages to channels without ever holding up a tick.

`on_tick` and `post` only put messages on per-channel queues and return. Each channel has
a worker task that, for each message: records it in the store (`claim_notification`,
unique per channel and key: a message recorded before is skipped, so a restart or a
duplicate never sends twice), sends it, retries with back-off when the channel fails, and
records it sent or given up. A slow or failing channel delays only its own queue.

Order of things: a tick's digest is posted after every row of the tick is committed
(`cycle.TickOptions.after_tick`), so a notification never tells of an action the audit
trail does not hold. A message still unsent when the process stops stays recorded as
pending, and `resume` sends it from the next process.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from lifecycle.clock import Clock
from lifecycle.cycle import StepEvent, TickReport
from lifecycle.errors import StoreUnavailable
from lifecycle.notice import Message
from lifecycle.notify.compose import tick_messages
from lifecycle.notify.transport import DeliveryFailed, Transport
from lifecycle.notify.watch import TickWatch
from lifecycle.rules import Ruleset
from lifecycle.rules.notify import ChannelSpec
from lifecycle.store import Store

log = logging.getLogger("lifecycle.notify")

# Seconds before each retry: about 12 minutes in all, then the message is given up (and
# logged as an error). A channel down for longer loses that message, never a tick.
BACKOFF = (5.0, 30.0, 120.0, 600.0)
# Messages waiting per channel; past this a channel that is down drops new ones (logged).
QUEUE_SIZE = 100


@dataclass(frozen=True)
class _Item:
    channel: ChannelSpec
    message: Message
    row: int | None = None  # already recorded (a pending message resumed): no new claim


@dataclass
class Notifier:
    store: Store
    ruleset: Callable[[], Ruleset]  # the rules in force: their `notify:` section
    clock: Clock
    transport: Transport = field(default_factory=Transport)
    backoff: tuple[float, ...] = BACKOFF
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep  # tests pass their own
    watch: TickWatch = field(default_factory=TickWatch)
    # The account whose daemon side this is, when a daemon serves several: each message
    # then names it (title and body), so people can tell whose campaigns it is about.
    # Its rows are the account's store's, so (account, channel, key) is never sent twice.
    account: str | None = None
    _queues: dict[str, asyncio.Queue[_Item]] = field(default_factory=dict)
    _workers: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    # Channels with a message on the wire: never cancelled there, or a message that went
    # out would stay recorded as unsent and the next process would send it again.
    _sending: set[str] = field(default_factory=set)
    _closing: bool = False

    def on_tick(self, report: TickReport, steps: tuple[StepEvent, ...]) -> None:
        """The tick's digest and what the run of ticks means (outages, long failure).
        Never raises: telling people of a tick must not become the tick's failure."""
        try:
            self._on_tick(report, steps)
        except Exception:
            log.exception("could not compose the notifications of tick %s", report.tick_id)

    def _on_tick(self, report: TickReport, steps: tuple[StepEvent, ...]) -> None:
        ruleset = self.ruleset()
        if not ruleset.notify.channels:
            return
        zone = ruleset.timezone
        found = tick_messages(report, steps, zone)
        found += self.watch.observe(report, failing_for=ruleset.notify.failing_for, zone=zone)
        for message in found:
            self.post(message)

    def post(self, message: Message) -> None:
        """Queue `message` for every channel that wants some of it; returns at once, and
        never raises (its callers are the tick, the lease and the rules reload)."""
        try:
            if self.account is not None:
                message = message.for_account(self.account)
            for channel in self.ruleset().notify.channels:
                wanted = message.only(channel.min_severity)
                if wanted is not None:
                    self._enqueue(_Item(channel, wanted))
        except Exception:
            log.exception("could not queue notification %s", message.key)

    async def resume(self) -> None:
        """Send the messages a stopped process recorded and never settled, and pick up
        the outage that process was in, if any (`TickWatch.recall`)."""
        try:
            pending = await self.store.pending_notifications()
            self.watch.recall(await self.store.failing_streak())
        except StoreUnavailable as exc:
            log.warning("cannot look for unsent notifications: %s", exc)
            return
        channels = {c.name: c for c in self.ruleset().notify.channels}
        for row in pending:
            channel = channels.get(row.channel)
            if channel is None:
                await self._settle(row.id, 0, f"channel {row.channel} is no longer configured")
                continue
            message = Message.from_json(json.loads(row.payload))
            self._enqueue(_Item(channel, message, row=row.id))

    async def drain(self, seconds: float) -> bool:
        """Wait up to `seconds` for every queue to empty; True when they did."""
        waits = [asyncio.ensure_future(q.join()) for q in self._queues.values()]
        if not waits:
            return True
        _, pending = await asyncio.wait(waits, timeout=seconds)
        for wait in pending:
            wait.cancel()
        return not pending

    async def close(self, grace: float = 3.0) -> None:
        """Give the queues `grace` seconds, then stop: what is unsent stays pending. A
        send on the wire is let finish (within the transport's timeout) and recorded."""
        if not await self.drain(grace):
            log.warning("stopping with notifications unsent; the next start sends them")
        self._closing = True
        for name, worker in self._workers.items():
            if name not in self._sending:
                worker.cancel()
        await asyncio.gather(*self._workers.values(), return_exceptions=True)
        await self._keep_unsent()
        await self.transport.close()

    async def _keep_unsent(self) -> None:
        """Record the messages still queued (never claimed), so the next start sends them."""
        for queue in self._queues.values():
            while not queue.empty():
                item = queue.get_nowait()
                if item.row is None:
                    await self._claim(item)

    def _enqueue(self, item: _Item) -> None:
        name = item.channel.name
        queue = self._queues.get(name)
        if queue is None:
            queue = self._queues[name] = asyncio.Queue(QUEUE_SIZE)
            self._workers[name] = asyncio.create_task(self._work(queue), name=f"notify:{name}")
        try:
            queue.put_nowait(item)
        except asyncio.QueueFull:
            log.error("notification channel %s is %d messages behind: dropped %r",
                      name, QUEUE_SIZE, item.message.title)  # fmt: skip

    async def _work(self, queue: asyncio.Queue[_Item]) -> None:
        while not self._closing:
            item = await queue.get()
            try:
                await self._deliver(item)
            except Exception:  # a bug here must not end the channel's worker
                log.exception("notification to %s failed unexpectedly", item.channel.name)
            finally:
                queue.task_done()

    async def _deliver(self, item: _Item) -> None:
        name, message = item.channel.name, item.message
        row = item.row if item.row is not None else await self._claim(item)
        if row == 0:
            return  # sent (or being sent) before: never twice
        error = ""
        for attempt, delay in enumerate((0.0, *self.backoff), start=1):
            if delay:
                await self.sleep(delay)
            if self._closing:
                return  # recorded and unsent: the next process sends it
            self._sending.add(name)
            try:
                await self.transport.send(item.channel, message)
            except DeliveryFailed as exc:
                error = str(exc)
                log.warning(
                    "notification %s to %s: attempt %d %s", message.key, name, attempt, error
                )
                continue
            else:
                log.info("notified %s: %s (%d entries)", name, message.title, len(message.notices))
                await self._settle(row, attempt, None)
                return
            finally:
                self._sending.discard(name)
        log.error("gave up notifying %s of %r: %s", name, message.title, error)
        await self._settle(row, len(self.backoff) + 1, error)

    async def _claim(self, item: _Item) -> int | None:
        """The message's row (0: recorded before, skip it). None when the database does not
        answer: sent anyway, unrecorded (an outage is what people must hear about)."""
        try:
            row = await self.store.claim_notification(
                channel=item.channel.name,
                key=item.message.key,
                severity=item.message.severity.value,
                payload=json.dumps(item.message.to_json()),
                at=self.clock.now(),
            )
        except StoreUnavailable:
            return None
        return 0 if row is None else row

    async def _settle(self, row: int | None, attempts: int, error: str | None) -> None:
        if row is None:
            return
        try:
            await self.store.settle_notification(
                row, at=self.clock.now(), attempts=attempts, error=error
            )
        except StoreUnavailable as exc:
            log.warning("could not record notification %s as settled: %s", row, exc)
