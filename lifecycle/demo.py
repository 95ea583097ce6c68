"""`lifecycle demo`: the simulator, the daemon and a SQLite file in one process.

The simulated clock starts on Friday 27 November 2026 at 18:58 in Mumbai and runs 30
times faster than real time, so within a few seconds you see each rule kind act: a
campaign past its `end_at` completed in two steps, an old completed one archived, a
failing one caught by a dry-run rule, and at 19:00 the running ones paused for the night.
Then the night is skipped: at 10:00 on Saturday the campaigns paused by the rule are
resumed, and the one an operator paused by hand stays paused.
No credentials, no network: the simulator listens on 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from zoneinfo import ZoneInfo

from lifecycle.clock import ScaledClock
from lifecycle.cycle import StepEvent
from lifecycle.daemon import DaemonOptions, run_daemon
from lifecycle.model import Outcome, Status
from lifecycle.settings import Settings
from lifecycle.simulator import Simulator, SimulatorConfig, running
from lifecycle.store import Store

MUMBAI = ZoneInfo("Asia/Kolkata")
START = datetime(2026, 11, 27, 18, 58, tzinfo=MUMBAI)
SPEED = 30.0
POLL_SECONDS = 2.0  # real seconds: one simulated minute
NIGHT_FALLS_AFTER = 8.0  # real seconds: at 19:02, after the evening's pauses
# Saturday opens at 10:00. 90 simulated seconds (3 real) before it: more than one poll,
# so whatever the poll's phase, a tick sees the morning before 10:00 and sets the
# wake-up for 10:00 exactly, however long the daemon took to start.
MORNING = datetime(2026, 11, 28, 9, 58, 30, tzinfo=MUMBAI)


def demo_rules() -> Path:
    """The rules the demo runs: the shipped rules.yaml, opting in to `trust_date_updated`
    so that its campaign completed 9 days ago (by date_updated) is archived at once."""
    return Path(str(resources.files("lifecycle").joinpath("demo_rules.yaml")))


def seed(sim: Simulator, start: datetime) -> dict[str, str]:
    """The demo's campaigns, each set up for one rule; returns name → id."""
    day = start.replace(hour=9, minute=30)
    ids = {
        "diwali-greetings": sim.add_campaign(
            name="diwali-greetings",
            status=Status.IN_PROGRESS,
            send_at=day,
            end_at=start + timedelta(days=3),
            numbers=20_000,
            throttle_cpm=20,
            date_created=day - timedelta(days=1),
        ),
        "nov-renewals": sim.add_campaign(
            name="nov-renewals",
            status=Status.IN_PROGRESS,
            send_at=day,
            end_at=start - timedelta(minutes=28),
            numbers=20_000,
            throttle_cpm=20,
            date_created=day - timedelta(days=2),
        ),
        "oct-collections": sim.add_campaign(
            name="oct-collections",
            status=Status.COMPLETED,
            numbers=800,
            done=800,
            date_created=start - timedelta(days=12),
            date_updated=start - timedelta(days=9),
        ),
        "kyc-followup": sim.add_campaign(
            name="kyc-followup",
            status=Status.PAUSED,
            send_at=day,
            end_at=start + timedelta(days=5),
            date_created=start - timedelta(days=1),
            date_updated=start - timedelta(hours=3),
        ),
        "loan-offers": sim.add_campaign(
            name="loan-offers",
            status=Status.IN_PROGRESS,
            send_at=day,
            end_at=start + timedelta(days=2),
            numbers=5_000,
            throttle_cpm=20,
            failure_ratio=0.6,
            done=300,
            date_created=day - timedelta(days=1),
        ),
    }
    return ids


def _printer(echo: Callable[[str], None], names: dict[str, str]) -> Callable[[StepEvent], None]:
    def show(event: StepEvent) -> None:
        local = event.at.astimezone(MUMBAI).strftime("%a %H:%M:%S")
        name = names.get(event.decision.campaign_id, event.decision.campaign_id)
        outcome = {Outcome.DRY_RUN: "dry-run (not sent)"}.get(event.outcome, event.outcome.value)
        detail = f" ({event.detail})" if event.detail else ""
        echo(
            f"{local} IST  {event.step.value:<8} {name:<17} rule {event.decision.rule}: "
            f"{outcome}{detail}\n{'':>18}{event.decision.reason}"
        )

    return show


async def run_demo(
    *, seconds: float | None, database: Path | None, echo: Callable[[str], None]
) -> int:
    clock = ScaledClock(origin=START, speed=SPEED)
    sim = Simulator(
        SimulatorConfig(rate_per_minute=None, end_at_lag=timedelta(hours=2)), clock=clock, seed=7
    )
    ids = seed(sim, START)
    names = {v: k for k, v in ids.items()}
    with tempfile.TemporaryDirectory(prefix="lifecycle-demo-") as tmp:
        db_path = database or Path(tmp) / "demo.db"
        async with running(sim) as base_url:
            settings = Settings(
                EXOTEL_ACCOUNT_SID=sim.config.account_sid,
                EXOTEL_API_KEY=sim.config.api_key,
                EXOTEL_API_TOKEN=sim.config.api_token,
                EXOTEL_BASE_URL=base_url,
                LIFECYCLE_DATABASE_URL=f"sqlite+aiosqlite:///{db_path}",
                LIFECYCLE_RULES=demo_rules(),
                LIFECYCLE_POLL_SECONDS=POLL_SECONDS,
                LIFECYCLE_API_RATE_PER_MINUTE=600,
            )
            store = await Store.connect(settings.database_url.get_secret_value())
            await store.upgrade()
            await store.close()
            _intro(echo, base_url, db_path, names)
            stop = asyncio.Event()
            if seconds is not None:
                asyncio.get_running_loop().call_later(seconds, stop.set)
            options = DaemonOptions(clock=clock, on_step=_printer(echo, names), serve_http=False)
            clock.jump_to(START)  # the set-up above must not eat the 2 minutes to 19:00
            night = asyncio.create_task(_skip_the_night(clock, echo))
            try:
                code = await run_daemon(settings, options, stop)
            finally:
                night.cancel()
        echo("\nstatuses now: " + ", ".join(
            f"{name} {sim.campaign(cid).status.value}" for name, cid in ids.items()
        ))  # fmt: skip
        echo(await _summary(settings, keep=database is not None))
    return code


async def _skip_the_night(clock: ScaledClock, echo: Callable[[str], None]) -> None:
    """Once the evening's actions are shown, jump to just before Saturday's opening."""
    await asyncio.sleep(NIGHT_FALLS_AFTER)
    echo(f"\n… the night passes: simulated time jumps to {MORNING:%a %H:%M:%S} IST …\n")
    clock.jump_to(MORNING)


async def _summary(settings: Settings, *, keep: bool) -> str:
    url = settings.database_url.get_secret_value()
    store = await Store.connect(url, account=settings.exotel_account_sid)
    try:
        rows = await store.audit(limit=100_000)
    finally:
        await store.close()
    counts = Counter(row.outcome.value for row in rows)
    tally = ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items()))
    where = (
        f"kept: LIFECYCLE_DATABASE_URL={url} lifecycle audit"
        if keep
        else "in a temporary file, now removed (`lifecycle demo --database demo.db` keeps it)"
    )
    return f"\ndemo stopped. Audit trail: {len(rows)} rows ({tally}), {where}."


def _intro(
    echo: Callable[[str], None], base_url: str, db_path: Path, names: dict[str, str]
) -> None:
    echo(
        "lifecycle demo: simulator at "
        f"{base_url}, audit trail in {db_path}\n"
        f"simulated time starts {START:%a %d %b %Y %H:%M} IST and runs {SPEED:g}x faster.\n"
        f"rules: {demo_rules()}\n"
        f"campaigns: {', '.join(names.values())}\n"
        "  kyc-followup was paused by hand: no rule will resume it.\n"
        "Ctrl-C stops.\n"
    )
