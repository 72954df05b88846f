# ruff: noqa: F401, F811 - the fixtures imported from tests/webchat/conftest.py are what the parameters below name
"""The console's browser tests: a real `frontdesk serve --demo` (tests/webchat/conftest.py's fixtures) and an admin
signed in through the sign-in page in Debian's chromium."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from frontdesk.console.pages import NAVIGATION
from tests.webchat.conftest import (
    Server,
    Watch,
    browser,
    database_url_for_module,
    page,
    playwright,
    server,
    smtp,
    watch,
    watch_policy,
)
from tests.webchat.test_inbox_live import PASSWORD, create_user

ADMIN_EMAIL = "owner@juniper.example"
NAVIGATION_LABELS = [label for _, label in NAVIGATION]


def sign_in_admin(page: Page, server: Server, path: str = "/console/overview") -> None:
    """Sign the admin in through the form, landing on `path`."""
    page.goto(f"{server.base}{path}")
    page.get_by_label("Email").fill(ADMIN_EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{server.base}{path}")


@pytest.fixture(scope="module")
def admin_account(server: Server, database_url_for_module: str) -> str:
    """The store's admin, created once per module's database with `frontdesk users create`."""
    create_user(server, database_url_for_module, ADMIN_EMAIL, role="admin")
    return ADMIN_EMAIL


@pytest.fixture
def admin_page(browser: Browser, server: Server, admin_account: str) -> Iterator[Page]:
    """A fresh browser context with the store's admin signed in, on the overview; script errors fail the test."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    watch_policy(page, errors)
    sign_in_admin(page, server)
    yield page
    context.close()
    assert errors == [], f"script errors in the console: {errors}"
