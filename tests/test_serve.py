"""`frontdesk serve --demo` as `make run` starts it: a real process answering real HTTP on a free port."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from frontdesk.config import Settings
from tests.server import ADMIN_HEADERS, running_server


def test_serve_with_demo_answers_a_shopper_question_over_http(settings: Settings, tmp_path: Path) -> None:
    log = tmp_path / "serve.log"
    with running_server(settings.database_url, log) as base:
        health = httpx.get(f"{base}/healthz").json()
        assert health["knowledge_entries"] >= 80
        ask = {"question": "do you ship to canada?"}
        assert httpx.post(f"{base}/api/agent/ask", json=ask).status_code == 401
        decision = httpx.post(f"{base}/api/agent/ask", json=ask, headers=ADMIN_HEADERS).json()
        assert decision["decision"] == "answer"
        assert "canada" in decision["text"].lower()
        assert httpx.get(f"{base}/docs").status_code == 200
        shop = httpx.get(f"{base}/")
        assert '<script src="/widget.js"' in shop.text
        widget = httpx.get(f"{base}/widget.js")
        assert widget.headers["content-type"].startswith("text/javascript")
        # One file for the store's page: the custom message's renderer is inside it, not a second script to load.
        assert "function renderRich(" in widget.text and "/* rich-text.js */" not in widget.text
    printed = log.read_text()
    assert f"{base}/docs" in printed
    assert f"{base}/" in printed
    assert f"{base}/console" in printed


def test_first_demo_start_prints_an_admin_who_can_sign_in_and_later_starts_do_not(
    settings: Settings, tmp_path: Path
) -> None:
    first = tmp_path / "first.log"
    # Unbuffered, so that the startup lines are in the log while the server runs.
    with running_server(settings.database_url, first, {"PYTHONUNBUFFERED": "1"}) as base:
        printed = re.search(r"Sign in to the inbox and console as (\S+) / (\S+)", first.read_text())
        assert printed, first.read_text()
        email, password = printed.groups()
        assert email == "admin@demo.store"
        with httpx.Client(base_url=base) as browser:
            form = browser.get("/signin")
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
            assert csrf
            signed_in = browser.post(
                "/signin", data={"email": email, "password": password, "csrf_token": csrf.group(1), "next": "/inbox"}
            )
            assert signed_in.status_code == 303
            me = browser.get("/api/me").json()
            assert (me["email"], me["role"]) == ("admin@demo.store", "admin")
    second = tmp_path / "second.log"
    with running_server(settings.database_url, second, {"PYTHONUNBUFFERED": "1"}):
        pass
    later = second.read_text()
    assert "Sign in to the inbox" not in later and password not in later
    # ...but it says how to get in.
    assert "the demo's is admin@demo.store" in later
    assert "forgot the password? `frontdesk users reset-password EMAIL`" in later
