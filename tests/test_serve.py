"""`frontdesk serve --demo` as `make run` starts it: a real process answering real HTTP on a free port."""

from __future__ import annotations

from pathlib import Path

import httpx

from frontdesk.config import Settings
from tests.server import running_server


def test_serve_with_demo_answers_a_shopper_question_over_http(settings: Settings, tmp_path: Path) -> None:
    log = tmp_path / "serve.log"
    with running_server(settings.database_url, log) as base:
        health = httpx.get(f"{base}/healthz").json()
        assert health["knowledge_entries"] >= 80
        decision = httpx.post(f"{base}/api/agent/ask", json={"question": "do you ship to canada?"}).json()
        assert decision["decision"] == "answer"
        assert "canada" in decision["text"].lower()
        assert httpx.get(f"{base}/docs").status_code == 200
        shop = httpx.get(f"{base}/")
        assert '<script src="/widget.js"' in shop.text
        assert httpx.get(f"{base}/widget.js").headers["content-type"].startswith("text/javascript")
    printed = log.read_text()
    assert f"{base}/docs" in printed
    assert f"{base}/" in printed
