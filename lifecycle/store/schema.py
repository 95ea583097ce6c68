"""Alembic, driven from code: upgrade to head, and check that the schema is current.

The migration scripts ship inside this package (`lifecycle/store/migrations/`, package
data), so an installed copy upgrades its database with nothing else to point at; the
checkout's top-level `migrations/` is a link to the same folder. LIFECYCLE_MIGRATIONS
names another folder (to test a migration being written). These functions are
synchronous: run them through `AsyncConnection.run_sync`, which hands them a plain
Connection.
"""

from __future__ import annotations

import os
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

from lifecycle.errors import ConfigError, SchemaOutdated


def migrations_dir() -> Path:
    """The Alembic scripts folder; ConfigError when it is not where it should be."""
    override = os.environ.get("LIFECYCLE_MIGRATIONS")
    folder = Path(override) if override else Path(__file__).resolve().parent / "migrations"
    if not (folder / "env.py").is_file():
        raise ConfigError(
            f"no database migrations at {folder}: reinstall lifecycle (they ship inside the "
            "package), or set LIFECYCLE_MIGRATIONS to its migrations/ folder"
        )
    return folder


def alembic_config(connection: Connection | None = None, *, account: str = "") -> Config:
    """An Alembic Config without an ini file; `connection` is used by migrations/env.py,
    `account` by revision 0003 (the account that rows written before it belong to)."""
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    if connection is not None:
        config.attributes["connection"] = connection
    config.attributes["account"] = account
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no migration scripts found in {migrations_dir()}")
    return head


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(connection: Connection, account: str = "") -> None:
    """Upgrade to head; rows from before accounts (revision 0003) go to `account`."""
    command.upgrade(alembic_config(connection, account=account), "head")


def check_current(connection: Connection) -> None:
    """Raise SchemaOutdated unless the database is at the head revision."""
    current = current_revision(connection)
    head = head_revision()
    if current != head:
        raise SchemaOutdated(
            f"database schema is at {current or 'empty'}, this version needs {head}: "
            "run `lifecycle db upgrade`"
        )
