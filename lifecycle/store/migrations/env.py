"""Alembic environment: online migrations only, through the store's async engine.

Called two ways:
- from `Store.upgrade()` (and tests), which passes a live sync Connection in
  `config.attributes["connection"]`: migrate on it, inside the caller's transaction;
- from the `alembic` command line, which reads LIFECYCLE_DATABASE_URL (else
  `sqlalchemy.url` in alembic.ini) and opens its own async engine.
"""

from __future__ import annotations

import asyncio
import os
from logging.config import fileConfig

from alembic import context
from sqlalchemy import Connection

from lifecycle.store.database import make_engine
from lifecycle.store.tables import metadata

config = context.config


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things in place: batch mode copies the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_from_url(url: str) -> None:
    engine = make_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(run_migrations)
    finally:
        await engine.dispose()


def database_url() -> str:
    url = os.environ.get("LIFECYCLE_DATABASE_URL") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("set LIFECYCLE_DATABASE_URL (or sqlalchemy.url in alembic.ini)")
    return url


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run them against a database")

shared = config.attributes.get("connection")
if shared is not None:
    run_migrations(shared)
else:
    if config.config_file_name:
        fileConfig(config.config_file_name, disable_existing_loggers=False)
    asyncio.run(run_from_url(database_url()))
