"""The database: engine, sessions, the declarative base, and migrations (Alembic, in migrations/)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import sqlite3
from collections import deque
from collections.abc import AsyncIterator, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import aiosqlite
import aiosqlite.context
from alembic import command
from alembic.config import Config
from sqlalchemy import DateTime, Dialect, MetaData, TypeDecorator, event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

MIGRATIONS = Path(__file__).parent / "migrations"

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


SqliteSynchronous = Literal["normal", "full"]


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A moment, read back aware in UTC on SQLite and PostgreSQL alike. SQLite keeps no offset: its values are stored
    as UTC wall-clock time and came back naive, so the API sent them with no time zone. A naive value is taken as
    UTC; an aware one is converted to UTC before it is stored (SQLite would keep its local wall-clock time)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value)


def as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Timestamped:
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Database:
    """One engine and its session factory; made by the app or the CLI and handed to whoever needs it."""

    def __init__(self, url: str, synchronous: SqliteSynchronous = "normal") -> None:
        self.url = url
        kwargs: dict[str, object] = {}
        if url.startswith("sqlite"):
            # One connection: SQLite has one writer at a time, and writers queueing in asyncio are far faster than
            # writers sleeping in SQLite's busy handler (its back-off sleeps reach 100 ms a try under load).
            # check_same_thread=False: _FewerHops creates and closes cursors in the event loop's thread; the one
            # pooled connection is still used by one session at a time.
            kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
            kwargs["pool_size"] = 1
            kwargs["max_overflow"] = 0
            kwargs["pool_timeout"] = 60
            # SQLAlchemy's Connection already ends every transaction it began (commit, or rollback on close), so
            # the pool's extra ROLLBACK on each check-in (one more trip to aiosqlite's thread) is not needed.
            kwargs["pool_reset_on_return"] = None
            if path := sqlite_file(url):
                keep_private(path)
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if url.startswith("sqlite"):
            event.listen(self.engine.sync_engine, "connect", functools.partial(_sqlite_pragmas, synchronous))
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self.sessions() as session:
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()


def _sqlite_pragmas(synchronous: SqliteSynchronous, dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    # WAL lets the server read while an import writes; foreign keys are off by default in SQLite.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    # NORMAL in WAL mode: a commit survives the process crashing, and the database is never corrupted; only the last
    # commits before a power loss or an OS crash may roll back. FULL also survives those, at an fsync per commit
    # (at 200 web chat messages a second: p99 40 ms with NORMAL, 80-150 ms with FULL; docs/benchmarks.md).
    cursor.execute("PRAGMA synchronous=" + ("FULL" if synchronous == "full" else "NORMAL"))
    cursor.close()
    driver = getattr(dbapi_connection, "_connection", None)
    if type(driver) is aiosqlite.Connection:
        driver.__class__ = _FewerHops


class _FewerHops(aiosqlite.Connection):
    """aiosqlite runs every call in its thread: a statement cost four trips (cursor, execute, fetchall, close), each a
    queue put, a thread wake-up and a loop wake-up. Here a statement is one trip: the cursor is made and closed in the
    loop's thread (no I/O), and a statement's rows are fetched in the same trip that executes it. Whatever may wait on
    the disk or on a lock (execute, commit, rollback) still runs in aiosqlite's thread. Written against aiosqlite
    0.22.1 (pinned); the web chat load bench went from p99 5.2 s to 1.05 s with 1,000 shoppers."""

    @aiosqlite.context.contextmanager  # awaitable and an async context manager, like aiosqlite's own
    async def cursor(self) -> aiosqlite.Cursor:  # type: ignore[override]
        return _PrefetchingCursor(self, self._conn.cursor())


class _PrefetchingCursor(aiosqlite.Cursor):
    _rows: deque[sqlite3.Row] | None = None

    async def execute(self, sql: str, parameters: Iterable[object] | None = None) -> aiosqlite.Cursor:
        cursor = self._cursor

        def run() -> deque[sqlite3.Row] | None:
            cursor.execute(sql, [] if parameters is None else parameters)  # type: ignore[arg-type]
            return deque(cursor.fetchall()) if cursor.description else None

        self._rows = await self._execute(run)
        return self

    async def fetchone(self) -> sqlite3.Row | None:
        if self._rows is None:
            return await super().fetchone()
        return self._rows.popleft() if self._rows else None

    async def fetchmany(self, size: int | None = None) -> Iterable[sqlite3.Row]:
        if self._rows is None:
            return await super().fetchmany(size)
        count = self._cursor.arraysize if size is None else size
        return [self._rows.popleft() for _ in range(min(count, len(self._rows)))]

    async def fetchall(self) -> Iterable[sqlite3.Row]:
        if self._rows is None:
            return await super().fetchall()
        rows, self._rows = list(self._rows), deque()
        return rows

    async def close(self) -> None:
        self._rows = None
        self._cursor.close()


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL; None for another database or an in-memory one."""
    if not url.startswith("sqlite"):
        return None
    name = url.split(":///", 1)[1].split("?", 1)[0] if ":///" in url else ""
    return Path(name) if name and name != ":memory:" else None


def keep_private(path: Path) -> None:
    """The SQLite file readable and writable by its owner only, whatever the umask: it holds shoppers' conversations
    and the team's password hashes. SQLite makes the -wal and -shm files with the database file's mode; files made
    before this was checked lose their group and other bits too."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_RDONLY, 0o600))
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        # PermissionError: another user's file, which that user's modes govern.
        with contextlib.suppress(FileNotFoundError, PermissionError):
            if file.stat().st_mode & 0o077:
                file.chmod(0o600)


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url)
    return config


def migrate(url: str, revision: str = "head") -> None:
    """Bring the database schema up to `revision` (creates the SQLite file when missing)."""
    if path := sqlite_file(url):
        keep_private(path)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        command.upgrade(alembic_config(url), revision)
        return
    # Alembic's env.py runs its own event loop; inside a running one it needs a thread of its own.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(command.upgrade, alembic_config(url), revision).result()
