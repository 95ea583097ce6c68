"""Operator commands on a database that is missing or empty, and the database URLs people
copy from elsewhere."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from lifecycle.store import Store

ROOT = Path(__file__).resolve().parents[1]


def lifecycle(*args: str, db: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "LIFECYCLE_DATABASE_URL": f"sqlite+aiosqlite:///{db}",
               "LIFECYCLE_RULES": str(ROOT / "rules.yaml"), **env}  # fmt: skip
    return subprocess.run(
        [sys.executable, "-m", "lifecycle", *args],
        env=environ, capture_output=True, text=True, timeout=60, cwd=db.parent,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["hold", "c1", "--until", "2099-01-01T00:00:00+05:30", "--reason", "x"], 2),
        (["release", "c1"], 2),
        (["holds"], 2),
        (["audit"], 0),
    ],
)
def test_no_database_is_said_and_none_is_created(
    args: list[str], code: int, tmp_path: Path
) -> None:
    db = tmp_path / "typo.db"
    done = lifecycle(*args, db=db)
    assert (done.returncode, done.stdout) == (code, "")
    assert done.stderr == (
        f"lifecycle: no database at {db}: nothing has been recorded there (check "
        "LIFECYCLE_DATABASE_URL; `lifecycle db upgrade` creates it)\n"
    )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args", [["holds"], ["audit"], ["release", "c1"]])
def test_an_empty_database_is_said_and_left_empty(args: list[str], tmp_path: Path) -> None:
    db = tmp_path / "empty.db"
    sqlite3.connect(db).close()
    done = lifecycle(*args, db=db)
    assert done.returncode == 2
    assert "database schema is at empty" in done.stderr
    assert "run `lifecycle db upgrade`" in done.stderr
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT name FROM sqlite_master").fetchall() == []


def test_a_bad_log_level_stops_run_with_a_clear_error(tmp_path: Path) -> None:
    done = lifecycle("run", "--once", db=tmp_path / "x.db", LIFECYCLE_LOG_LEVEL="VERBOSE")
    assert done.returncode == 2
    assert "LIFECYCLE_LOG_LEVEL: must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL" in (
        done.stderr
    )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
@pytest.mark.parametrize("scheme", ["postgres://", "postgresql://"])
async def test_postgres_urls_without_a_driver_are_accepted(db_url: str, scheme: str) -> None:
    plain = db_url.replace("postgresql+asyncpg://", scheme)
    assert plain.startswith(scheme)
    store = await Store.connect(plain)
    try:
        await store.upgrade()
        await store.ensure_current()
    finally:
        await store.close()
