"""Shared fixtures: a fresh migrated database per test.

SQLite by default; PostgreSQL when FRONTDESK_TEST_DATABASE_URL is set (CI runs the suite on both).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from frontdesk.app import create_app
from frontdesk.config import Settings
from frontdesk.db import Database, migrate
from frontdesk.retrieval.embedders import DEFAULT_EMBEDDER, Embedder, load_embedder
from tests.server import ADMIN_HEADERS, TEST_API_TOKEN, TEST_SECRET_KEY, reset_postgres

POSTGRES_URL = os.environ.get("FRONTDESK_TEST_DATABASE_URL")


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    return load_embedder(DEFAULT_EMBEDDER)


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    if POSTGRES_URL:
        reset_postgres(POSTGRES_URL)
        yield POSTGRES_URL
    else:
        url = f"sqlite+aiosqlite:///{tmp_path}/frontdesk.db"
        migrate(url)
        yield url


@pytest.fixture
def settings(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("FRONTDESK_DATABASE_URL", database_url)
    monkeypatch.setenv("FRONTDESK_SECRET_KEY", TEST_SECRET_KEY)
    monkeypatch.setenv("FRONTDESK_API_TOKEN", TEST_API_TOKEN)
    return Settings(
        database_url=database_url, secret_key=SecretStr(TEST_SECRET_KEY), api_token=SecretStr(TEST_API_TOKEN)
    )


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url)
    yield db
    await db.dispose()


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The app in process, called as the store's admin with the API token."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver", headers=ADMIN_HEADERS) as http:
            yield http
