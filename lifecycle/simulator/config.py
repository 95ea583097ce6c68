"""The simulator's knobs and the records it keeps: plain frozen values."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from lifecycle.model import Action, Status

StatusStyle = Literal["pascal", "lower"]
EndAtBehaviour = Literal["completed", "paused"]
# Where the call counts go (docs/exotel-api.md): a `summary` beside `data` in the response
# item (the update-campaign body), a `summary` inside the campaign object, a `stats` map
# with `completed` (DOC-N), the analytics' `stats` key set without it, or nowhere.
CountsShape = Literal["summary-item", "summary-data", "stats", "stats-no-completed", "none"]
# How the list endpoint treats `status=A,B` (docs/exotel-api.md §2.3: documented as a
# comma-separated set; no live account has confirmed it): honour the set, ignore the
# parameter (everything comes back), match the value as one status (a list matches
# nothing), or refuse a list with 400.
StatusFilter = Literal["comma", "ignore", "single", "reject"]
# Whether a deleted campaign still appears in list and GET answers with status Deleted,
# or is gone from both (a GET answers 404): docs/exotel-api.md §10, unknown.
DeletedCampaigns = Literal["listed", "gone"]
FaultKind = Literal[
    "500", "502", "503", "429", "latency", "drop_before", "drop_after_apply", "garbage"
]


@dataclass(frozen=True)
class SimulatorConfig:
    """How the simulated Exotel account behaves where the docs disagree or say nothing.

    Each switch names one documented conflict or unknown (docs/exotel-api.md), so tests can
    pin the client's behaviour under both readings.
    """

    account_sid: str = "acme1"
    api_key: str = "sim-key"
    api_token: str = "sim-token"
    status_style: StatusStyle = "pascal"  # "InProgress" vs "in-progress"
    end_at_behaviour: EndAtBehaviour = "completed"  # DOC-S (completed) vs DOC-N (paused)
    illegal_action_status: int = 409  # 400 or 409 for an illegal transition
    rate_per_minute: int | None = 30  # None disables the 429 limiter
    over_max_limit: Literal["reject", "clamp"] = "reject"  # limit > 500 on list
    strict_body: bool = False  # True rejects the flat {"action": ...} form with 400
    rate_limit_style: Literal["v2", "v1"] = "v2"  # 429 body: v2 envelope or RestException
    wrong_sid_status: int = 404  # wrong account SID: 404 or 401
    end_at_lag: timedelta = timedelta(0)  # how late the platform's scheduler acts on end_at
    # "page": list pages by page/page_size (default 20) as the old exotel/ExotelAPI sample
    # does, ignoring offset/limit: every offset gets the first page.
    paging: Literal["offset", "page"] = "offset"
    counts: CountsShape = "stats"  # where each campaign's call counts are put
    status_filter: StatusFilter = "comma"  # how list honours `status=A,B`
    deleted: DeletedCampaigns = "listed"  # a deleted campaign: listed as Deleted, or gone


@dataclass(frozen=True)
class Fault:
    """A queued misbehaviour, consumed by the next `times` matching requests.

    - "500": v2 error envelope (code 1100); "502"/"503": a non-JSON gateway page (a
      "503" with `seconds` also says `Retry-After: seconds`).
    - "429": v2 or v1 body per config, `Retry-After: seconds`.
    - "latency": sleep `seconds` (real time) and then answer normally.
    - "drop_before": close the connection without applying anything.
    - "drop_after_apply": apply the request, then close the connection without answering.
    - "garbage": 200 with a non-JSON body (an HTML gateway page).
    """

    kind: FaultKind
    method: str | None = None  # match only this HTTP method (None = any)
    path_contains: str | None = None  # match only paths containing this (None = any)
    times: int = 1
    seconds: float = 0.0  # latency, or Retry-After for "429" (and "503")

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return self.path_contains is None or self.path_contains in path


@dataclass(frozen=True)
class RequestRecord:
    """One request as the simulator saw it. `status` is 0 when the connection was dropped."""

    method: str
    path: str
    query: dict[str, str]
    body: object | None  # parsed JSON, or None when absent or not JSON
    status: int
    authorized: bool
    authorization_header_present: bool
    url: str  # full URL as received: tests assert no credential ever appears in it


# The request header whose value a `TransitionRecord` keeps as its `tag`: an opaque label
# a harness in front of the simulator (the soak's fault proxy) attaches to each request,
# to tell which of its requests reached the campaign and what came of it.
TAG_HEADER = "X-Simulator-Tag"


@dataclass(frozen=True)
class TransitionRecord:
    """One attempt to change a campaign's status, as the simulator judged it on arrival.

    `source` is "api" for a PUT with an action (`applied` False when it was illegal from
    `status_before`, answered 409/400) and "operator" for `Simulator.set_status`, a
    person in the dashboard (`action` None). `since` is when the campaign entered
    `status_before`: a `since` later than every earlier record of the campaign means the
    platform moved it by itself (send_at, end_at, the last number dialled).
    """

    at: datetime
    campaign_id: str
    source: Literal["api", "operator"]
    action: Action | None
    status_before: Status
    since: datetime
    status_after: Status
    applied: bool
    tag: str | None = None
