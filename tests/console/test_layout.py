"""The console's frame: admins only, and a navigation that reaches every area."""

from __future__ import annotations

import httpx
from playwright.sync_api import Page, expect

from tests.console.conftest import NAVIGATION_LABELS
from tests.webchat.conftest import Server


def test_signed_out_visitor_is_sent_to_sign_in(server: Server) -> None:
    response = httpx.get(f"{server.base}/console/overview", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/signin?next=/console/overview"


def test_admin_reaches_every_area_from_the_navigation(admin_page: Page, server: Server) -> None:
    nav = admin_page.get_by_role("navigation", name="Console")
    for label in NAVIGATION_LABELS:
        nav.get_by_role("link", name=label, exact=True).click()
        expect(admin_page.get_by_role("heading", level=1)).to_be_visible()
        expect(nav.get_by_role("link", name=label, exact=True)).to_have_attribute("aria-current", "page")
