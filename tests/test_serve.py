"""`frontdesk serve --demo` as `make run` starts it: a real process answering real HTTP on a free port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from frontdesk.config import Settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def server(settings: Settings, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    port = free_port()
    log = tmp_path / "serve.log"
    env = {**os.environ, "FRONTDESK_DATABASE_URL": settings.database_url, "FRONTDESK_PORT": str(port)}
    with log.open("w") as handle:
        process = subprocess.Popen(
            [sys.executable, "-m", "frontdesk.cli", "serve", "--demo"], env=env, stdout=handle, stderr=subprocess.STDOUT
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"frontdesk serve exited: {log.read_text()}")
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            pytest.fail(f"frontdesk serve did not answer: {log.read_text()}")
        yield base, log
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_serve_with_demo_answers_a_shopper_question_over_http(server: tuple[str, Path]) -> None:
    base, log = server
    health = httpx.get(f"{base}/healthz").json()
    assert health["knowledge_entries"] >= 80
    decision = httpx.post(f"{base}/api/agent/ask", json={"question": "do you ship to canada?"}).json()
    assert decision["decision"] == "answer"
    assert "canada" in decision["text"].lower()
    assert httpx.get(f"{base}/docs").status_code == 200
    assert f"{base}/docs" in log.read_text()
