"""Settings a newcomer changes first: another port, and the public address that follows it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from frontdesk.config import Settings

ROOT = Path(__file__).parents[1]


def test_the_public_url_follows_the_port_unless_it_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FRONTDESK_PUBLIC_URL", raising=False)
    monkeypatch.delenv("FRONTDESK_PORT", raising=False)
    assert Settings(port=8101).public_url == "http://127.0.0.1:8101"
    assert Settings(host="0.0.0.0", port=9000).public_url == "http://127.0.0.1:9000"
    monkeypatch.setenv("FRONTDESK_PORT", "8202")
    assert Settings().public_url == "http://127.0.0.1:8202"
    monkeypatch.setenv("FRONTDESK_PUBLIC_URL", "https://help.shop.example")
    assert Settings(port=8101).public_url == "https://help.shop.example"


def test_make_run_takes_a_port() -> None:
    planned = subprocess.run(
        ["make", "-n", "run", "PORT=8101"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert "frontdesk serve --demo --port 8101" in planned
    default = subprocess.run(["make", "-n", "run"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert "frontdesk serve --demo" in default and "--port" not in default
