# ruff: noqa: F401, F811 - `server` and `zendesk`, imported below, are fixtures this module's tests name
"""The console's settings pages, driven as the store's admin in chromium, with the shopper's widget showing the result:
Do not hand off with a linked message (previewed live, neutralised where unsafe), Zendesk picked while unconnected and
connected inline against the fake Zendesk, the widget's look and its identity secret, and no way in for an agent."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
from pathlib import Path

from playwright.sync_api import Browser, Page, expect

from tests.fakes.zendesk import ZendeskFake, ZendeskTicket
from tests.webchat.conftest import Server, Watch
from tests.webchat.test_inbox_live import PASSWORD, create_user
from tests.webchat.test_widget import UNKNOWN, YES, Chat
from tests.webchat.test_zendesk_e2e import server, wait_for, zendesk  # its server points at the fake Zendesk

HANDOFF = "/console/settings/handoff"
WIDGET = "/console/settings/widget"
HELP_URL = "https://help.juniper.example/contact"
# What an admin might paste: a good link, markup, a script, and a javascript: link.
MESSAGE = (
    f"We can't help with that here. Write to [our help team]({HELP_URL}) — **we answer within a day**.\n"
    "<script>window.__injected = true</script><b>Bold?</b> [click me](javascript:window.__injected=true)"
)
SCREENSHOT_MESSAGE = (
    "Sorry, our assistant can't help with that one. Our [help centre](https://help.juniper.example) has the "
    "answers, or email [help@juniper.example](mailto:help@juniper.example) — **we reply within a day**."
)
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "console-handoff.png"


def method_radio(page: Page, name: str) -> None:
    page.get_by_role("radio", name=name, exact=True).check()


def test_do_not_hand_off_message_is_previewed_saved_and_shown_to_the_shopper_with_a_working_link(
    admin_page: Page, page: Page, server: Server, watch: Watch
) -> None:
    admin = admin_page
    admin.goto(f"{server.base}{HANDOFF}")
    expect(admin.get_by_role("heading", level=1)).to_have_text("Handoff")
    method_radio(admin, "Do not hand off")
    if os.environ.get("FRONTDESK_SCREENSHOTS"):  # docs/console-handoff.png: a store's message, links and all
        admin.get_by_label("Support message").fill(SCREENSHOT_MESSAGE)
        expect(admin.locator("#custom-preview").get_by_role("link")).to_have_count(2)
        admin.get_by_label("Support message").blur()
        admin.evaluate(
            "window.scrollTo(0, document.getElementById('method-heading').getBoundingClientRect().top + scrollY - 16)"
        )
        admin.screenshot(path=str(SCREENSHOT))
    admin.get_by_label("Support message").fill(MESSAGE)

    # The preview is the server's sanitising rendered the widget's way: the link works, the rest is inert text.
    preview = admin.get_by_role("group", name="Preview: what the shopper sees")
    link = preview.get_by_role("link", name="our help team")
    expect(link).to_have_attribute("href", HELP_URL)
    expect(preview.locator("strong")).to_have_text("we answer within a day")
    expect(preview).to_contain_text("Bold? click me")
    expect(preview.get_by_role("link")).to_have_count(1)
    expect(preview.locator("script, b")).to_have_count(0)
    expect(preview).not_to_contain_text("<script>")

    admin.get_by_role("button", name="Save", exact=True).click()
    expect(admin.locator("#flash")).to_have_text(re.compile("Saved.*shoppers see your support message"))
    assert server.api("GET", "/api/settings/handoff")["method"] == "none"

    # The shopper asks what the store cannot answer and gets the message; its link opens the help page.
    page.context.route(
        f"{HELP_URL}*", lambda route: route.fulfill(body="<title>Contact us</title>", content_type="text/html")
    )
    chat = Chat(page, server).open()
    chat.ask(UNKNOWN)
    custom = chat.messages("ai", "custom")
    expect(custom).to_have_count(1)
    shopper_link = custom.get_by_role("link", name="our help team")
    expect(shopper_link).to_have_attribute("href", HELP_URL)
    expect(custom.get_by_role("link")).to_have_count(1)
    expect(custom).to_contain_text("Bold? click me")
    expect(custom.locator("script, b")).to_have_count(0)
    with page.expect_popup() as popup:
        shopper_link.click()
    expect(popup.value).to_have_title("Contact us")
    assert popup.value.url == HELP_URL
    assert page.evaluate("window.__injected") is None
    assert watch.dialogs == []
    expect(chat.messages("ai", "offer")).to_have_count(0)  # no handoff was offered


def test_zendesk_picked_unconnected_is_connected_inline_then_saved_and_the_next_handoff_makes_a_ticket(
    admin_page: Page, page: Page, server: Server, zendesk: ZendeskFake
) -> None:
    assert server.api("GET", "/api/integrations/zendesk")["status"] == "not_connected"
    admin = admin_page
    admin.goto(f"{server.base}{HANDOFF}")
    method_radio(admin, "Zendesk")
    save = admin.get_by_role("button", name="Save", exact=True)
    expect(save).to_be_disabled()
    expect(admin.locator("#save-hint")).to_contain_text("Connect Zendesk")
    connect = admin.get_by_role("group", name="Connect Zendesk")
    expect(connect).to_be_visible()

    connect.get_by_label("Zendesk subdomain").fill("https://juniper.zendesk.com/")
    connect.get_by_label("Email").fill(zendesk.email)
    connect.get_by_label("API token").fill("a-wrong-token")
    connect.get_by_role("button", name="Test connection").click()
    expect(connect.get_by_role("status")).to_have_text("Not connected: Zendesk did not accept the email/API token")
    expect(admin.locator("#flash")).to_contain_text("Zendesk did not accept the email/API token")
    expect(save).to_be_disabled()
    assert server.api("GET", "/api/integrations/zendesk")["status"] == "not_connected"

    connect.get_by_label("API token").fill(zendesk.api_token)
    connect.get_by_label("API token").press("Enter")  # Enter tests the connection; it does not save the page
    connection = admin.locator('[data-connection="zendesk"]')
    expect(connection).to_contain_text("Connected to juniper.zendesk.com as agent@juniper.example (Juniper Agent)")
    expect(connection).to_contain_text("Agents' replies come back by themselves")
    expect(connect).to_be_hidden()
    expect(save).to_be_enabled()
    assert server.api("GET", "/api/settings/handoff")["method"] != "zendesk"  # not saved yet
    assert len(zendesk.webhooks) == 1 and len(zendesk.triggers) == 1  # the reply path, set up when connected

    save.click()
    expect(admin.locator("#flash")).to_have_text("Saved. From now on, handoffs go to Zendesk.")
    assert server.api("GET", "/api/settings/handoff")["method"] == "zendesk"
    admin.reload()
    expect(admin.get_by_role("radio", name="Zendesk", exact=True)).to_be_checked()
    expect(admin.locator('[data-connection="zendesk"]')).to_contain_text("Connected to juniper.zendesk.com")

    chat = Chat(page, server).open()
    chat.ask(UNKNOWN)
    chat.offer().get_by_role("button", name=YES).click()
    chat.give_email("settings-shopper@example.com")
    conversation_id = chat.conversation_id

    def the_ticket() -> ZendeskTicket | None:
        return zendesk.ticket_by_external_id(conversation_id)

    ticket = wait_for(page, "the Zendesk ticket", the_ticket)
    assert UNKNOWN in ticket.comments[0].body
    assert "settings-shopper@example.com" in ticket.comments[0].body


def test_invalid_settings_are_refused_with_the_field_named(admin_page: Page, server: Server) -> None:
    admin = admin_page
    admin.goto(f"{server.base}{HANDOFF}")
    admin.get_by_label("Yes button").fill("")
    admin.get_by_role("button", name="Add hours").first.click()  # Monday
    admin.get_by_label("Monday opens").fill("18:00")
    admin.get_by_label("Monday closes").fill("09:00")
    admin.get_by_role("button", name="Save", exact=True).click()
    expect(admin.locator("#flash")).to_have_attribute("data-kind", "error")
    expect(admin.locator("#flash")).to_contain_text("yes_text")

    admin.get_by_label("Yes button").fill("Yes please")
    admin.get_by_role("button", name="Save", exact=True).click()
    expect(admin.locator("#flash")).to_have_text("Not saved: office_hours.mon: 09:00 is not after 18:00")

    admin.get_by_label("Monday opens").fill("09:00")
    admin.get_by_label("Monday closes").fill("17:30")
    admin.get_by_label("Time zone").select_option("America/Los_Angeles")
    admin.get_by_label("Date", exact=True).fill("2026-12-25")
    admin.get_by_role("button", name="Add holiday").click()
    expect(admin.get_by_role("button", name="Remove holiday 2026-12-25")).to_be_visible()
    admin.get_by_role("button", name="Save", exact=True).click()
    expect(admin.locator("#flash")).to_contain_text("Saved.")
    saved = server.api("GET", "/api/settings/handoff")
    assert saved["yes_text"] == "Yes please"
    assert saved["office_hours"] == {"mon": [["09:00", "17:30"]]}
    assert (saved["timezone"], saved["holidays"]) == ("America/Los_Angeles", ["2026-12-25"])


def test_widget_greeting_and_colour_set_in_the_console_show_in_the_widget(
    admin_page: Page, page: Page, server: Server
) -> None:
    admin = admin_page
    admin.goto(f"{server.base}{WIDGET}")
    greeting = "Howdy! Ask me anything about tents, bags and stoves."
    admin.get_by_label("Greeting").fill(greeting)
    admin.get_by_label("Colour").fill("#8a2be2")
    admin.get_by_role("button", name="Save", exact=True).click()
    expect(admin.locator("#flash")).to_contain_text("Saved.")

    chat = Chat(page, server).open()
    expect(chat.hook("greeting")).to_have_text(greeting)
    expect(chat.bubble).to_have_css("background-color", "rgb(138, 43, 226)")

    admin.reload()
    expect(admin.get_by_label("Greeting")).to_have_value(greeting)
    expect(admin.get_by_label("Colour")).to_have_value("#8a2be2")


def test_embed_snippet_points_at_this_server_and_copies(admin_page: Page, server: Server) -> None:
    admin = admin_page
    admin.context.grant_permissions(["clipboard-read", "clipboard-write"])
    admin.goto(f"{server.base}{WIDGET}")
    tag = f'<script src="{server.base}/widget.js" defer></script>'
    expect(admin.locator("#embed-snippet")).to_have_text(tag)
    admin.get_by_role("button", name="Copy the embed snippet").click()
    expect(admin.locator("#flash")).to_have_text("Embed snippet copied.")
    assert admin.evaluate("navigator.clipboard.readText()") == tag


def test_identity_secret_is_shown_once_after_rotating_and_signs_shoppers_in(
    admin_page: Page, page: Page, server: Server
) -> None:
    admin = admin_page
    admin.goto(f"{server.base}{WIDGET}")
    expect(admin.locator("#identity-status")).to_contain_text("Off")
    secret_field = admin.get_by_label("Identity secret")
    expect(secret_field).to_be_hidden()
    admin.get_by_role("button", name="Create secret").click()
    expect(admin.get_by_text("Copy this secret now: it is not shown again.")).to_be_visible()
    expect(secret_field).to_have_value(re.compile(r"^[0-9a-f]{64}$"))
    first = secret_field.input_value()

    # Rotating again asks first, and the new secret replaces the old one.
    admin.get_by_role("button", name="Rotate secret").click()
    expect(admin.get_by_text("hashes made with the old secret stop working")).to_be_visible()
    admin.get_by_role("button", name="Rotate now").click()
    expect(secret_field).not_to_have_value(first)
    second = secret_field.input_value()
    assert re.fullmatch(r"[0-9a-f]{64}", second)

    admin.reload()
    expect(admin.locator("#identity-status")).to_contain_text("On")
    expect(admin.get_by_label("Identity secret")).to_be_hidden()
    assert first not in admin.content() and second not in admin.content()
    assert second not in str(server.api("GET", "/api/settings/widget"))

    # The shown secret is the one that verifies: the store's page passing a hash made with it signs its shopper in.
    # (The demo page plays the store's page; its widget tag gets the attributes the store's server would render.)
    email = "signed-in@example.com"
    user_hash = hmac.new(second.encode(), email.encode(), hashlib.sha256).hexdigest()
    attributes = json.dumps({"email": email, "userHash": user_hash})
    page.add_init_script(
        "new MutationObserver((changes, observer) => {"
        "  const tag = document.querySelector('script[src$=\"/widget.js\"]');"
        f"  if (tag) {{ Object.assign(tag.dataset, {attributes}); observer.disconnect(); }}"
        "}).observe(document, { childList: true, subtree: true });"
    )
    chat = Chat(page, server).open()
    welcome = wait_for(page, "the welcome", lambda: next((f for f in chat.received if f["type"] == "welcome"), None))
    assert welcome["signed_in"] is True


def test_an_agent_gets_the_403_page_on_the_settings_and_integrations(
    browser: Browser, server: Server, database_url_for_module: str, admin_account: str
) -> None:
    email = "agent@juniper.example"
    create_user(server, database_url_for_module, email, role="agent")
    context = browser.new_context(viewport={"width": 768, "height": 1024})
    try:
        agent = context.new_page()
        agent.goto(f"{server.base}/signin")
        agent.get_by_label("Email").fill(email)
        agent.get_by_label("Password").fill(PASSWORD)
        agent.get_by_role("button", name="Sign in").click()
        expect(agent).to_have_url(re.compile("/inbox"))
        for path in (HANDOFF, WIDGET, "/console/integrations"):
            response = agent.goto(f"{server.base}{path}")
            assert response is not None and response.status == 403, path
            expect(agent.get_by_role("heading", level=1)).to_have_text("Not for your role")
            expect(agent.get_by_role("radio")).to_have_count(0)
    finally:
        context.close()
