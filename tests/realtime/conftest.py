"""Several real `frontdesk serve` processes on PostgreSQL with one real Redis.

PostgreSQL: FRONTDESK_TEST_DATABASE_URL when set, else a database of its own (`wt17db`, created when missing):
several processes never share SQLite. Redis: FRONTDESK_TEST_REDIS_URL, else 127.0.0.1:6379 database 0, each test
under a key prefix of its own, emptied first.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
import redis.asyncio as redis

from tests.server import TEST_SECRET_KEY, reset_postgres, running_server, stop

OWN_DATABASE = "wt17db"
POSTGRES_URL = os.environ.get("FRONTDESK_TEST_DATABASE_URL") or (
    f"postgresql+asyncpg://postgres@127.0.0.1:5432/{OWN_DATABASE}"
)
REDIS_URL = os.environ.get("FRONTDESK_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _create_own_database() -> None:
    if "FRONTDESK_TEST_DATABASE_URL" in os.environ:
        return
    query = f"SELECT 1 FROM pg_database WHERE datname = '{OWN_DATABASE}'"
    exists = subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-tAc", query], capture_output=True,
                            text=True, check=True)  # fmt: skip
    if exists.stdout.strip() != "1":
        subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", OWN_DATABASE], check=True)


@pytest.fixture
def postgres_url() -> str:
    _create_own_database()
    reset_postgres(POSTGRES_URL)
    return POSTGRES_URL


async def empty(prefix: str) -> None:
    client = redis.from_url(REDIS_URL)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=500)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    prefix = f"test-{uuid.uuid4().hex[:12]}:"
    asyncio.run(empty(prefix))
    yield prefix
    asyncio.run(empty(prefix))


@pytest.fixture
async def redis_client() -> AsyncIterator[redis.Redis]:
    client = redis.from_url(REDIS_URL)
    yield client
    await client.aclose()


@contextmanager
def running_worker(database_url: str, log: Path, env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    """A `frontdesk worker` process (no web server), stopped at the end."""
    environment = {**os.environ, "FRONTDESK_DATABASE_URL": database_url, "FRONTDESK_SECRET_KEY": TEST_SECRET_KEY, **env}
    with log.open("a") as handle:
        process = subprocess.Popen([sys.executable, "-m", "frontdesk.cli", "worker"], env=environment, stdout=handle,
                                   stderr=subprocess.STDOUT)  # fmt: skip
    try:
        yield process
    finally:
        stop(process)


@contextmanager
def servers(
    database_url: str, tmp_path: Path, prefix: str, count: int = 2, workers: int = 2, env: dict[str, str] | None = None
) -> Iterator[list[str]]:
    """`count` serve processes and `workers` worker processes sharing the database and Redis; the servers deliver
    nothing themselves, so every handoff crosses processes."""
    shared = {"FRONTDESK_REDIS_URL": REDIS_URL, "FRONTDESK_REDIS_PREFIX": prefix, **(env or {})}
    with ExitStack() as stack:
        bases = [
            stack.enter_context(
                running_server(database_url, tmp_path / f"serve-{n}.log", {**shared, "FRONTDESK_RUN_WORKER": "false"})
            )
            for n in range(count)
        ]
        for n in range(workers):
            stack.enter_context(running_worker(database_url, tmp_path / f"worker-{n}.log", shared))
        yield bases
