"""One simulated campaign, and the moves the platform makes on it by itself.

Progress is computed lazily from timestamps, never by ticking: a campaign stores when its
current dialling stretch began and how many numbers were dialled before it, and
`settle(now)` replays every automatic move that fell due up to `now`, each at the instant
it was due. Jumping a FixedClock by a day therefore costs nothing, and `date_updated`
always says when the status really changed, not when somebody looked.

Automatic moves:
- created → in-progress at `send_at` (at once when there is no `send_at`);
- in-progress dials `throttle_cpm` numbers per simulated minute; the k-th number finished
  fails when floor(k × failure_ratio) steps up, so outcomes are deterministic;
- in-progress → completed when every number is done (→ failed if none connected: DOC-S);
- at `end_at` with numbers left: "completed" marks them failed-no-attempt and completes
  (DOC-S); "paused" leaves them queued and pauses (DOC-N), and a resume after `end_at`
  pauses again at once, as calls only run inside the schedule window;
- a campaign paused by an action (or by hand) and still paused at `end_at` becomes
  canceled with its remaining numbers failed (DOC-S), only under "completed": under
  "paused" the DOC-N reading keeps paused campaigns queued indefinitely.

The platform's scheduler notices `end_at` `config.end_at_lag` late (docs/exotel-api.md):
no call is placed after `end_at`, but the status changes only at `end_at + lag`, which
leaves a window in which a client sees an in-progress campaign past its end.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from lifecycle.model import Action, Status, apply

from .config import EndAtBehaviour, SimulatorConfig

_MICROS_PER_MINUTE = 60_000_000
_ENDED = frozenset({Status.COMPLETED, Status.CANCELED, Status.FAILED})


class IllegalAction(Exception):
    """The action is not legal from the campaign's current status."""

    def __init__(self, status: Status, action: Action) -> None:
        super().__init__(f"cannot {action.value} a campaign that is {status.value}")
        self.status = status
        self.action = action


@dataclass(frozen=True)
class Stretch:
    """A period of uninterrupted dialling, from `start`, beginning at number `first`."""

    start: datetime
    first: int


@dataclass(eq=False)
class SimCampaign:
    """A campaign's full simulated state. Read it after `settle`; mutate it only via methods."""

    id: str
    account_sid: str
    name: str
    caller_id: str
    numbers: int
    throttle_cpm: int
    failure_ratio: float
    date_created: datetime
    date_updated: datetime
    status: Status
    as_of: datetime  # the instant up to which automatic moves have been applied
    send_at: datetime | None = None
    end_at: datetime | None = None
    custom_field: str = ""
    mode: str = "auto"
    from_numbers: tuple[str, ...] = ()
    lists: tuple[str, ...] = ()
    dialled_before: int = 0  # numbers dialled before the current stretch
    stretches: list[Stretch] = field(default_factory=list)
    force_failed: int = 0  # marked failed by complete or cancel, never dialled
    no_attempt: int = 0  # left undialled when end_at completed the campaign
    paused_by_action: bool = False

    # -- reading ------------------------------------------------------------------------

    def dialled_at(self, at: datetime) -> int:
        """Numbers whose call finished by `at` (only grows while in-progress)."""
        if self.status != Status.IN_PROGRESS or not self.stretches:
            return self.dialled_before
        stretch = self.stretches[-1]
        if self.end_at is not None:  # no call is placed after end_at, whatever the status says
            at = min(at, max(self.end_at, stretch.start))
        elapsed = max(0, _micros(at - stretch.start))
        return min(self.numbers, stretch.first + elapsed * self.throttle_cpm // _MICROS_PER_MINUTE)

    @property
    def dialled(self) -> int:
        return self.dialled_at(self.as_of)

    @property
    def remaining(self) -> int:
        """Numbers neither dialled nor written off."""
        return self._left(self.dialled)

    def _left(self, dialled: int) -> int:
        return self.numbers - dialled - self.force_failed - self.no_attempt

    def failures_among(self, dialled: int) -> int:
        """How many of the first `dialled` calls failed (round() absorbs float noise)."""
        return math.floor(round(dialled * self.failure_ratio, 9))

    def is_failed_call(self, index: int) -> bool:
        return self.failures_among(index + 1) > self.failures_among(index)

    def dialled_time(self, index: int) -> datetime:
        """When number `index` (0-based, already dialled) finished its call."""
        for stretch in reversed(self.stretches):
            if index >= stretch.first:
                offset = index - stretch.first + 1
                micros = -(-offset * _MICROS_PER_MINUTE // self.throttle_cpm)
                return stretch.start + timedelta(microseconds=micros)
        return self.date_created  # dialled before the simulator knew the campaign

    def stats(self, *, with_completed: bool = True) -> dict[str, int]:
        """The hyphenated stats map (docs/exotel-api.md), consistent with the status.

        Without `completed` it is the key set Exotel's own analytics read (§0): no
        `completed`, no `pending`; numbers still queued while running are `in-progress`.
        """
        dialled = self.dialled
        failed = self.failures_among(dialled)
        left = self.remaining
        queued = "pending" if with_completed else "in-progress"
        queue_key = {Status.CREATED: "created", Status.PAUSED: "paused"}.get(self.status, queued)
        stats = dict.fromkeys(_STATS_KEYS if with_completed else _ANALYTICS_KEYS, 0)
        if with_completed:
            stats["completed"] = dialled - failed
        stats["failed"] = failed + self.force_failed
        stats["failed-no-attempt"] = self.no_attempt
        stats[queue_key] = left
        return stats

    # -- automatic moves ----------------------------------------------------------------

    def settle(self, now: datetime, config: SimulatorConfig) -> None:
        """Apply every automatic move due up to `now`. A clock that went back is ignored."""
        if now < self.as_of:
            return
        if self.status == Status.CREATED:
            self._start_if_due(now)
        if self.status == Status.IN_PROGRESS:
            self._run_until(now, config)
        if self.status == Status.PAUSED:
            self._cancel_if_due(now, config)
        self.as_of = now

    def _start_if_due(self, now: datetime) -> None:
        start = max(self.send_at or self.as_of, self.as_of)
        if start <= now:
            self._move(Status.IN_PROGRESS, start)

    def _run_until(self, now: datetime, config: SimulatorConfig) -> None:
        stretch = self.stretches[-1]
        left = self.numbers - stretch.first
        finish = stretch.start + timedelta(
            microseconds=-(-left * _MICROS_PER_MINUTE // self.throttle_cpm)
        )
        if self.end_at is not None and self.end_at < finish:
            noticed = max(self.end_at, stretch.start) + config.end_at_lag
            if noticed <= now:
                self._reach_end_at(noticed, config.end_at_behaviour)
        elif finish <= now:
            self._fold(finish)
            connected = self.dialled_before - self.failures_among(self.dialled_before)
            ended = Status.FAILED if self.numbers and not connected else Status.COMPLETED
            self._move(ended, finish)

    def _reach_end_at(self, at: datetime, behaviour: EndAtBehaviour) -> None:
        self._fold(at)
        if behaviour == "completed":
            self.no_attempt += self._left(self.dialled_before)
            self._move(Status.COMPLETED, at)
        else:
            self.paused_by_action = False
            self._move(Status.PAUSED, at)

    def _cancel_if_due(self, now: datetime, config: SimulatorConfig) -> None:
        if self.end_at is None or not self.paused_by_action:
            return
        if config.end_at_behaviour != "completed":
            return
        at = max(self.end_at + config.end_at_lag, self.date_updated)
        if at <= now:
            self.force_failed += self._left(self.dialled_before)
            self._move(Status.CANCELED, at)

    # -- moves by a person --------------------------------------------------------------

    def act(self, action: Action, now: datetime) -> None:
        """Carry out a lifecycle action at `now` (call `settle(now)` first).

        Raises IllegalAction when the transition table forbids it.
        """
        try:
            target = apply(self.status, action)
        except ValueError:
            raise IllegalAction(self.status, action) from None
        self.force(target, now)

    def force(self, status: Status, now: datetime) -> None:
        """Put the campaign in `status` at `now`, whatever it was: an operator by hand.

        Entering completed/canceled/failed writes off the remaining numbers as failed;
        entering paused counts as a pause action (so `end_at` may cancel it).
        """
        self._fold(now)
        if status in _ENDED:
            self.force_failed += self._left(self.dialled_before)
        self.paused_by_action = status == Status.PAUSED
        self._move(status, now)

    # -- bookkeeping --------------------------------------------------------------------

    def _fold(self, at: datetime) -> None:
        """Freeze dialling progress at `at`, before the status stops being in-progress."""
        self.dialled_before = self.dialled_at(at)
        self.as_of = max(self.as_of, at)

    def _move(self, status: Status, at: datetime) -> None:
        self._fold(at)
        if status != self.status:
            self.date_updated = at
        self.status = status
        if status == Status.IN_PROGRESS:
            self.stretches.append(Stretch(at, self.dialled_before))


_STATS_KEYS = (
    "created",
    "in-progress",
    "retry",
    "retrying",
    "completed",
    "failed",
    "failed-dnd",
    "invalid",
    "paused",
    "failed-no-attempt",
    "pending",
)


_ANALYTICS_KEYS = tuple(k for k in _STATS_KEYS if k not in ("completed", "pending"))


def _micros(delta: timedelta) -> int:
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
