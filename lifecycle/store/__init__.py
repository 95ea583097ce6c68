"""The only code that speaks SQL: the Store, its rows, and its schema.

See `Store` for the contract; its Alembic migrations ship inside it,
in `migrations/` (package data; the checkout's top-level `migrations/` links there).
"""

from lifecycle.records import (
    AuditRow,
    CampaignHeld,
    DecisionRow,
    IntentConflict,
    IntentNotOpen,
    IntentState,
    LeaseFence,
    LeaseLost,
    LeaseRow,
    OpenIntent,
    StatusRow,
    Tick,
    TickRow,
)
from lifecycle.store.database import sqlite_path
from lifecycle.store.store import Store
from lifecycle.store.types import UtcDateTime

__all__ = [
    "AuditRow",
    "CampaignHeld",
    "DecisionRow",
    "IntentConflict",
    "IntentNotOpen",
    "IntentState",
    "LeaseFence",
    "LeaseLost",
    "LeaseRow",
    "OpenIntent",
    "StatusRow",
    "Store",
    "Tick",
    "TickRow",
    "UtcDateTime",
    "sqlite_path",
]
