"""The link an answer carries to the shopper: a product's relative page on the store's own site, and nothing that is
not a web address (a store's typo or a hostile entry never becomes a javascript: or off-site link)."""

from __future__ import annotations

import pytest

from frontdesk.channels.webchat import service as webchat
from frontdesk.channels.webchat.schemas import WidgetSettingsIn
from frontdesk.conversations.turn import entry_link
from frontdesk.db import Database


@pytest.mark.parametrize(
    ("url", "link"),
    [
        ("/products/basin-tent", "https://shop.example/products/basin-tent"),
        ("https://other.example/pages/x", "https://other.example/pages/x"),
        ("javascript:alert(1)", None),
        ("//evil.example/x", None),
        ("data:text/html,<script>alert(1)</script>", None),
        ("products/relative-without-slash", None),
        (None, None),
    ],
)
async def test_an_answer_links_only_to_web_pages_relative_ones_on_the_store(
    database: Database, url: str | None, link: str | None
) -> None:
    async with database.session() as session:
        await webchat.update_settings(session, WidgetSettingsIn(store_url="https://shop.example/"))
        assert await entry_link(session, url, webchat.store_url) == link


async def test_without_a_store_address_a_relative_page_stays_relative(database: Database) -> None:
    async with database.session() as session:
        widget = await webchat.get_settings(session)
        widget.store_url = None
        assert await entry_link(session, "/products/basin-tent", webchat.store_url) == "/products/basin-tent"
