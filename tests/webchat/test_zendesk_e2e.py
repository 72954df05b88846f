"""Zendesk end to end, from the shopper's widget: an unknown question, Yes, an email address; a Zendesk ticket with
the whole transcript; an agent's public reply in Zendesk, delivered by its signed webhook, appears in the widget.

The Zendesk here is tests/fakes/zendesk.py, a real HTTP server the real `frontdesk serve` talks to (the outbox worker
creates the ticket; the fake calls the webhook frontdesk registered when it was connected).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import TypeVar

import pytest
from playwright.sync_api import Page, expect

from frontdesk.transcripts.transcript import iso
from tests.fakes.smtp import SmtpServer
from tests.fakes.zendesk import ZendeskFake, ZendeskTicket
from tests.server import ServerFailed, running_server
from tests.webchat.conftest import Server
from tests.webchat.test_widget import TEAM_NOTICE_MS, UNKNOWN, YES, Chat

T = TypeVar("T")
SHOPPER = "zendesk-shopper@example.com"
REPLY = "Lima is the capital of Peru — and your order ships today."
LATER_REPLY = "One more thing: tracking is on its way by email."
ISO_SECOND = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")


@pytest.fixture(scope="module")
def zendesk() -> Iterator[ZendeskFake]:
    with ZendeskFake() as fake:
        yield fake


@pytest.fixture(scope="module")
def server(
    zendesk: ZendeskFake, database_url_for_module: str, tmp_path_factory: pytest.TempPathFactory, smtp: SmtpServer
) -> Iterator[Server]:
    """conftest's server, pointed at the fake Zendesk (started first, so its address is known)."""
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    env = {
        "FRONTDESK_RATE_IP_CONVERSATIONS_PER_MINUTE": "1000",
        "FRONTDESK_RATE_IP_MESSAGES_PER_MINUTE": "1000",
        "FRONTDESK_ZENDESK_URL_TEMPLATE": zendesk.url_template,
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


def wait_for(page: Page, what: str, check: Callable[[], T | None], timeout_ms: int = TEAM_NOTICE_MS) -> T:
    """Poll `check` until it gives a value. Waiting through Playwright keeps the page's socket events flowing."""
    deadline = time.monotonic() + timeout_ms / 1000
    while (value := check()) is None:
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        page.wait_for_timeout(100)
    return value


def test_zendesk_ticket_carries_the_transcript_and_the_agents_reply_reaches_the_widget(
    page: Page, server: Server, zendesk: ZendeskFake
) -> None:
    connected = server.api(
        "POST", "/api/integrations/zendesk",
        json={"subdomain": zendesk.subdomain, "email": zendesk.email, "api_token": zendesk.api_token},
    )  # fmt: skip
    assert connected["reply_path"] == {"automatic": True, "ready": True, "error": None, "manual_steps_url": None}
    server.api("PUT", "/api/settings/handoff", json={"method": "zendesk"})

    chat = Chat(page, server).open()
    chat.ask(UNKNOWN)
    chat.offer().get_by_role("button", name=YES).click()
    chat.give_email(SHOPPER)
    conversation_id = chat.conversation_id

    # The worker delivers the handoff: exactly one ticket, found by the conversation id frontdesk gave it.
    def the_ticket() -> ZendeskTicket | None:
        return zendesk.ticket_by_external_id(conversation_id)

    ticket = wait_for(page, "the Zendesk ticket", the_ticket)
    assert len(zendesk.tickets_with_external_id(conversation_id)) == 1
    wait_for(page, "with_team", lambda: "yes" if "with_team" in chat.statuses() else None)
    assert len(zendesk.tickets_with_external_id(conversation_id)) == 1
    conversation = server.api("GET", f"/api/conversations/{conversation_id}")
    question = next(m for m in conversation["messages"] if m["author"] == "shopper" and m["text"] == UNKNOWN)
    transcript = ticket.comments[0]
    assert not transcript.public  # an internal note: Zendesk does not email the shopper their own chat
    assert UNKNOWN in transcript.body
    assert SHOPPER in transcript.body
    assert iso(_parse(question["at"])) in transcript.body  # the question's own time, not the ticket's
    assert len(ISO_SECOND.findall(transcript.body)) >= 3  # every line of the transcript is timestamped

    # An agent answers publicly in Zendesk; its trigger calls frontdesk's webhook, signed.
    answer = zendesk.send_agent_reply(ticket.id, REPLY)
    assert answer.status_code == 200, answer.text
    expect(chat.messages("agent")).to_have_count(1)
    expect(chat.messages("agent")).to_contain_text(REPLY)

    # Zendesk retries a delivery it thinks failed: the shopper still sees the reply once.
    comment_id = zendesk.ticket(ticket.id).comments[-1].id
    assert zendesk.send_agent_reply(ticket.id, REPLY, comment_id=comment_id).json()["result"] == "duplicate"

    # The shopper leaves; a reply sent meanwhile is in the chat when they come back (the catch-up on reconnect).
    page.goto("about:blank")
    assert zendesk.send_agent_reply(ticket.id, LATER_REPLY).json()["result"] == "relayed"
    chat.open()
    expect(chat.messages("agent")).to_have_count(2)
    expect(chat.messages("agent").last).to_contain_text(LATER_REPLY)
    expect(chat.log).to_contain_text(UNKNOWN)
    assert len(zendesk.tickets_with_external_id(conversation_id)) == 1


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
