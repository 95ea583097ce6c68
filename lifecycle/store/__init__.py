"""The only code that speaks SQL: the Store, its rows, and its schema.

See `Store` for the contract; migrations live in the top-level `migrations/` folder.
"""

from lifecycle.records import (
    AuditRow,
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
from lifecycle.store.store import Store
from lifecycle.store.types import UtcDateTime

__all__ = [
    "AuditRow",
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
]
