"""Statements that differ by dialect or that must be split to respect driver limits."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.dml import Insert

# Both drivers cap bound parameters per statement (SQLite at 32766, asyncpg at 32767);
# IN lists of campaign ids are split well below that.
CHUNK = 500

T = TypeVar("T", str, int)


def chunked(ids: Iterable[T], size: int = CHUNK) -> Iterator[list[T]]:
    """`ids` in lists of at most `size`, in order, without duplicates."""
    batch: list[T] = []
    for item in dict.fromkeys(ids):
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


S = TypeVar("S", bound=Select[Any])


def narrowed(
    query: S, column: ColumnElement[str], ids: Collection[str] | None
) -> tuple[S, frozenset[str] | None]:
    """`query` limited to `ids` in one statement whatever their number: up to CHUNK ids
    in an IN list; more read the account's rows whole, and the ids come back for the
    caller to keep only theirs (one statement beats one per chunk: fewer round trips,
    and the database walks its index once). None: nothing left to filter."""
    if ids is None:
        return query, None
    wanted = frozenset(ids)
    if len(wanted) <= CHUNK:
        return query.where(column.in_(sorted(wanted))), None
    return query, wanted


def upsert(
    conn: AsyncConnection,
    table: Table,
    *,
    key: Sequence[str],
    update: Sequence[str],
    where: ColumnElement[bool] | None = None,
) -> Insert:
    """INSERT … ON CONFLICT (key) DO UPDATE SET update-columns = the proposed values.

    When `where` is false for the existing row, that row is left alone and a RETURNING
    clause yields nothing: one statement decides, which is what makes a lease atomic.
    """
    statement: Any
    if conn.dialect.name == "postgresql":
        statement = postgresql.insert(table)
    else:
        statement = sqlite.insert(table)
    set_ = {name: statement.excluded[name] for name in update}
    result: Insert = statement.on_conflict_do_update(index_elements=key, set_=set_, where=where)
    return result
