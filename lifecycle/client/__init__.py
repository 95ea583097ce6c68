"""The Exotel Campaigns API client: the only code that speaks HTTP to Exotel.

    async with ExotelClient(base_url=..., account_sid=..., api_key=..., api_token=...) as api:
        campaigns = await api.list_campaigns()
        result = await api.act(campaigns[0].id, Action.PAUSE)

Modules: `exotel` (the client and its I/O), `listing` (a list and whether it is
complete), `poll` (what a tick lists: everything, or the settled poll), `verdict` (what
an answer means: value or error), `answer` (envelopes and campaign objects), `limiter`
(per-account rate limit).
"""

from lifecycle.client.answer import campaign_from_api, campaigns_from_body
from lifecycle.client.exotel import PAGE_LIMIT, ExotelClient, RequestOutcome
from lifecycle.client.limiter import RateLimiter, Slot, limiter_for
from lifecycle.client.listing import Listing
from lifecycle.client.verdict import ActionResult

__all__ = [
    "PAGE_LIMIT",
    "ActionResult",
    "ExotelClient",
    "Listing",
    "RateLimiter",
    "RequestOutcome",
    "Slot",
    "campaign_from_api",
    "campaigns_from_body",
    "limiter_for",
]
