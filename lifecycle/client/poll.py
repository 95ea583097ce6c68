"""What one tick reads from Exotel: every campaign, or (opt-in) only those that can change.

At 30 requests a minute a full list of 100,000 campaigns is 200 pages, over six minutes
of budget, and 95 % of it is archived campaigns that never change again. With a settled
period (LIFECYCLE_SETTLED_POLL, experimental) the `Poller` lists every campaign once per
period, and in between only the *listed* statuses (created, in-progress, paused,
completed) with the list's `status` filter, carrying the settled ones (archived, failed,
canceled, deleted: no action leads out of them) from their last reading.

A campaign that leaves the filtered answer while it was listed before has either settled
or been deleted: it is read again by one GET (404: gone), unless there are more of them
than pages in a full list, which is then cheaper. The filter is documented but not
confirmed on a live account, so the answer is checked, and the poller falls back to full
listing for the rest of the process (logged once) when the server
- answers a filtered list with a settled campaign: it ignored the filter. That answer is
  then a full list, and used as one;
- refuses the filter (a 4xx): this tick lists in full instead;
- leaves out a campaign that a GET (or a full list) then finds in a listed status: it
  matched the filter some other way (one status name, not a set). This tick lists in
  full instead. Of an answer of several pages, only on two ticks running: offset paging
  can skip a row when another one moves mid-list.

A full list is also due after `forget()`: the reconciler calls it on a tick that finds
this process in standby, since the leader may have acted meanwhile. Observation stays
truthful: `fresh` is only what was read this tick; the carried campaigns go to the plan
(and the status page), never to the status history.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from lifecycle.client.exotel import PAGE_LIMIT, ExotelClient
from lifecycle.client.listing import Listing
from lifecycle.errors import ApiError, ApiUnavailable, AuthFailed, NotFound
from lifecycle.model import Campaign, Status

log = logging.getLogger("lifecycle.client.poll")

# No action leads out of these (model.TRANSITIONS), and Exotel moves nothing out of them.
SETTLED: frozenset[Status] = frozenset(
    {Status.ARCHIVED, Status.FAILED, Status.CANCELED, Status.DELETED}
)
# Everything else the filter can name: what rules act on, and what Exotel still moves.
LISTED: frozenset[Status] = frozenset(Status) - SETTLED - {Status.UNKNOWN}
# Exotel's clock against ours, for `date_created` (see _check_missed).
_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class Poll:
    """One tick's reading. `listing` is every campaign known now (read this tick, then the
    carried settled ones), for the plan; `fresh` is what this tick read from Exotel, for
    the status history; `full` says it was a full list."""

    listing: Listing
    fresh: Sequence[Campaign]
    full: bool = True


@dataclass
class Poller:
    """Lists campaigns for one account's ticks. `period` None: a full list every tick,
    exactly as without a poller."""

    client: ExotelClient
    period: timedelta | None = None
    # Why filtered lists were given up, once given up (for the log and the README's advice).
    broken: str | None = None
    _settled: dict[str, Campaign] = field(default_factory=dict)
    _listed: set[str] = field(default_factory=set)  # ids in a listed status, last reading
    _full_at: datetime | None = None
    _filtered_at: datetime | None = None  # the last filtered list since the last full one
    _missed = False  # the last filtered list left out a campaign still listed (see _strike)

    @property
    def carried(self) -> int:
        """How many settled campaigns are carried between full lists."""
        return len(self._settled)

    async def poll(self, now: datetime) -> Poll:
        """Read the campaigns for a tick at `now` (ApiError as `list_campaigns`)."""
        if self._full_due(now):
            return await self._full(now)
        return await self._filtered(now)

    def forget(self) -> None:
        """Drop the carried readings: the next poll lists in full. For a process that has
        not led for a while (another may have acted meanwhile)."""
        self._settled, self._listed, self._full_at = {}, set(), None

    def _full_due(self, now: datetime) -> bool:
        if self.period is None or self.broken is not None or self._full_at is None:
            return True
        # A clock that went back counts as due: the carried readings' age is then unknown.
        return not self._full_at <= now < self._full_at + self.period

    async def _full(self, now: datetime) -> Poll:
        listing = await self.client.list_campaigns()
        self._remember(listing, now)
        return Poll(listing, listing)

    async def _full_instead(self, gone: set[str], active: Listing, now: datetime) -> Poll:
        """A full list in place of re-reading `gone` one by one; it shows whether the
        filter left out campaigns still in a listed status."""
        listing = await self.client.list_campaigns()
        if listing.complete:
            missed = _first_listed(c for c in listing if c.id in gone)
            if missed is not None and self._strike(active):
                self._give_up(_left_out(missed, "in a full list"))
            self._missed = missed is not None
        self._remember(listing, now)
        return Poll(listing, listing)

    def _remember(self, listing: Listing, now: datetime) -> None:
        """Start a new period from a full list; an incomplete one leaves the next tick due
        for another (a campaign not read is unknown, not settled)."""
        if self.period is None:
            return
        if not listing.complete:
            self._full_at = None
            return
        self._check_missed(listing)
        self._settled = {c.id: c for c in listing if c.status in SETTLED}
        self._listed = {c.id for c in listing if c.status not in SETTLED}
        self._full_at, self._filtered_at = now, None

    def _check_missed(self, listing: Listing) -> None:
        """A campaign in a listed status that no filtered list since the last full one
        showed, though it existed before the last of them: the filter misses campaigns
        (a server that matches one status name answers a set with nothing at all)."""
        if self._filtered_at is None or self.broken is not None:
            return
        before = self._filtered_at - _SKEW
        for campaign in listing:
            created = campaign.date_created
            if (
                campaign.status in LISTED
                and campaign.id not in self._listed
                and created is not None
                and created < before
            ):
                self._give_up(
                    f"campaign {campaign.id} ({campaign.status.value}, created "
                    f"{created.isoformat()}) was left out of every filtered list since the "
                    "last full one: the server does not match a set of statuses"
                )
                return

    async def _filtered(self, now: datetime) -> Poll:
        try:
            active = await self.client.list_campaigns(statuses=LISTED)
        except ApiError as exc:
            if not _refused(exc):
                raise
            self._give_up(f"the server refused the status filter ({exc})")
            return await self._full(now)
        if ignored := [c for c in active if c.status in SETTLED]:
            first = ignored[0]
            self._give_up(
                f"a list filtered to {_names(LISTED)} answered with {len(ignored)} campaigns "
                f"in other statuses (e.g. {first.id}, {first.status.value}): the server "
                "ignores the filter; that answer is used as a full list"
            )
            self._remember(active, now)
            return Poll(active, active)
        if not active.complete:  # act on what was read; the missing are unknown, not moved
            return self._merge(active, (), now)
        gone = self._listed - {c.id for c in active}
        if len(gone) > self._full_pages():
            log.info("%d campaigns left the listed statuses: listing all instead", len(gone))
            return await self._full_instead(gone, active, now)
        reread = await self._reread(sorted(gone))
        if (missed := _first_listed(reread)) is not None and self._strike(active):
            self._give_up(_left_out(missed, "by GET"))
            return await self._full(now)
        self._missed = missed is not None
        return self._merge(active, reread, now)

    async def _reread(self, ids: Iterable[str]) -> list[Campaign]:
        """Each campaign that left the filtered answer, by GET (404: gone, left out)."""
        found: list[Campaign] = []
        for campaign_id in ids:
            try:
                found.append(await self.client.get_campaign(campaign_id))
            except NotFound:
                log.info("campaign %s is gone (404): no longer polled", campaign_id)
        return found

    def _strike(self, active: Listing) -> bool:
        """Whether a listed campaign left out of a filtered answer condemns the filter. Of
        a one-page answer, yes. Offset paging over a changing set can skip a row (one that
        settled mid-list shifts the rest), so of a longer one only when the tick before
        missed one too; this tick then uses the GET's reading."""
        return len(active) < PAGE_LIMIT or self._missed

    def _merge(self, active: Listing, reread: Sequence[Campaign], now: datetime) -> Poll:
        """The filtered answer, the re-read campaigns, then the carried settled ones."""
        listed = {c.id for c in active}
        for campaign_id in listed:  # the answer wins over any older reading
            self._settled.pop(campaign_id, None)
        # Still listed (a row skipped by paging), or a status we cannot read: not settled,
        # looked for again next tick.
        odd = {c.id for c in reread if c.status not in SETTLED}
        self._settled.update((c.id, c) for c in reread if c.status in SETTLED)
        # After a complete answer the rest were re-read (or are gone); after a short one,
        # a campaign not read is unknown, and looked for again next tick.
        self._listed = (listed if active.complete else self._listed | listed) | odd
        self._filtered_at = now
        fresh = (*active, *reread)
        again = {c.id for c in reread}
        carried = tuple(c for k, c in self._settled.items() if k not in again)
        total = None if active.total is None else active.total + len(reread) + len(carried)
        listing = Listing(
            (*fresh, *carried), total, active.repeated, active.unreadable, active.cut_after
        )
        return Poll(listing, fresh, full=False)

    def _full_pages(self) -> int:
        """Requests a full list would take now, at the last known fleet size."""
        return max(1, math.ceil((len(self._settled) + len(self._listed)) / PAGE_LIMIT))

    def _give_up(self, why: str) -> None:
        if self.broken is None:
            log.warning("status-filtered polling given up, listing all campaigns: %s", why)
        self.broken = why


def _refused(exc: ApiError) -> bool:
    """A 4xx about the request itself (not the credentials, not the rate): the filter."""
    if isinstance(exc, ApiUnavailable | AuthFailed | NotFound):
        return False
    return exc.http_status is not None and 400 <= exc.http_status < 500


def _first_listed(campaigns: Iterable[Campaign]) -> Campaign | None:
    return next((c for c in campaigns if c.status in LISTED), None)


def _left_out(campaign: Campaign, how: str) -> str:
    return (
        f"campaign {campaign.id} is {campaign.status.value} {how}, yet a list filtered to "
        f"{_names(LISTED)} left it out: the server does not match a set of statuses"
    )


def _names(statuses: Iterable[Status]) -> str:
    return ",".join(sorted(s.to_api() for s in statuses))
