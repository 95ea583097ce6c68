"""Plausible campaigns for the demo, benchmarks and `lifecycle simulator --campaigns N`."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from lifecycle.model import Status

if TYPE_CHECKING:
    from .account import Simulator

_TOPICS = (
    "emi-reminder",
    "kyc-followup",
    "cod-confirmation",
    "renewal-nudge",
    "feedback-survey",
    "festive-offer",
    "appointment-reminder",
    "payment-due",
)
# Weighted towards running campaigns, the ones rules act on most.
_STATUSES = (
    (Status.CREATED, 15),
    (Status.IN_PROGRESS, 35),
    (Status.PAUSED, 15),
    (Status.COMPLETED, 25),
    (Status.ARCHIVED, 5),
    (Status.FAILED, 5),
)


def seed_campaigns(sim: Simulator, n: int, rng: random.Random) -> list[str]:
    """Add `n` campaigns whose shape depends only on `rng` and `sim.clock.now()`."""
    now = sim.clock.now().replace(microsecond=0)
    statuses, weights = zip(*_STATUSES, strict=True)
    ids = []
    for i in range(n):
        status: Status = rng.choices(statuses, weights)[0]
        fields = _SHAPES[status](rng, now)
        ids.append(
            sim.add_campaign(
                name=f"{rng.choice(_TOPICS)}-{i:04d}",
                status=status,
                throttle_cpm=rng.choice((10, 20, 30, 60)),
                failure_ratio=rng.choice((0.05, 0.1, 0.2, 0.5)),
                custom_field=f"batch-{i // 10}",
                **fields,
            )
        )
    return ids


def _ago(rng: random.Random, now: datetime, low: int, high: int) -> datetime:
    return now - timedelta(minutes=rng.randint(low, high))


def _created(rng: random.Random, now: datetime) -> dict[str, Any]:
    send_at = now + timedelta(minutes=rng.randint(10, 3 * 24 * 60))
    return {
        "date_created": _ago(rng, now, 5, 2 * 24 * 60),
        "send_at": send_at,
        "end_at": send_at + timedelta(hours=8),
        "numbers": rng.randint(100, 2000),
    }


def _started(rng: random.Random, now: datetime) -> dict[str, Any]:
    created = _ago(rng, now, 3 * 60, 5 * 24 * 60)
    numbers = rng.randint(500, 5000)
    end_at = now + timedelta(minutes=rng.randint(60, 3 * 24 * 60)) if rng.random() < 0.7 else None
    return {
        "date_created": created,
        "date_updated": _ago(rng, now, 1, 120),
        "send_at": created + timedelta(hours=1),
        "end_at": end_at,
        "numbers": numbers,
        "done": rng.randint(0, numbers // 2),
    }


def _ended(rng: random.Random, now: datetime) -> dict[str, Any]:
    created = _ago(rng, now, 15 * 24 * 60, 30 * 24 * 60)
    numbers = rng.randint(100, 3000)
    return {
        "date_created": created,
        "date_updated": _ago(rng, now, 60, 14 * 24 * 60),
        "send_at": created + timedelta(hours=1),
        "end_at": created + timedelta(hours=10),
        "numbers": numbers,
        "done": numbers - rng.randint(0, numbers // 10),
    }


def _failed(rng: random.Random, now: datetime) -> dict[str, Any]:
    return {**_ended(rng, now), "done": 0}  # DOC-S: no call could be placed at all


_SHAPES: dict[Status, Callable[[random.Random, datetime], dict[str, Any]]] = {
    Status.CREATED: _created,
    Status.IN_PROGRESS: _started,
    Status.PAUSED: _started,
    Status.COMPLETED: _ended,
    Status.ARCHIVED: _ended,
    Status.FAILED: _failed,
}
