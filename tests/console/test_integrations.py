# ruff: noqa: F401, F811 - `server` and `zendesk`, imported below, are fixtures this module's tests name
"""The console's Integrations page as the store's admin sees it, against the fake Zendesk: connecting, a handoff that
went dead (Zendesk stopped accepting the token) shown with its error and sent again by Retry, the last delivery, and a
disconnect refused while Zendesk is the handoff method."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import Page, expect

from tests.fakes.zendesk import ZendeskFake, ZendeskTicket
from tests.webchat.conftest import Server
from tests.webchat.test_widget import UNKNOWN, YES, Chat
from tests.webchat.test_zendesk_e2e import server, wait_for, zendesk  # its server points at the fake Zendesk

INTEGRATIONS = "/console/integrations"


def card(page: Page, title: str) -> Any:
    return page.get_by_role("region", name=title, exact=True)


def connect_zendesk(admin: Page, server: Server, zendesk: ZendeskFake) -> None:
    admin.goto(f"{server.base}{INTEGRATIONS}")
    form = card(admin, "Zendesk").get_by_role("group", name="Connect Zendesk")
    form.get_by_label("Zendesk subdomain").fill(zendesk.subdomain)
    form.get_by_label("Email").fill(zendesk.email)
    form.get_by_label("API token").fill(zendesk.api_token)
    form.get_by_role("button", name="Connect Zendesk").click()
    expect(admin.locator("#flash")).to_have_text("Zendesk is connected.")


def test_a_dead_handoff_shows_with_its_error_and_retry_delivers_it(
    admin_page: Page, page: Page, server: Server, zendesk: ZendeskFake
) -> None:
    admin = admin_page
    admin.goto(f"{server.base}{INTEGRATIONS}")
    zendesk_card = card(admin, "Zendesk")
    expect(zendesk_card.locator('[data-field="connection"]')).to_have_text("Not connected")
    expect(card(admin, "Twilio").get_by_role("group", name="Connect Twilio")).to_be_visible()

    # A wrong token first: what failed is said in the form, and nothing is connected.
    form = zendesk_card.get_by_role("group", name="Connect Zendesk")
    form.get_by_label("Zendesk subdomain").fill(zendesk.subdomain)
    form.get_by_label("Email").fill(zendesk.email)
    form.get_by_label("API token").fill("not-the-token")
    form.get_by_role("button", name="Connect Zendesk").click()
    expect(form.get_by_role("status")).to_have_text("Not connected: Zendesk did not accept the email/API token")

    connect_zendesk(admin, server, zendesk)
    zendesk_card = card(admin, "Zendesk")
    expect(zendesk_card.locator('[data-field="connection"]')).to_have_text("Connected")
    facts = zendesk_card.locator("dl")
    expect(facts).to_contain_text("juniper.zendesk.com")
    expect(facts).to_contain_text("agent@juniper.example (Juniper Agent)")
    expect(facts).to_contain_text(re.compile(r"Last delivery\s*none yet"))
    expect(facts).to_contain_text("come back by themselves")
    expect(zendesk_card).not_to_contain_text(zendesk.api_token)
    server.api("PUT", "/api/settings/handoff", json={"method": "zendesk"})

    # Zendesk stops accepting the token (revoked there): the next handoff is refused and stops retrying at once.
    zendesk.api_token = "zd-token-after-rotation"
    try:
        chat = Chat(page, server).open()
        chat.ask(UNKNOWN)
        chat.offer().get_by_role("button", name=YES).click()
        chat.give_email("dead-letter@example.com")
        conversation_id = chat.conversation_id

        def dead_row() -> dict[str, Any] | None:
            rows = server.api("GET", "/api/outbox", params={"status": "dead", "target": "zendesk"})
            return next((row for row in rows if row["conversation_id"] == conversation_id), None)

        wait_for(page, "the dead handoff", dead_row)
    finally:
        zendesk.api_token = "zd-test-token"

    admin.reload()
    failed = card(admin, "Zendesk").get_by_role("table")
    row = failed.get_by_role("row").filter(has_text=conversation_id)
    expect(row).to_contain_text("handoff")
    expect(row).to_contain_text("AuthFailed")
    expect(row).to_contain_text("401")

    # The admin fixed the token in Zendesk: Retry sends it again, and the ticket is made.
    row.get_by_role("button", name="Retry").click()
    expect(row).to_contain_text("Queued again")
    expect(row.get_by_role("button", name="Retry")).to_have_count(0)
    expect(admin.locator("#flash")).to_contain_text("Queued again")

    def the_ticket() -> ZendeskTicket | None:
        return zendesk.ticket_by_external_id(conversation_id)

    wait_for(page, "the Zendesk ticket", the_ticket)
    wait_for(page, "the delivery", lambda: server.api("GET", "/api/integrations/zendesk")["last_delivery_at"])
    admin.reload()
    zendesk_card = card(admin, "Zendesk")
    expect(zendesk_card.get_by_role("table")).to_have_count(0)
    expect(zendesk_card).to_contain_text("None: everything sent to Zendesk was delivered")
    expect(zendesk_card.locator("dl")).to_contain_text(re.compile(r"Last delivery\s*\d{4}-\d\d-\d\d \d\d:\d\d UTC"))


def test_disconnecting_the_handoff_method_is_refused_with_the_reason_then_allowed_once_it_is_not(
    admin_page: Page, server: Server, zendesk: ZendeskFake
) -> None:
    admin = admin_page
    if server.api("GET", "/api/integrations/zendesk")["status"] != "connected":
        connect_zendesk(admin, server, zendesk)
    server.api("PUT", "/api/settings/handoff", json={"method": "zendesk"})
    admin.goto(f"{server.base}{INTEGRATIONS}")
    zendesk_card = card(admin, "Zendesk")
    expect(zendesk_card.get_by_text("handoff method", exact=True)).to_be_visible()

    # A confirm step first; Cancel changes nothing.
    zendesk_card.get_by_role("button", name="Disconnect Zendesk").click()
    confirm = zendesk_card.get_by_role("group", name=re.compile("Disconnect Zendesk\\?"))
    expect(confirm).to_be_visible()
    confirm.get_by_role("button", name="Cancel").click()
    expect(confirm).to_be_hidden()
    expect(zendesk_card.get_by_role("button", name="Disconnect Zendesk")).to_be_focused()

    zendesk_card.get_by_role("button", name="Disconnect Zendesk").click()
    confirm.get_by_role("button", name="Yes, disconnect").click()
    refusal = zendesk_card.get_by_role("alert")
    expect(refusal).to_contain_text("Not disconnected: Zendesk is the handoff method: choose another one")
    expect(admin.locator("#flash")).to_have_attribute("data-kind", "error")
    assert server.api("GET", "/api/integrations/zendesk")["status"] == "connected"

    server.api("PUT", "/api/settings/handoff", json={"method": "builtin"})
    zendesk_card.get_by_role("button", name="Disconnect Zendesk").click()
    confirm.get_by_role("button", name="Yes, disconnect").click()
    expect(admin.locator("#flash")).to_have_text("Zendesk is disconnected.")
    expect(card(admin, "Zendesk").locator('[data-field="connection"]')).to_have_text("Not connected")
    assert server.api("GET", "/api/integrations/zendesk")["status"] == "not_connected"


def test_the_page_fits_a_tablet(admin_page: Page, server: Server) -> None:
    admin = admin_page
    admin.set_viewport_size({"width": 768, "height": 1024})
    for path in (INTEGRATIONS, "/console/settings/handoff", "/console/settings/widget"):
        admin.goto(f"{server.base}{path}")
        expect(admin.get_by_role("heading", level=1)).to_be_visible()
        overflow = admin.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"{path} scrolls sideways on a 768px tablet ({overflow}px)"


def test_the_page_shows_the_smtp_server_email_goes_through(admin_page: Page, server: Server) -> None:
    admin_page.goto(f"{server.base}/console/integrations")
    email = admin_page.locator('[data-integration="email"]')
    expect(email.locator('[data-field="connection"]')).to_have_text("Set up")
    expect(email.locator('[data-field="address"]')).to_contain_text("127.0.0.1:")
