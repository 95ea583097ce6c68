"""Turning a database URL into an engine, and database failures into StoreUnavailable.

Supported URLs: `sqlite+aiosqlite:///path.db` and `postgresql+asyncpg://user@host/db`
(`postgres://` and `postgresql://` mean the latter).
A Postgres URL may carry `?schema=NAME`: the store then keeps its tables in that schema
(via `search_path`), so several deployments, or tests, can share one database. libpq's
`?sslmode=MODE` is read as asyncpg's `?ssl=MODE` (asyncpg knows no `sslmode`).

The URL may hold a password (as `user:pass@` or `?password=`): it is only ever rendered
with the password hidden, and scrubbed from any driver message that is passed on.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import URL, event, exc, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from lifecycle.errors import ConfigError, StoreUnavailable

SUPPORTED_DRIVERS = ("sqlite+aiosqlite", "postgresql+asyncpg")
# The URLs people copy from elsewhere (libpq, Heroku, docker-compose files) name no driver:
# they mean the one driver we have for that database.
_PLAIN_SCHEMES = {"postgres": "postgresql+asyncpg", "postgresql": "postgresql+asyncpg"}
_SQLITE_BUSY_MS = 10_000
_SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
_HIDDEN = "***"


def parse_url(url: str) -> URL:
    """The URL as SQLAlchemy sees it; ConfigError (never echoing a password) if unusable."""
    try:
        parsed = make_url(url)
    except exc.ArgumentError:
        raise ConfigError("LIFECYCLE_DATABASE_URL is not a database URL") from None
    except ValueError:  # SQLAlchemy's int(port) on "abc" or the ":1" of an unclosed "[::1"
        raise ConfigError(
            "LIFECYCLE_DATABASE_URL has an unreadable host or port "
            "(a port is a number; an IPv6 host is written [::1])"
        ) from None
    if parsed.drivername in _PLAIN_SCHEMES:
        parsed = parsed.set(drivername=_PLAIN_SCHEMES[parsed.drivername])
    if parsed.drivername not in SUPPORTED_DRIVERS:
        raise ConfigError(
            f"LIFECYCLE_DATABASE_URL uses driver {parsed.drivername!r}; "
            f"use one of: {', '.join(SUPPORTED_DRIVERS)}"
        )
    if parsed.port is not None and not 0 < parsed.port < 65536:
        raise ConfigError(f"LIFECYCLE_DATABASE_URL: port {parsed.port} is not in 1-65535")
    return _ssl_from_sslmode(parsed)


def _ssl_from_sslmode(url: URL) -> URL:
    mode = url.query.get("sslmode")
    if mode is None:
        return url
    if not isinstance(mode, str) or mode not in _SSL_MODES or "ssl" in url.query:
        raise ConfigError(
            f"LIFECYCLE_DATABASE_URL: sslmode must be one of {', '.join(_SSL_MODES)}, "
            "given once and without ssl="
        )
    return url.difference_update_query(["sslmode"]).update_query_dict({"ssl": mode})


def safe_url(url: URL) -> str:
    """The URL for messages: password hidden, in the user part and in `?password=`."""
    if "password" in url.query:
        url = url.update_query_dict({"password": _HIDDEN})
    return url.render_as_string(hide_password=True).replace("%2A%2A%2A", _HIDDEN)


def sqlite_path(url: str) -> Path | None:
    """The file behind a SQLite URL, or None for other databases (and in-memory SQLite)."""
    if not url.startswith("sqlite"):
        return None
    _, _, rest = url.partition(":///")
    return Path(rest.split("?", 1)[0]) if rest and rest != ":memory:" else None


def make_engine(url: str) -> AsyncEngine:
    """An engine for `url`, configured for the store (SQLite pragmas, Postgres schema)."""
    parsed = parse_url(url)
    if parsed.drivername.startswith("sqlite"):
        engine = create_async_engine(parsed)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    schema = parsed.query.get("schema")
    connect_args: dict[str, Any] = {}
    if isinstance(schema, str):
        connect_args["server_settings"] = {"search_path": schema}
    return create_async_engine(
        parsed.difference_update_query(["schema"]),
        connect_args=connect_args,
        pool_pre_ping=True,
    )


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the CLI read while the daemon writes; busy_timeout makes a second writer
    # wait for the lock instead of failing at once; SQLite ignores foreign keys unless told.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={_SQLITE_BUSY_MS}")
    cursor.close()


@asynccontextmanager
async def translate_errors(url: URL) -> AsyncIterator[None]:
    """Re-raise connection failures and OperationalError as StoreUnavailable, and a value
    our column types refused (a naive datetime) as the ValueError it was.

    Other database errors (integrity, programming) are bugs or conflicts the caller
    handles, and pass through unchanged.
    """
    try:
        yield
    except (exc.OperationalError, exc.InterfaceError, OSError, TimeoutError) as error:
        raise StoreUnavailable(_describe(url, error)) from None
    except exc.DBAPIError as error:
        if not (error.connection_invalidated or _is_unreachable(error)):
            raise
        raise StoreUnavailable(_describe(url, error)) from None
    except exc.StatementError as error:
        if isinstance(error.orig, ValueError | TypeError):
            raise error.orig from None
        raise


# SQLSTATE classes that mean "cannot use this database now", not "this statement is wrong":
# connection exception, invalid authorization, no such database, insufficient resources,
# operator intervention (shutdown, cannot connect now).
_UNREACHABLE_SQLSTATES = ("08", "28", "3D", "53", "57P")


def _is_unreachable(error: exc.DBAPIError) -> bool:
    sqlstate = getattr(error.orig, "sqlstate", None)
    return isinstance(sqlstate, str) and sqlstate.startswith(_UNREACHABLE_SQLSTATES)


def _describe(url: URL, error: BaseException) -> str:
    original = getattr(error, "orig", None) or error
    detail = str(original).strip().splitlines()[0] if str(original).strip() else ""
    for secret in (url.password, url.query.get("password")):
        if isinstance(secret, str) and secret:
            detail = detail.replace(secret, _HIDDEN)
    reason = f"{type(original).__name__}: {detail}" if detail else type(original).__name__
    return f"database at {safe_url(url)} is unavailable ({reason})"
