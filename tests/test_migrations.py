"""Alembic migrations: they build exactly the schema the code declares, on both databases."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect

from lifecycle.errors import ConfigError, SchemaOutdated
from lifecycle.store import Store
from lifecycle.store.database import make_engine
from lifecycle.store.schema import alembic_config, head_revision
from lifecycle.store.tables import metadata

REPO = Path(__file__).resolve().parents[1]


def differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


def table_names(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


async def run_sync(db_url: str, fn: Any) -> Any:
    engine = make_engine(db_url)
    try:
        async with engine.begin() as connection:
            return await connection.run_sync(fn)
    finally:
        await engine.dispose()


async def test_upgrade_matches_the_declared_tables(store: Store, db_url: str) -> None:
    assert await run_sync(db_url, differences) == []
    assert await run_sync(db_url, table_names) == {*metadata.tables, "alembic_version"}


def unique_index_predicates(connection: Connection) -> dict[str, str]:
    where = f"{connection.dialect.name}_where"
    return {
        index["name"] or "": str(index.get("dialect_options", {}).get(where, ""))
        for index in inspect(connection).get_indexes("intents")
        if index["unique"]
    }


async def test_one_unresolved_intent_index_is_partial(store: Store, db_url: str) -> None:
    # compare_metadata does not compare index predicates: check this one by reflection.
    (name, predicate), *others = (await run_sync(db_url, unique_index_predicates)).items()
    assert (name, others) == ("uq_intents_one_unresolved_per_campaign", [])
    assert "'open'" in predicate and "'unknown'" in predicate


async def test_downgrade_to_base_and_upgrade_again(store: Store, db_url: str) -> None:
    await run_sync(db_url, lambda c: command.downgrade(alembic_config(c), "base"))
    assert await run_sync(db_url, table_names) == {"alembic_version"}
    with pytest.raises(SchemaOutdated):
        await store.ensure_current()
    await store.upgrade()
    await store.upgrade()  # already at head: nothing to do
    await store.ensure_current()
    assert await run_sync(db_url, differences) == []


async def test_empty_database_needs_upgrade(db_url: str) -> None:
    store = await Store.connect(db_url)
    try:
        with pytest.raises(SchemaOutdated) as caught:
            await store.ensure_current()
        assert str(caught.value) == (
            f"database schema is at empty, this version needs {head_revision()}: "
            "run `lifecycle db upgrade`"
        )
        await store.upgrade()
        await store.ensure_current()
    finally:
        await store.close()


async def test_alembic_command_line_uses_the_database_url(db_url: str) -> None:
    env = {**os.environ, "LIFECYCLE_DATABASE_URL": db_url}
    alembic = [sys.executable, "-m", "alembic", "-c", str(REPO / "alembic.ini")]
    # Run from elsewhere: alembic.ini must not depend on the working directory.
    process = await asyncio.create_subprocess_exec(
        *alembic, "upgrade", "head", env=env, cwd="/", stderr=asyncio.subprocess.PIPE
    )
    _, stderr = await process.communicate()
    assert process.returncode == 0, stderr.decode()
    store = await Store.connect(db_url)
    try:
        await store.ensure_current()
    finally:
        await store.close()


async def test_missing_migrations_folder_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIFECYCLE_MIGRATIONS", str(tmp_path / "nowhere"))
    store = await Store.connect(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    try:
        with pytest.raises(ConfigError, match="set LIFECYCLE_MIGRATIONS to its migrations/"):
            await store.upgrade()
    finally:
        await store.close()


async def test_0002_keeps_rows_written_before_it(db_url: str) -> None:
    """Leases and intents from revision 0001 read back with no incarnation, no owner and no
    opened time (so no grace: re-read at once, as before); and 0002 downgrades cleanly."""
    await run_sync(db_url, lambda c: command.upgrade(alembic_config(c), "0001"))
    at = "2026-11-27 13:30:00.000000"
    await run_sync(
        db_url,
        lambda c: [
            c.exec_driver_sql(statement)
            for statement in (
                "INSERT INTO leases (name, owner, renewed_at, expires_at) "
                f"VALUES ('tick:acme1', 'host-a:1:abcd', '{at}', '{at}')",
                "INSERT INTO ticks (id, started_at, ruleset, dry_run) "
                f"VALUES (1, '{at}', 'sha256:x', false)",
                "INSERT INTO intents (tick_id, campaign_id, campaign_name, rule, action, step, "
                "mode, reason, ruleset, state, created_at) VALUES (1, 'c1', 'c1', 'r', 'pause', "
                f"'pause', 'enforce', 'x', 'sha256:x', 'open', '{at}')",
            )
        ],
    )
    store = await Store.connect(db_url, account="acme1")
    try:
        await store.upgrade()
        (intent,) = await store.unresolved_intents()
        assert (intent.owner, intent.opened_db_at) == (None, None)
        lease = await store.lease("tick:acme1")
        assert lease is not None and (lease.owner, lease.incarnation) == ("host-a:1:abcd", None)
        assert not lease.held_by("host-a:1:abcd", "")  # expired long ago by the db's clock
    finally:
        await store.close()
    await run_sync(db_url, lambda c: command.downgrade(alembic_config(c), "0001"))
    columns = await run_sync(
        db_url, lambda c: {col["name"] for col in inspect(c).get_columns("intents")}
    )
    assert "owner" not in columns and "opened_db_at" not in columns
