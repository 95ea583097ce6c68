"""`Simulator`: one simulated Exotel account, its campaigns, its faults and its request log."""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import datetime

from aiohttp import web

from lifecycle.clock import Clock, SystemClock
from lifecycle.instant import to_utc
from lifecycle.model import Action, Status, is_legal

from .bodies import NUMBERS_PER_LIST, CampaignSpec, Update
from .campaign import SimCampaign, Stretch
from .config import Fault, RequestRecord, SimulatorConfig, TransitionRecord
from .faults import FaultQueue
from .quota import Quota
from .wire import IST, Refusal

DEFAULT_CONFIG = SimulatorConfig()
_WRITTEN_OFF_UNDIALLED = frozenset({Status.COMPLETED, Status.ARCHIVED})
_WRITTEN_OFF_FAILED = frozenset({Status.CANCELED, Status.FAILED})


class Simulator:
    """The state behind the simulated API. Everything runs on `clock`; nothing ticks.

    Automatic moves happen lazily (see `campaign.SimCampaign`): `advance()` applies them up
    to `clock.now()`, and the server calls it at the start of every request.
    """

    def __init__(
        self,
        config: SimulatorConfig = DEFAULT_CONFIG,
        *,
        clock: Clock | None = None,
        seed: int = 0,
    ) -> None:
        self.config = config
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.seed = seed
        self.requests: list[RequestRecord] = []
        # Every status change asked for by a PUT or by hand, in arrival order: what the
        # server applied and what it refused, for harnesses that judge a client by it.
        self.transitions: list[TransitionRecord] = []
        self.faults = FaultQueue()
        per_minute = config.rate_per_minute
        self.quota = Quota(per_minute) if per_minute is not None else None
        self._campaigns: dict[str, SimCampaign] = {}
        # `advance()` settles every campaign once per instant of the clock, and after that
        # only those changed through this class since: a 100,000-campaign list read in 200
        # pages at one instant settles each campaign once, not 200 times.
        self._settled_at: datetime | None = None
        self._changed: set[str] = set()
        self._by_created: list[SimCampaign] | None = None  # the list's default order, cached
        # Two streams, so campaign ids don't depend on how many requests came first.
        self._ids = random.Random(f"{seed}:ids")
        self._request_ids = random.Random(f"{seed}:requests")

    # -- the test and CLI surface -------------------------------------------------------

    def add_campaign(
        self,
        *,
        name: str,
        status: Status = Status.CREATED,
        send_at: datetime | None = None,
        end_at: datetime | None = None,
        numbers: int = 100,
        throttle_cpm: int = 60,
        failure_ratio: float = 0.1,
        date_created: datetime | None = None,
        date_updated: datetime | None = None,
        caller_id: str = "08047112345",
        custom_field: str = "",
        campaign_id: str | None = None,
        done: int = 0,
    ) -> str:
        """Add a campaign as it stands *now*; returns its 32-hex id.

        `done` numbers are already dialled. An in-progress campaign dials on from now; a
        created one starts at `send_at` (or at once); a paused one counts as paused by a
        person. An ended status writes off the undialled numbers (completed/archived as
        failed-no-attempt, canceled/failed as failed).
        """
        _check_campaign_args(numbers=numbers, done=done, cpm=throttle_cpm, ratio=failure_ratio)
        now = self.clock.now()
        created = to_utc(date_created) if date_created else now
        campaign_id = campaign_id or self.new_id()
        if campaign_id in self._campaigns:
            raise ValueError(f"campaign {campaign_id} already exists")
        campaign = SimCampaign(
            id=campaign_id,
            account_sid=self.config.account_sid,
            name=name,
            caller_id=caller_id,
            numbers=numbers,
            throttle_cpm=throttle_cpm,
            failure_ratio=failure_ratio,
            date_created=created,
            date_updated=to_utc(date_updated) if date_updated else created,
            status=status,
            as_of=now,
            send_at=to_utc(send_at) if send_at else None,
            end_at=to_utc(end_at) if end_at else None,
            custom_field=custom_field,
            lists=(self.new_id(),),
            dialled_before=done,
            paused_by_action=status == Status.PAUSED,
        )
        _write_off_on_entry(campaign)
        if status == Status.IN_PROGRESS:
            campaign.stretches.append(Stretch(now, done))
        self._campaigns[campaign_id] = campaign
        self._changed.add(campaign_id)
        self._by_created = None
        return campaign_id

    def seed_campaigns(self, n: int) -> list[str]:
        """Add `n` plausible campaigns in mixed statuses, the same ones for the same seed."""
        from .seeding import seed_campaigns

        return seed_campaigns(self, n, random.Random(f"{self.seed}:campaigns"))

    def campaign(self, campaign_id: str) -> SimCampaign:
        """The campaign after advancing to `clock.now()`; KeyError when unknown."""
        campaign = self._campaigns[campaign_id]
        campaign.settle(self.clock.now(), self.config)
        return campaign

    def campaigns(self) -> list[SimCampaign]:
        """Every campaign (deleted ones included), advanced to `clock.now()`."""
        self.advance()
        return list(self._campaigns.values())

    def in_creation_order(self) -> list[SimCampaign]:
        """Every campaign by (date_created, id), the list's default order, advanced.

        The order is kept between calls (`date_created` never changes), so a paged read
        sorts once, not once per page. The list is shared: do not mutate it.
        """
        self.advance()
        if self._by_created is None:
            self._by_created = sorted(self._campaigns.values(), key=_creation_key)
        return self._by_created

    def set_status(self, campaign_id: str, status: Status) -> None:
        """An operator acting by hand in the dashboard: any status, legal or not."""
        campaign = self.campaign(campaign_id)
        self._changed.add(campaign_id)
        before, since, now = campaign.status, campaign.date_updated, self.clock.now()
        campaign.force(status, now)
        self.transitions.append(
            TransitionRecord(now, campaign_id, "operator", None, before, since, status, True)
        )

    def advance(self) -> None:
        """Apply every automatic move due up to `clock.now()`.

        Settling is idempotent at one instant, so at the instant of the last advance only
        the campaigns changed since (added, acted on, set by hand) are settled again.
        """
        now = self.clock.now()
        due: Iterable[SimCampaign] = self._campaigns.values()
        if now == self._settled_at:
            due = [self._campaigns[i] for i in self._changed]
        for campaign in due:
            campaign.settle(now, self.config)
        self._settled_at = now
        self._changed.clear()

    def inject(self, fault: Fault) -> None:
        self.faults.add(fault)

    def app(self) -> web.Application:
        from .routes import build_app

        return build_app(self)

    # -- what the HTTP routes call ------------------------------------------------------

    def new_id(self) -> str:
        return f"{self._ids.getrandbits(128):032x}"

    def new_request_id(self) -> str:
        return f"{self._request_ids.getrandbits(128):032x}"

    def find(self, campaign_id: str) -> SimCampaign:
        """The campaign, advanced; a 404 Refusal when unknown."""
        if campaign_id not in self._campaigns:
            raise Refusal(404, f"campaign {campaign_id} not found")
        return self.campaign(campaign_id)

    def create(self, spec: CampaignSpec) -> SimCampaign:
        now = self.clock.now()
        stamp = now.astimezone(IST).strftime("%Y-%m-%d %H:%M:%S")
        campaign_id = self.add_campaign(
            name=spec.name or f"{self.config.account_sid} {stamp}",
            send_at=spec.schedule.send_at,
            end_at=spec.schedule.end_at,
            numbers=len(spec.from_numbers) or NUMBERS_PER_LIST * len(spec.lists),
            throttle_cpm=spec.throttle,
            caller_id=spec.caller_id,
            custom_field=spec.custom_field,
        )
        campaign = self._campaigns[campaign_id]
        campaign.mode = spec.mode
        campaign.from_numbers = spec.from_numbers
        campaign.lists = spec.lists
        return campaign

    def update(self, campaign_id: str, update: Update, *, tag: str | None = None) -> SimCampaign:
        """Apply detail changes, then the action; nothing changes when any part is refused.

        An action, applied or refused as illegal, is logged in `transitions` with `tag`.
        """
        campaign = self.find(campaign_id)
        self._changed.add(campaign_id)
        _check_update_allowed(campaign, update)
        action, before, since = update.action, campaign.status, campaign.date_updated
        now = self.clock.now()
        if action is not None and not is_legal(before, action):
            self._log_action(campaign, action, (before, since, now), tag=tag, applied=False)
            raise self._illegal(campaign, action)
        _apply_details(campaign, update)
        if action is not None:
            campaign.act(action, now)
            self._log_action(campaign, action, (before, since, now), tag=tag, applied=True)
        return campaign

    def delete(self, campaign_id: str) -> SimCampaign:
        campaign = self.find(campaign_id)
        if campaign.status != Status.CREATED:
            raise Refusal(
                400,
                "Campaign cannot be deleted",
                code=1003,
                description=f"only a created campaign can be deleted; this one is "
                f"{campaign.status.value}",
            )
        campaign.force(Status.DELETED, self.clock.now())
        self._changed.add(campaign_id)
        return campaign

    def _log_action(
        self,
        campaign: SimCampaign,
        action: Action,
        when: tuple[Status, datetime, datetime],
        *,
        tag: str | None,
        applied: bool,
    ) -> None:
        """Log an action that arrived at `now` while the campaign was `before` since `since`."""
        before, since, now = when
        record = TransitionRecord(
            at=now,
            campaign_id=campaign.id,
            source="api",
            action=action,
            status_before=before,
            since=since,
            status_after=campaign.status,
            applied=applied,
            tag=tag,
        )
        self.transitions.append(record)

    def _illegal(self, campaign: SimCampaign, action: Action) -> Refusal:
        return Refusal(
            self.config.illegal_action_status,
            f"Cannot {action.value} campaign in {campaign.status.value} state",
            description=f"{action.value} is not allowed when the campaign is "
            f"{campaign.status.value}",
        )


def _creation_key(campaign: SimCampaign) -> tuple[datetime, str]:
    return campaign.date_created, campaign.id


def _check_update_allowed(campaign: SimCampaign, update: Update) -> None:
    # DOC-L: details are editable until send_at; DOC-N: the schedule also while paused.
    if update.changes_details and campaign.status != Status.CREATED:
        raise Refusal(400, "only callbacks and action can be changed after send_at")
    if update.schedule is not None and campaign.status not in (Status.CREATED, Status.PAUSED):
        raise Refusal(400, "the schedule can be changed only while created or paused")


def _apply_details(campaign: SimCampaign, update: Update) -> None:
    if update.schedule is not None:
        campaign.send_at, campaign.end_at = update.schedule.send_at, update.schedule.end_at
    campaign.name = update.name or campaign.name
    campaign.throttle_cpm = update.throttle or campaign.throttle_cpm
    if update.custom_field is not None:
        campaign.custom_field = update.custom_field


def _write_off_on_entry(campaign: SimCampaign) -> None:
    left = campaign.numbers - campaign.dialled_before
    if campaign.status in _WRITTEN_OFF_UNDIALLED:
        campaign.no_attempt = left
    elif campaign.status in _WRITTEN_OFF_FAILED:
        campaign.force_failed = left


def _check_campaign_args(*, numbers: int, done: int, cpm: int, ratio: float) -> None:
    if not 0 <= done <= numbers:
        raise ValueError(f"done must be within 0..numbers, got {done} of {numbers}")
    if cpm < 1:
        raise ValueError("throttle_cpm must be at least 1")
    if not 0.0 <= ratio <= 1.0:
        raise ValueError("failure_ratio must be within 0..1")
