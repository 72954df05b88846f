"""SQLite's durability setting: what FRONTDESK_SQLITE_SYNCHRONOUS asks for is what every pooled connection runs."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from sqlalchemy import text

from frontdesk.config import Settings
from frontdesk.db import Database, SqliteSynchronous, migrate


@pytest.mark.parametrize(("setting", "pragma"), [("normal", 1), ("full", 2)])
async def test_the_sqlite_synchronous_setting_reaches_the_connection(
    tmp_path: Path, setting: SqliteSynchronous, pragma: int
) -> None:
    database = Database(f"sqlite+aiosqlite:///{tmp_path}/fd.db", setting)
    try:
        async with database.session() as session:
            assert await session.scalar(text("PRAGMA synchronous")) == pragma
            assert await session.scalar(text("PRAGMA journal_mode")) == "wal"
    finally:
        await database.dispose()


def test_a_new_store_runs_sqlite_with_normal_durability_and_may_ask_for_full(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().sqlite_synchronous == "normal"
    monkeypatch.setenv("FRONTDESK_SQLITE_SYNCHRONOUS", "full")
    assert Settings().sqlite_synchronous == "full"


async def test_the_sqlite_files_are_readable_by_their_owner_only(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/data/fd.db"
    before = os.umask(0o022)  # the usual umask: files are made 0644 unless made otherwise
    try:
        migrate(url)
        database = Database(url)
        try:
            async with database.session() as session:
                await session.execute(text("CREATE TABLE probe (x)"))
                await session.execute(text("INSERT INTO probe VALUES (1)"))
                await session.commit()
                files = sorted(p.name for p in (tmp_path / "data").iterdir())
                modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "data").iterdir()}
        finally:
            await database.dispose()
    finally:
        os.umask(before)
    assert files == ["fd.db", "fd.db-shm", "fd.db-wal"]
    assert modes == {"fd.db": 0o600, "fd.db-shm": 0o600, "fd.db-wal": 0o600}


async def test_a_sqlite_file_made_readable_by_others_before_is_made_private(tmp_path: Path) -> None:
    path = tmp_path / "fd.db"
    migrate(f"sqlite+aiosqlite:///{path}")
    path.chmod(0o644)
    database = Database(f"sqlite+aiosqlite:///{path}")
    await database.dispose()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
