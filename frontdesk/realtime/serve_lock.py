"""One `frontdesk serve` per database unless they share Redis.

Every `serve` holds a lock on its database for as long as it runs: a shared one with FRONTDESK_REDIS_URL set, an
exclusive one without. A second process without Redis (or one with Redis beside a process without) cannot take its
lock and stops with `SeveralServers`. The operating system or PostgreSQL release the lock when the process ends, a
crash included, so nothing is left to clean up. SQLite: `flock` on `<database>.serve-lock`; PostgreSQL: a session
advisory lock on a connection of its own, held by a thread for the life of the process.
"""

from __future__ import annotations

import asyncio
import fcntl
import threading
from pathlib import Path
from typing import IO, Any

from frontdesk.config import Settings

#: pg_advisory_lock's key: "frontdesk serve" in 63 bits.
ADVISORY_KEY = 0x66726F6E74736572

MESSAGE = (
    "another `frontdesk serve` is running on this database: several serving processes must share Redis — set "
    "FRONTDESK_REDIS_URL (the same on every process), or stop the other one"
)


class SeveralServers(RuntimeError):
    pass


class ServeLock:
    def __init__(self, handle: IO[bytes] | None = None, release: threading.Event | None = None) -> None:
        self._handle = handle
        self._release = release

    def release(self) -> None:
        if self._handle is not None:
            self._handle.close()  # closing the file drops its flock
        if self._release is not None:
            self._release.set()


def take(settings: Settings) -> ServeLock:
    """The lock this process holds while it serves, or SeveralServers."""
    shared = settings.redis_url is not None
    if settings.is_sqlite:
        return _take_file(settings.database_url, shared)
    return _take_postgres(settings.database_url, shared)


def _take_file(database_url: str, shared: bool) -> ServeLock:
    path = database_url.split(":///", 1)[1]
    if not path or path == ":memory:":
        return ServeLock()
    handle = Path(path + ".serve-lock").open("ab")  # noqa: SIM115 - held open for the life of the process
    try:
        fcntl.flock(handle, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise SeveralServers(MESSAGE) from None
    return ServeLock(handle=handle)


def _take_postgres(database_url: str, shared: bool) -> ServeLock:
    import asyncpg

    outcome: dict[str, Any] = {}
    taken, release = threading.Event(), threading.Event()

    async def hold() -> None:
        try:
            connection = await asyncpg.connect(database_url.replace("postgresql+asyncpg", "postgresql", 1))
            function = "pg_try_advisory_lock_shared" if shared else "pg_try_advisory_lock"
            outcome["ok"] = await connection.fetchval(f"SELECT {function}($1)", ADVISORY_KEY)
        except Exception as exc:
            outcome["error"] = exc
            taken.set()
            return
        taken.set()
        if not outcome["ok"]:
            await connection.close()
            return
        try:  # the lock lives as long as this connection: until released, or the process ends
            while not release.is_set():
                await asyncio.sleep(0.5)
        finally:
            await connection.close()

    thread = threading.Thread(target=asyncio.run, args=(hold(),), name="serve-lock", daemon=True)
    thread.start()
    if not taken.wait(30):
        raise SeveralServers("the database did not answer within 30 s while taking the serve lock")
    if "error" in outcome:
        raise outcome["error"]
    if not outcome.get("ok"):
        raise SeveralServers(MESSAGE)
    return ServeLock(release=release)
