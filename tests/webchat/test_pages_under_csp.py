"""The shopper's pages and the API docs work in Chromium under the Content-Security-Policy they are sent with (the
`page` fixture fails a test on anything the policy blocked), and load nothing from another site."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.webchat.conftest import Server
from tests.webchat.test_widget import CANADA, Chat


def test_the_widget_answers_on_the_demo_shop_under_its_policy(page: Page, server: Server) -> None:
    chat = Chat(page, server).open("/")
    chat.ask(CANADA)
    expect(chat.messages("ai", "text")).to_contain_text("shipping to Canada")
    expect(chat.bubble).to_have_css("position", "fixed")  # the widget's own styles applied in its shadow root


def test_the_chat_page_opens_the_chat_under_its_policy(page: Page, server: Server) -> None:
    chat = Chat(page, server).visit("/chat")
    expect(chat.panel).to_be_visible()
    chat.ask(CANADA)
    expect(chat.messages("ai", "text")).to_contain_text("shipping to Canada")


def test_the_api_docs_render_from_this_server_alone(page: Page, server: Server) -> None:
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(f"{server.base}/docs")
    expect(page.get_by_role("heading", name="frontdesk")).to_be_visible()
    search = page.get_by_text("/api/knowledge/search").first
    expect(search).to_be_visible()
    search.click()
    page.get_by_role("button", name="Try it out").click()
    page.get_by_placeholder("q").fill("canada")
    page.get_by_role("button", name="Execute").click()
    expect(page.locator(".live-responses-table")).to_contain_text("sign in first")  # the API answered: 401
    assert requested and all(url.startswith(server.base) for url in requested), requested
