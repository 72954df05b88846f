"""A real `frontdesk serve` process on a free port, for tests that speak HTTP and WebSocket to it."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from cryptography.fernet import Fernet

TEST_SECRET_KEY = Fernet.generate_key().decode()
TEST_API_TOKEN = "test-api-token-" + secrets.token_urlsafe(16)
ADMIN_HEADERS = {"Authorization": f"Bearer {TEST_API_TOKEN}"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerFailed(RuntimeError):
    pass


@contextmanager
def running_server(database_url: str, log: Path, env: dict[str, str] | None = None, demo: bool = True) -> Iterator[str]:
    """Start the server, wait for /healthz, yield its base URL, and stop it."""
    port = free_port()
    environment = {
        **os.environ,
        "FRONTDESK_DATABASE_URL": database_url,
        "FRONTDESK_PORT": str(port),
        "FRONTDESK_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "FRONTDESK_SECRET_KEY": TEST_SECRET_KEY,
        "FRONTDESK_API_TOKEN": TEST_API_TOKEN,
        **(env or {}),
    }
    command = [sys.executable, "-m", "frontdesk.cli", "serve", *(["--demo"] if demo else [])]
    with log.open("a") as handle:
        process = subprocess.Popen(command, env=environment, stdout=handle, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None:
                raise ServerFailed(f"frontdesk serve exited: {log.read_text()}")
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise ServerFailed(f"frontdesk serve did not answer: {log.read_text()}")
            time.sleep(0.2)
        yield base
    finally:
        stop(process)


def stop(process: subprocess.Popen[bytes]) -> None:
    """Terminate a server or worker process; kill it if it has not stopped in 30 s."""
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()


def reset_postgres(url: str) -> None:
    """An empty public schema, migrated to the latest revision."""
    import asyncio

    import asyncpg

    from frontdesk.db import migrate

    async def reset() -> None:
        connection = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
        try:
            await connection.execute("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public;")
        finally:
            await connection.close()

    asyncio.run(reset())
    migrate(url)
