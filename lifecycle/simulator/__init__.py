"""An aiohttp app that behaves like the Exotel Campaigns API v2, on an injected clock.

The daemon, its tests, the demo and the benchmarks run against it with no account and no
network. Where Exotel's documentation conflicts or is silent, `SimulatorConfig` has a
switch for each reading (docs/exotel-api.md).

    sim = Simulator(SimulatorConfig(), clock=FixedClock(now), seed=1)
    cid = sim.add_campaign(name="emi-reminder", status=Status.IN_PROGRESS)
    async with running(sim) as base_url:
        ...  # talk HTTP to f"{base_url}/v2/accounts/acme1/campaigns"

Modules: `config` (knobs, faults, log records), `campaign` (one campaign's lazy state
machine), `account` (`Simulator`), `bodies` (request parsing), `wire` (response shapes),
`gate` (auth, limits, faults, log), `limiter`, `faults`, `routes`, `seeding`, `server`.
"""

from .account import Simulator
from .campaign import IllegalAction, SimCampaign
from .config import TAG_HEADER, Fault, RequestRecord, SimulatorConfig, TransitionRecord
from .server import running, serve_forever

__all__ = [
    "TAG_HEADER",
    "Fault",
    "IllegalAction",
    "RequestRecord",
    "SimCampaign",
    "Simulator",
    "SimulatorConfig",
    "TransitionRecord",
    "running",
    "serve_forever",
]
