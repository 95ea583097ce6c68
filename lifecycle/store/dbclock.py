"""The database's clock, as an SQL expression: what leases and the right to send are
judged by, so that daemons on several hosts (PostgreSQL) agree without trusting each
other's clocks, and a simulated daemon clock (the demo, tests) never decides them.

PostgreSQL: `clock_timestamp()`, the server's real time at the moment the expression is
evaluated (not `now()`, which is frozen at the start of the transaction). SQLite has no
server: `'now'` is the host's clock, read by SQLite itself, which is right because a SQLite
store is on one host. SQLite's `%f` has milliseconds; the value is padded to the
microsecond text that SQLAlchemy writes for every other instant, so comparisons between
stored text values stay exact.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement, Dialect, Interval, func, literal, type_coerce

from lifecycle.store.types import UtcDateTime

_SQLITE_FORMAT = "%Y-%m-%d %H:%M:%f"


def db_now(dialect: Dialect, plus: timedelta = timedelta(0)) -> ColumnElement[Any]:
    """The database's clock now, moved by `plus`, typed as an aware UTC instant."""
    if dialect.name == "postgresql":
        moment: ColumnElement[Any] = func.clock_timestamp()
        if plus:
            moment = moment + literal(plus, Interval())
        return type_coerce(moment, UtcDateTime)
    modifier = f"{plus.total_seconds():+.6f} seconds"
    text = func.strftime(_SQLITE_FORMAT, "now", modifier).concat("000")
    return type_coerce(text, UtcDateTime)
