"""SQLite's durability setting: what FRONTDESK_SQLITE_SYNCHRONOUS asks for is what every pooled connection runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from frontdesk.config import Settings
from frontdesk.db import Database, SqliteSynchronous


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
