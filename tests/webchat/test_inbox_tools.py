"""The inbox's tools in a real browser: saved replies picked with `/` or from the menu (and kept by admins on the
page), search across every queue, the shopper's earlier conversations, keyboard shortcuts and unread markers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.webchat.conftest import Server
from tests.webchat.test_inbox_live import agent_page, create_user, hand_off, sign_in
from tests.webchat.test_widget import Chat

__all__ = ["agent_page"]  # the fixture, used by name


@pytest.fixture
def shopper(browser: Browser, server: Server) -> Iterator[Chat]:
    """A shopper's own browser (a context of their own: a new visitor each time)."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(10_000)
    yield Chat(context.new_page(), server)
    context.close()


def a_second_visit(browser: Browser, server: Server, email: str) -> str:
    """The same shopper comes back another day in a fresh browser and is handed off again."""
    context = browser.new_context()
    try:
        chat = Chat(context.new_page(), server)
        hand_off(chat, email)
        return chat.conversation_id
    finally:
        context.close()


def open_ticket(page: Page, who: str) -> None:
    page.locator('.queue[data-queue="open"]').click()
    page.locator(".ticket", has_text=who).click()
    expect(page.locator("#detail-title")).to_have_text(who)


def test_an_agent_inserts_a_saved_reply_by_typing_slash_or_from_the_menu(
    server: Server, database_url_for_module: str, agent_page: Page, shopper: Chat
) -> None:
    server.api("POST", "/api/inbox/saved-replies", json={"name": "refund-policy", "text": "Refunds take 5 days."})
    server.api("POST", "/api/inbox/saved-replies", json={"name": "shipping", "text": "We ship within 24 hours."})
    create_user(server, database_url_for_module, "sal@juniper.example")
    sign_in(agent_page, server, "sal@juniper.example")
    hand_off(shopper, "saved@example.com")
    open_ticket(agent_page, "saved@example.com")

    box = agent_page.get_by_label("Message")
    choices = agent_page.get_by_role("listbox", name="Saved replies")
    box.press_sequentially("Hello! /ref", delay=5)
    expect(choices.get_by_role("option")).to_have_count(1)
    expect(choices.get_by_role("option")).to_contain_text("/refund-policy")
    box.press("Enter")
    expect(box).to_have_value("Hello! Refunds take 5 days.")
    expect(choices).to_be_hidden()

    box.press_sequentially(" /", delay=5)
    expect(choices.get_by_role("option")).to_have_count(2)
    box.press("ArrowDown")
    expect(choices.get_by_role("option", name="/shipping")).to_have_attribute("aria-selected", "true")
    box.press("Escape")
    expect(choices).to_be_hidden()
    expect(box).to_have_value("Hello! Refunds take 5 days. /")

    box.fill("")
    agent_page.get_by_role("button", name="Saved replies").click()
    choices.get_by_role("option", name="/shipping").click()
    expect(box).to_have_value("We ship within 24 hours.")
    agent_page.get_by_role("button", name="Send").click()
    expect(shopper.log).to_contain_text("We ship within 24 hours.")


def test_an_admin_adds_edits_and_deletes_saved_replies_on_the_inbox_page_and_agents_cannot(
    server: Server, database_url_for_module: str, agent_page: Page, page: Page
) -> None:
    create_user(server, database_url_for_module, "boss@juniper.example", role="admin")
    sign_in(agent_page, server, "boss@juniper.example")
    agent_page.get_by_text("Manage saved replies").click()
    agent_page.get_by_label("Name (used as /name)").fill("greeting")
    agent_page.get_by_label("Text", exact=True).fill("Hi, this is the Juniper & Pine team.")
    agent_page.get_by_role("button", name="Add saved reply").click()
    manager = agent_page.locator("#saved-admin")
    expect(manager).to_contain_text("/greeting")
    agent_page.get_by_role("button", name="Edit /greeting").click()
    agent_page.get_by_label("Text", exact=True).fill("Hello from Juniper & Pine.")
    agent_page.get_by_role("button", name="Save changes").click()
    expect(manager).to_contain_text("Hello from Juniper & Pine.")
    assert {"name": "greeting", "text": "Hello from Juniper & Pine."} in [
        {"name": r["name"], "text": r["text"]} for r in server.api("GET", "/api/inbox/saved-replies")
    ]
    agent_page.get_by_role("button", name="Delete /greeting").click()
    expect(agent_page.locator("#flash")).to_have_text("Saved reply “greeting” deleted.")
    expect(manager).not_to_contain_text("/greeting")

    create_user(server, database_url_for_module, "plain@juniper.example")
    sign_in(page, server, "plain@juniper.example")
    expect(page.get_by_text("Manage saved replies")).to_be_hidden()


def test_search_finds_a_closed_conversation_by_what_the_shopper_wrote_and_opens_it(
    server: Server, database_url_for_module: str, agent_page: Page, shopper: Chat
) -> None:
    hand_off(shopper, "searched@example.com")
    shopper.input.fill("my order ZX-4412 never came")
    shopper.input.press("Enter")
    conversation_id = shopper.conversation_id
    expect(shopper.log).to_contain_text("my order ZX-4412 never came")
    server.api("POST", f"/api/inbox/conversations/{conversation_id}/close")

    create_user(server, database_url_for_module, "sue@juniper.example")
    sign_in(agent_page, server, "sue@juniper.example")
    expect(agent_page.locator(".ticket", has_text="searched@example.com")).to_have_count(0)  # not unassigned
    agent_page.get_by_label("Search conversations").fill("zx-4412")
    agent_page.get_by_role("button", name="Search", exact=True).click()
    expect(agent_page.locator("#results-title")).to_have_text("1 conversation matching “zx-4412”")
    result = agent_page.locator(".ticket", has_text="searched@example.com")
    expect(result).to_contain_text("closed")
    result.click()
    expect(agent_page.locator("#detail-title")).to_have_text("searched@example.com")
    expect(agent_page.locator("#transcript")).to_contain_text("my order ZX-4412 never came")

    agent_page.get_by_label("Search conversations").fill("100%_nobody")
    agent_page.get_by_label("Search conversations").press("Enter")
    expect(agent_page.locator("#empty")).to_have_text("No conversation matches “100%_nobody”.")
    agent_page.get_by_role("button", name="Back to the queue").click()
    expect(agent_page.locator("#results-head")).to_be_hidden()


def test_the_shoppers_earlier_conversation_is_listed_beside_the_current_one_and_opens(
    server: Server, database_url_for_module: str, browser: Browser, agent_page: Page, shopper: Chat
) -> None:
    earlier = a_second_visit(browser, server, "regular@example.com")
    server.api("POST", f"/api/inbox/conversations/{earlier}/close")
    hand_off(shopper, "regular@example.com")

    create_user(server, database_url_for_module, "rae@juniper.example")
    sign_in(agent_page, server, "rae@juniper.example")
    open_ticket(agent_page, "regular@example.com")
    listed = agent_page.locator("#earlier li")
    expect(listed).to_have_count(1)
    expect(listed).to_contain_text("closed")
    listed.get_by_role("button").click()
    expect(agent_page).to_have_url(f"{server.base}/inbox#{earlier}")
    expect(agent_page.locator("#earlier li")).to_have_count(1)  # from there, today's conversation is the other one
    expect(agent_page.locator("#earlier")).to_contain_text("with the team")


def test_keyboard_shortcuts_move_through_the_list_assign_and_close_but_not_while_typing(
    server: Server, database_url_for_module: str, agent_page: Page, shopper: Chat
) -> None:
    hand_off(shopper, "keys@example.com")
    create_user(server, database_url_for_module, "kim@juniper.example")
    sign_in(agent_page, server, "kim@juniper.example")
    agent_page.locator('.queue[data-queue="unassigned"]').click()
    expect(agent_page.locator(".ticket", has_text="keys@example.com")).to_be_visible()

    agent_page.keyboard.press("?")
    help_ = agent_page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(help_).to_contain_text("Next conversation")
    agent_page.keyboard.press("Escape")
    expect(help_).to_be_hidden()

    search = agent_page.get_by_label("Search conversations")
    search.press_sequentially("jak", delay=5)  # typed into a field: no shortcut fires
    expect(search).to_have_value("jak")
    expect(agent_page.locator("#detail")).to_be_hidden()
    search.fill("")

    tickets = agent_page.locator("#tickets .ticket")
    agent_page.locator("body").click(position={"x": 5, "y": 5})
    agent_page.keyboard.press("j")
    expect(agent_page.locator("#detail")).to_be_visible()
    expect(tickets.first).to_have_attribute("aria-current", "true")
    first = agent_page.locator("#detail-title").text_content()
    expect(agent_page.locator("#flash")).to_have_text(f"Opened {first}.")
    while agent_page.locator("#detail-title").text_content() != "keys@example.com":
        before = agent_page.locator("#detail-title").text_content()
        agent_page.keyboard.press("j")
        expect(agent_page.locator("#detail-title")).not_to_have_text(before or "")
    agent_page.keyboard.press("a")
    expect(agent_page.locator("#flash")).to_have_text("Assigned to you.")
    expect(agent_page.locator("#facts")).to_contain_text("Assigned tokim")
    agent_page.keyboard.press("e")
    expect(agent_page.locator("#flash")).to_have_text("Conversation closed.")
    expect(shopper.log).to_contain_text("This conversation has ended.")
    agent_page.keyboard.press("/")
    expect(agent_page.get_by_label("Message")).to_be_focused()


def test_new_shopper_messages_mark_a_conversation_unread_until_the_agent_opens_it(
    server: Server, database_url_for_module: str, agent_page: Page, shopper: Chat
) -> None:
    create_user(server, database_url_for_module, "uma@juniper.example")
    sign_in(agent_page, server, "uma@juniper.example")
    hand_off(shopper, "unread@example.com")
    ticket = agent_page.locator(".ticket", has_text="unread@example.com")
    expect(ticket).to_have_class("ticket unread")
    expect(ticket.locator(".unread-mark")).to_contain_text("unread")

    ticket.click()
    expect(agent_page.locator("#detail-title")).to_have_text("unread@example.com")
    expect(ticket.locator(".unread-mark")).to_have_count(0)
    agent_page.goto(f"{server.base}/inbox")  # read is kept on the server, not in this page
    expect(agent_page.locator("#live")).to_have_text("Live")
    expect(ticket).to_be_visible()
    expect(ticket.locator(".unread-mark")).to_have_count(0)

    shopper.input.fill("hello, anyone?")
    shopper.input.press("Enter")
    expect(ticket.locator(".unread-mark")).to_have_text("1 unread")  # live, no reload
    expect(ticket).to_have_class("ticket unread")
