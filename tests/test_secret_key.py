"""The secret key must open what the database stores encrypted. A wrong key, or a SQLite database restored without its
key file, refuses to start with a message saying what to do (no traceback from the CLI); a key that stops opening
what is stored while the server runs makes /healthz answer 503."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr
from sqlalchemy import select

from frontdesk.app import create_app
from frontdesk.config import Settings
from frontdesk.credentials import Integration
from frontdesk.db import migrate
from frontdesk.vault import Vault, VaultError
from tests.server import ADMIN_HEADERS, TEST_API_TOKEN

OTHER_KEY = Fernet.generate_key().decode()


async def store_identity_secret(settings: Settings) -> None:
    """What an admin does once: make the widget's identity secret, stored encrypted under the app's key."""
    app = create_app(settings.model_copy(update={"run_worker": False}))
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://x") as http:
        response = await http.post("/api/settings/widget/identity-secret", headers=ADMIN_HEADERS)
        assert response.status_code == 200, response.text


async def start(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"run_worker": False}))
    async with app.router.lifespan_context(app):
        pass


async def test_an_app_started_with_another_key_than_the_stored_secrets_refuses_to_start(settings: Settings) -> None:
    await store_identity_secret(settings)

    with pytest.raises(VaultError) as refused:
        await start(settings.model_copy(update={"secret_key": SecretStr(OTHER_KEY)}))

    assert "FRONTDESK_SECRET_KEY does not open the widget's identity secret" in str(refused.value)
    await start(settings)  # the right key still starts


async def test_an_empty_database_starts_with_any_key(settings: Settings) -> None:
    await start(settings.model_copy(update={"secret_key": SecretStr(OTHER_KEY)}))


@pytest.fixture
def sqlite_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A one-machine install: SQLite and no FRONTDESK_SECRET_KEY, so the key lives in the file beside the database."""
    url = f"sqlite+aiosqlite:///{tmp_path}/shop.db"
    migrate(url)
    monkeypatch.delenv("FRONTDESK_SECRET_KEY", raising=False)
    return Settings(database_url=url, secret_key=None, api_token=SecretStr(TEST_API_TOKEN))


async def test_a_sqlite_database_restored_without_its_key_file_is_refused_and_no_new_key_made(
    sqlite_settings: Settings, tmp_path: Path
) -> None:
    key_file = tmp_path / "shop.db.key"
    await store_identity_secret(sqlite_settings)
    assert key_file.exists()
    key_file.unlink()  # restored from a backup that left the key behind

    with pytest.raises(VaultError) as refused:
        await start(sqlite_settings)

    message = str(refused.value)
    assert f"its key file {key_file} is missing" in message
    assert "backed up with this database" in message
    assert not key_file.exists(), "a new key was made, which opens none of the stored secrets"


async def test_a_new_sqlite_install_makes_its_key_file(sqlite_settings: Settings, tmp_path: Path) -> None:
    await start(sqlite_settings)
    assert (tmp_path / "shop.db.key").stat().st_mode & 0o777 == 0o600


async def test_a_secret_stored_under_another_key_while_running_makes_healthz_fail(settings: Settings) -> None:
    """Another node started with another key saved the Zendesk credentials: this node cannot open them."""
    app = create_app(settings.model_copy(update={"run_worker": False}))
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://x") as http:
        assert (await http.get("/healthz")).status_code == 200
        async with app.state.database.session() as session:
            stranger = Vault(OTHER_KEY)
            session.add(Integration(kind="zendesk", config={"label": "juniper", "email": "a@juniper.example"},
                                    secret=stranger.encrypt("zd-token"), reply_secret=stranger.encrypt("signing"),
                                    status="connected"))  # fmt: skip
            await session.commit()

        health = await http.get("/healthz")
        webhook = await http.post("/webhooks/zendesk", content=b"{}")

        async with app.state.database.session() as session:
            row = await session.scalar(select(Integration).where(Integration.kind == "zendesk"))
            assert row is not None
            await session.delete(row)
            await session.commit()
        healed = await http.get("/healthz")

    assert health.status_code == 503
    assert "does not open the zendesk credentials, the zendesk reply secret" in health.json()["detail"]
    assert webhook.status_code == 503, webhook.text
    assert healed.status_code == 200


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_the_cli_refuses_a_wrong_key_with_a_message_and_no_traceback(
    settings: Settings, tmp_path: Path, command: str
) -> None:
    asyncio.run(store_identity_secret(settings))
    env = {**os.environ, "FRONTDESK_DATABASE_URL": settings.database_url, "FRONTDESK_SECRET_KEY": OTHER_KEY,
           "FRONTDESK_API_TOKEN": TEST_API_TOKEN, "FRONTDESK_PORT": "1"}  # fmt: skip

    done = subprocess.run(
        [sys.executable, "-m", "frontdesk.cli", command], env=env, capture_output=True, text=True, timeout=120
    )

    assert done.returncode == 1, done.stdout + done.stderr
    assert "FRONTDESK_SECRET_KEY does not open the widget's identity secret" in done.stderr
    assert "Traceback" not in done.stdout + done.stderr


def test_the_cli_refuses_a_sqlite_database_without_its_key_file(sqlite_settings: Settings, tmp_path: Path) -> None:
    asyncio.run(store_identity_secret(sqlite_settings))
    (tmp_path / "shop.db.key").unlink()
    env = {k: v for k, v in os.environ.items() if k != "FRONTDESK_SECRET_KEY"}
    env |= {"FRONTDESK_DATABASE_URL": sqlite_settings.database_url, "FRONTDESK_API_TOKEN": TEST_API_TOKEN}

    done = subprocess.run(
        [sys.executable, "-m", "frontdesk.cli", "serve"], env=env, capture_output=True, text=True, timeout=120
    )

    assert done.returncode == 1, done.stdout + done.stderr
    assert f"key file {tmp_path / 'shop.db.key'} is missing" in " ".join(done.stderr.split())
    assert "Traceback" not in done.stdout + done.stderr
    assert not (tmp_path / "shop.db.key").exists()
