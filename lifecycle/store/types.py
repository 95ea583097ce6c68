"""Column types at the database edge."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime, Dialect
from sqlalchemy.types import TypeDecorator

from lifecycle.instant import to_utc


class UtcDateTime(TypeDecorator[datetime]):
    """An instant, stored as UTC and always returned timezone-aware in UTC.

    SQLite has no time zone type and silently drops offsets, so every value is converted
    to UTC before it is written; Postgres stores `timestamptz`. A naive datetime is
    refused with ValueError instead of being guessed at.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        utc = to_utc(value)
        # SQLite formats the wall-clock fields and ignores tzinfo: hand it plain UTC fields.
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
