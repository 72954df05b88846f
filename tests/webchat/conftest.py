"""A real `frontdesk serve --demo` process and Debian's chromium driven by Playwright.

The server is shared by the tests of a module (starting one takes seconds): tests that count tickets count those of
their own conversation, or relative to before. No browser is ever downloaded: `make browser` installs chromium.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Dialog, Page, Playwright, expect, sync_playwright

from frontdesk.db import migrate
from tests.conftest import POSTGRES_URL
from tests.fakes.smtp import SmtpServer
from tests.server import ADMIN_HEADERS, ServerFailed, reset_postgres, running_server

CHROMIUM = Path("/usr/bin/chromium")
expect.set_options(timeout=10_000)  # a loaded 2-core CI machine answers more slowly than a laptop
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass
class Server:
    base: str
    log: Path

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        response = httpx.request(method, f"{self.base}{path}", timeout=10, headers=ADMIN_HEADERS, **kwargs)
        response.raise_for_status()
        return response.json()

    def tickets(self, conversation_id: str | None = None) -> list[dict[str, Any]]:
        tickets: list[dict[str, Any]] = self.api("GET", "/api/inbox/tickets")
        return [t for t in tickets if conversation_id is None or t["conversation_id"] == conversation_id]


@pytest.fixture(scope="module")
def database_url_for_module(tmp_path_factory: pytest.TempPathFactory) -> str:
    """What tests/conftest.py's `database_url` gives one test, for a whole module: fresh, migrated, SQLite or
    PostgreSQL (FRONTDESK_TEST_DATABASE_URL). No other test runs while this module's server does."""
    if POSTGRES_URL:
        with ThreadPoolExecutor(1) as thread:  # Playwright's loop counts as running in this thread (see `playwright`)
            thread.submit(reset_postgres, POSTGRES_URL).result()
        return POSTGRES_URL
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('webchat')}/frontdesk.db"
    migrate(url)
    return url


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpServer]:
    """The real SMTP server the module's frontdesk sends its email to (replies to shoppers who left, team alerts)."""
    mail = SmtpServer()
    mail.start()
    yield mail
    mail.stop()


@pytest.fixture(scope="module")
def server(
    database_url_for_module: str, tmp_path_factory: pytest.TempPathFactory, smtp: SmtpServer
) -> Iterator[Server]:
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    env = {
        # Every test opens conversations from 127.0.0.1: the per-address limits are not what is tested here.
        "FRONTDESK_RATE_IP_CONVERSATIONS_PER_MINUTE": "1000",
        "FRONTDESK_RATE_IP_MESSAGES_PER_MINUTE": "1000",
        "FRONTDESK_SMTP_HOST": "127.0.0.1",
        "FRONTDESK_SMTP_PORT": str(smtp.port),
        "FRONTDESK_SMTP_SECURITY": "none",
        "FRONTDESK_MAIL_FROM": "Juniper & Pine <help@juniper.example>",
    }
    try:
        with running_server(database_url_for_module, log, env) as base:
            yield Server(base, log)
    except ServerFailed as failure:
        pytest.fail(str(failure))


@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    """One driver for the browser tests. Package scope, not session: while Playwright's sync API runs, its asyncio
    loop counts as running in the main thread, which would break every asyncio test collected after these."""
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make browser` (installs Debian's chromium)")
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@dataclass
class Watch:
    """What the page did that a shopper would notice or that is a bug: dialogs (alert, confirm) and script errors."""

    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def watch_policy(page: Page, errors: list[str]) -> None:
    """Count what the page's Content-Security-Policy blocked as a script error: the page would be missing it. (A
    page of ours refusing to be framed, frame-ancestors, is reported to the framing page, and is what we want.)"""

    def on_console(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text and "frame-ancestors" not in message.text:
            errors.append(message.text)

    page.on("console", on_console)


@pytest.fixture
def watch() -> Watch:
    return Watch()


@pytest.fixture
def page(browser: Browser, watch: Watch) -> Iterator[Page]:
    """A fresh browser context (its own localStorage: a new visitor) with one page."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(10_000)
    page = context.new_page()

    def on_dialog(dialog: Dialog) -> None:
        watch.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.on("pageerror", lambda error: watch.errors.append(str(error)))
    watch_policy(page, watch.errors)
    yield page
    context.close()
    assert watch.errors == [], f"script errors on the page: {watch.errors}"
