"""The relays: an agent's reply in Zendesk or Gorgias comes back through a webhook and reaches the shopper's chat.

The helpdesks are the fakes of tests/fakes, connected through the integrations API, so the signing secret and the
header secret are the ones frontdesk really keeps; the deliveries are the requests the fakes build, sent to the app
in process. Anything that cannot prove it came from the helpdesk, or came before, must change nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from frontdesk.app import create_app
from frontdesk.config import Settings
from frontdesk.handoff.connectors.base import TicketRequest
from frontdesk.handoff.connectors.gorgias import GorgiasConnector
from frontdesk.handoff.connectors.zendesk import ZendeskConnector
from frontdesk.handoff.models import RelayedComment
from frontdesk.outbox.models import OutboxItem
from frontdesk.realtime.bus import conversation_topic
from frontdesk.transcripts import service as conversations
from frontdesk.transcripts.models import Conversation, Message
from frontdesk.transcripts.state import Transition
from tests.fakes.gorgias import GorgiasFake
from tests.fakes.zendesk import ZendeskFake, webhook_signature
from tests.server import ADMIN_HEADERS

REPLY = "It ships today, tracking follows by email."
QUESTION = "what's the capital of peru?"


class Clock:
    """The app's clock, moved by the test; the fakes stamp deliveries with the wall clock, so it starts there."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Desk:
    app: FastAPI
    http: httpx.AsyncClient
    clock: Clock
    zendesk: ZendeskFake
    gorgias: GorgiasFake

    async def deliver(self, request: tuple[str, str, dict[str, str], bytes], **headers: str | None) -> httpx.Response:
        """Send a fake's webhook call to the app in process; `headers` replace (or, given None, drop) some."""
        _method, url, sent, body = request
        merged = {**sent, **{k: v for k, v in headers.items() if v is not None}}
        for name, value in headers.items():
            if value is None:
                merged.pop(name, None)
        # No admin token on this client: a delivery gets in by its signature or secret alone.
        return await self.http.post(httpx.URL(url).path, content=body, headers=merged)

    async def count(self, conversation_id: str) -> int:
        async with self.app.state.database.session() as session:
            total = await session.scalar(
                select(func.count()).select_from(Message).where(Message.conversation_id == conversation_id)
            )
            return int(total or 0)

    async def messages(self, conversation_id: str) -> list[Message]:
        async with self.app.state.database.session() as session:
            return await conversations.messages_after(session, conversation_id, 0)

    async def relayed(self) -> int:
        async with self.app.state.database.session() as session:
            return int(await session.scalar(select(func.count()).select_from(RelayedComment)) or 0)


@pytest.fixture
def zendesk() -> Iterator[ZendeskFake]:
    with ZendeskFake() as fake:
        yield fake


@pytest.fixture
def gorgias() -> Iterator[GorgiasFake]:
    with GorgiasFake() as fake:
        yield fake


@pytest.fixture
async def desk(settings: Settings, zendesk: ZendeskFake, gorgias: GorgiasFake) -> AsyncIterator[Desk]:
    # No in-process worker: nothing here is for it to deliver, and a pass it starts could outlive the test's app.
    urls = {"zendesk_url_template": zendesk.url_template, "gorgias_url_template": gorgias.url_template}
    settings = settings.model_copy(update={**urls, "run_worker": False})
    clock = Clock()
    app = create_app(settings, clock=clock)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield Desk(app, http, clock, zendesk, gorgias)


async def connect(desk: Desk, kind: str) -> None:
    fake = desk.zendesk if kind == "zendesk" else desk.gorgias
    if kind == "zendesk":
        form = {"subdomain": "juniper", "email": fake.email, "api_token": desk.zendesk.api_token}
    else:
        form = {"domain": "juniper", "email": fake.email, "api_key": desk.gorgias.api_key}
    response = await desk.http.post(f"/api/integrations/{kind}", json=form, headers=ADMIN_HEADERS)
    assert response.status_code == 201, response.text
    assert response.json()["reply_path"]["ready"], response.json()


async def handed_off(desk: Desk, kind: str, channel: str = "webchat") -> tuple[str, int]:
    """A conversation with the team, its ticket created in the fake helpdesk; (conversation id, ticket id)."""
    async with desk.app.state.database.session() as session:
        conversation = await conversations.create(session, channel, conversations.new_visitor_token())
        if channel == "webchat":
            await conversations.link_profile(session, conversation, email="ana@example.com")
        await conversations.insert_message(session, conversation, "shopper", QUESTION)
        conversation.handoff_reason, conversation.handoff_method = "the agent could not answer", kind
        await conversations.transition(session, conversation, Transition.hand_off, "shopper said yes", "shopper")
        await session.commit()
        conversation_id = conversation.id
    request = TicketRequest(
        conversation_id=conversation_id, subject=f"Chat handoff: {QUESTION}", text=QUESTION, html=f"<p>{QUESTION}</p>",
        email="ana@example.com", phone="+15555550100" if channel == "sms" else None,
        name="Ana", profile_id=None, channel=channel, reason="the agent could not answer", link="http://x/console",
    )  # fmt: skip
    if kind == "zendesk":
        connector: ZendeskConnector | GorgiasConnector = ZendeskConnector(
            "juniper", desk.zendesk.email, desk.zendesk.api_token, desk.zendesk.url_template
        )
    else:
        connector = GorgiasConnector("juniper", desk.gorgias.email, desk.gorgias.api_key, desk.gorgias.url_template)
    try:
        ref = await connector.create_ticket(request, f"test-{conversation_id}")
    finally:
        await connector.aclose()
    async with desk.app.state.database.session() as session:
        conversation = await conversations.get(session, conversation_id)
        conversation.ticket_ref = str(ref)
        await conversations.transition(session, conversation, Transition.ticket_created, str(ref), "worker")
        await session.commit()
    return conversation_id, int(ref.id)


@pytest.fixture
async def zendesk_ticket(desk: Desk) -> tuple[str, int]:
    await connect(desk, "zendesk")
    return await handed_off(desk, "zendesk")


def zendesk_reply(
    desk: Desk, ticket_id: int, body: str = REPLY, **kwargs: Any
) -> tuple[str, str, dict[str, str], bytes]:
    return desk.zendesk.agent_reply_request(ticket_id, body, **kwargs)


# -- Zendesk


async def test_signed_agent_reply_becomes_an_agent_message_published_to_the_chat(
    desk: Desk, zendesk_ticket: tuple[str, int]
) -> None:
    conversation_id, ticket_id = zendesk_ticket
    async with desk.app.state.bus.subscribe(conversation_topic(conversation_id)) as watching:
        response = await desk.deliver(zendesk_reply(desk, ticket_id))
        assert response.status_code == 200, response.text
        assert response.json()["result"] == "relayed"
        event = await asyncio.wait_for(watching.next(), 5)
    last = (await desk.messages(conversation_id))[-1]
    assert (last.author, last.text) == ("agent", REPLY)
    comment_id = desk.zendesk.ticket(ticket_id).comments[-1].id
    assert last.meta == {"source": "zendesk", "comment_id": str(comment_id), "ticket_id": str(ticket_id),
                         "agent": "Juniper Agent"}  # fmt: skip
    assert event["type"] == "message"
    assert (event["author"], event["text"], event["seq"]) == ("agent", REPLY, last.seq)


async def test_ids_sent_as_text_by_the_trigger_template_are_read(desk: Desk, zendesk_ticket: tuple[str, int]) -> None:
    """The real trigger renders placeholders into strings: "123", not 123."""
    conversation_id, ticket_id = zendesk_ticket
    body = (
        f'{{"ticket": {{"id": "{ticket_id}", "external_id": "{conversation_id}"}}, "comment": {{"id": "777", '
        f'"body": "{REPLY}", "is_public": "true", "author": {{"id": "1", "name": "Sam", "role": "Agent"}}}}}}'
    ).encode()
    stamp = desk.clock.now.strftime("%Y-%m-%dT%H:%M:%SZ")
    secret = desk.zendesk.webhooks[-1].signing_secret
    headers = {"Content-Type": "application/json", "X-Zendesk-Webhook-Signature-Timestamp": stamp,
               "X-Zendesk-Webhook-Signature": webhook_signature(secret, stamp, body)}  # fmt: skip
    response = await desk.deliver(("POST", "http://x/webhooks/zendesk", headers, body))
    assert response.json()["result"] == "relayed", response.text
    assert (await desk.messages(conversation_id))[-1].meta["agent"] == "Sam"


async def test_forged_signature_changes_nothing(desk: Desk, zendesk_ticket: tuple[str, int]) -> None:
    conversation_id, ticket_id = zendesk_ticket
    before = await desk.count(conversation_id)
    request = zendesk_reply(desk, ticket_id)
    stamp = request[2]["X-Zendesk-Webhook-Signature-Timestamp"]
    forged = webhook_signature("not-the-signing-secret", stamp, request[3])
    response = await desk.deliver(request, **{"X-Zendesk-Webhook-Signature": forged})
    assert response.status_code == 401
    assert await desk.count(conversation_id) == before
    assert await desk.relayed() == 0


async def test_tampered_body_changes_nothing(desk: Desk, zendesk_ticket: tuple[str, int]) -> None:
    conversation_id, ticket_id = zendesk_ticket
    before = await desk.count(conversation_id)
    response = await desk.deliver(zendesk_reply(desk, ticket_id, tamper=True))
    assert response.status_code == 401
    assert await desk.count(conversation_id) == before


@pytest.mark.parametrize(
    "dropped",
    [
        ["X-Zendesk-Webhook-Signature"],
        ["X-Zendesk-Webhook-Signature-Timestamp"],
        ["X-Zendesk-Webhook-Signature", "X-Zendesk-Webhook-Signature-Timestamp"],
    ],
)
async def test_missing_signature_headers_change_nothing(
    desk: Desk, zendesk_ticket: tuple[str, int], dropped: list[str]
) -> None:
    conversation_id, ticket_id = zendesk_ticket
    before = await desk.count(conversation_id)
    response = await desk.deliver(zendesk_reply(desk, ticket_id), **dict.fromkeys(dropped))
    assert response.status_code == 401
    assert await desk.count(conversation_id) == before


@pytest.mark.parametrize("off_by", [timedelta(minutes=-6), timedelta(minutes=6), timedelta(days=-1)])
async def test_correctly_signed_but_stale_or_future_timestamp_changes_nothing(
    desk: Desk, zendesk_ticket: tuple[str, int], off_by: timedelta
) -> None:
    conversation_id, ticket_id = zendesk_ticket
    before = await desk.count(conversation_id)
    response = await desk.deliver(zendesk_reply(desk, ticket_id, timestamp=desk.clock.now + off_by))
    assert response.status_code == 401
    assert await desk.count(conversation_id) == before


async def test_timestamp_within_the_window_is_accepted(desk: Desk, zendesk_ticket: tuple[str, int]) -> None:
    _conversation_id, ticket_id = zendesk_ticket
    response = await desk.deliver(zendesk_reply(desk, ticket_id, timestamp=desk.clock.now - timedelta(minutes=4)))
    assert response.json()["result"] == "relayed"


async def test_replayed_delivery_adds_nothing(desk: Desk, zendesk_ticket: tuple[str, int]) -> None:
    conversation_id, ticket_id = zendesk_ticket
    request = zendesk_reply(desk, ticket_id)
    assert (await desk.deliver(request)).json()["result"] == "relayed"
    after_first = await desk.count(conversation_id)

    again = await desk.deliver(request)  # the same bytes, within the window: a replay
    assert again.status_code == 200
    assert again.json()["result"] == "duplicate"
    comment_id = desk.zendesk.ticket(ticket_id).comments[-1].id
    retried = await desk.deliver(zendesk_reply(desk, ticket_id, comment_id=comment_id))  # Zendesk's own retry
    assert retried.json()["result"] == "duplicate"
    assert await desk.count(conversation_id) == after_first
    assert await desk.relayed() == 1


async def test_concurrent_deliveries_of_one_comment_make_one_message(
    desk: Desk, zendesk_ticket: tuple[str, int]
) -> None:
    conversation_id, ticket_id = zendesk_ticket
    before = await desk.count(conversation_id)
    request = zendesk_reply(desk, ticket_id)
    answers = await asyncio.gather(*(desk.deliver(request) for _ in range(4)))
    assert sorted(a.json()["result"] for a in answers) == ["duplicate"] * 3 + ["relayed"]
    assert await desk.count(conversation_id) == before + 1


async def test_internal_note_is_ignored(desk: Desk, zendesk_ticket: tuple[str, int]) -> None:
    conversation_id, ticket_id = zendesk_ticket
    before = await desk.count(conversation_id)
    response = await desk.deliver(zendesk_reply(desk, ticket_id, "Customer seems upset, be gentle", public=False))
    assert response.status_code == 200
    assert response.json()["result"] == "ignored"
    assert await desk.count(conversation_id) == before


async def test_ticket_that_is_not_one_of_our_conversations_is_answered_200_and_ignored(desk: Desk) -> None:
    await connect(desk, "zendesk")
    connector = ZendeskConnector("juniper", desk.zendesk.email, desk.zendesk.api_token, desk.zendesk.url_template)
    request = TicketRequest(
        conversation_id="conv_0000000000000000", subject="Elsewhere", text="hi", html="<p>hi</p>",
        email="b@example.com", phone=None, name="B", profile_id=None, channel="webchat", reason="-", link="http://x",
    )  # fmt: skip
    try:
        ref = await connector.create_ticket(request, "test-unknown")
    finally:
        await connector.aclose()
    response = await desk.deliver(zendesk_reply(desk, int(ref.id)))
    assert response.status_code == 200
    assert response.json()["result"] == "ignored"
    assert await desk.relayed() == 0


async def test_an_agent_reply_with_the_shoppers_own_words_reaches_the_chat(
    desk: Desk, zendesk_ticket: tuple[str, int]
) -> None:
    """The shopper writes "Yes", the agent answers "yes": an agent's reply, however like the shopper's it reads.
    (frontdesk's own comments, sent back by the trigger, are known by their comment id: see test_delivery.py.)"""
    conversation_id, ticket_id = zendesk_ticket
    async with desk.app.state.database.session() as session:
        conversation = await conversations.get(session, conversation_id)
        await conversations.insert_message(session, conversation, "shopper", "Yes")
        await session.commit()

    async with desk.app.state.bus.subscribe(conversation_topic(conversation_id)) as watching:
        response = await desk.deliver(zendesk_reply(desk, ticket_id, "yes"))
        event = await asyncio.wait_for(watching.next(), 5)

    assert response.json()["result"] == "relayed", response.text
    assert (event["author"], event["text"]) == ("agent", "yes")
    last = (await desk.messages(conversation_id))[-1]
    assert (last.author, last.text) == ("agent", "yes")


async def test_a_signed_body_nested_thousands_deep_is_a_400(desk: Desk, zendesk_ticket: tuple[str, int]) -> None:
    conversation_id, _ = zendesk_ticket
    before = await desk.count(conversation_id)
    body = b"[" * 200_000 + b"]" * 200_000
    stamp = desk.clock.now.strftime("%Y-%m-%dT%H:%M:%SZ")
    secret = desk.zendesk.webhooks[-1].signing_secret
    headers = {"Content-Type": "application/json", "X-Zendesk-Webhook-Signature-Timestamp": stamp,
               "X-Zendesk-Webhook-Signature": webhook_signature(secret, stamp, body)}  # fmt: skip

    response = await desk.deliver(("POST", "http://x/webhooks/zendesk", headers, body))

    assert response.status_code == 400
    assert "nested too deeply" in response.json()["detail"]
    assert await desk.count(conversation_id) == before


async def test_reply_to_a_shopper_who_left_the_chat_is_also_queued_by_email(
    desk: Desk, zendesk_ticket: tuple[str, int]
) -> None:
    conversation_id, ticket_id = zendesk_ticket
    seq = (await desk.deliver(zendesk_reply(desk, ticket_id))).json()["seq"]
    async with desk.app.state.database.session() as session:
        kinds = await session.scalars(select(OutboxItem.kind).where(OutboxItem.conversation_id == conversation_id))
        assert f"reply_email:{seq}" in kinds.all()


async def test_zendesk_webhook_answers_404_while_zendesk_is_not_connected(desk: Desk) -> None:
    response = await desk.http.post("/webhooks/zendesk", content=b"{}")
    assert response.status_code == 404


# -- Gorgias


@pytest.fixture
async def gorgias_connected(desk: Desk) -> None:
    await connect(desk, "gorgias")


async def test_gorgias_agent_message_on_an_sms_ticket_becomes_an_agent_message(
    desk: Desk, gorgias_connected: None
) -> None:
    conversation_id, ticket_id = await handed_off(desk, "gorgias", channel="sms")
    response = await desk.deliver(desk.gorgias.agent_message_request(ticket_id, REPLY))
    assert response.status_code == 200, response.text
    assert response.json()["result"] == "relayed"
    last = (await desk.messages(conversation_id))[-1]
    assert (last.author, last.text, last.meta["source"]) == ("agent", REPLY, "gorgias")


async def test_gorgias_reply_to_a_web_chat_is_recorded_not_shown_in_the_ended_chat(
    desk: Desk, gorgias_connected: None
) -> None:
    conversation_id, ticket_id = await handed_off(desk, "gorgias")
    before = await desk.count(conversation_id)
    request = desk.gorgias.agent_message_request(ticket_id, REPLY)
    response = await desk.deliver(request)
    assert response.json()["result"] == "recorded"
    assert (await desk.deliver(request)).json()["result"] == "duplicate"
    assert await desk.count(conversation_id) == before
    assert await desk.relayed() == 1


@pytest.mark.parametrize("secret", ["wrong", "", None])
async def test_gorgias_wrong_or_missing_secret_changes_nothing(
    desk: Desk, gorgias_connected: None, secret: str | None
) -> None:
    conversation_id, ticket_id = await handed_off(desk, "gorgias", channel="sms")
    before = await desk.count(conversation_id)
    headers = {} if secret is None else {"X-Frontdesk-Secret": secret}
    request = desk.gorgias.agent_message_request(ticket_id, REPLY, integration_headers=headers)
    response = await desk.deliver(request)
    assert response.status_code == 401
    assert await desk.count(conversation_id) == before
    assert await desk.relayed() == 0


async def test_gorgias_replayed_message_adds_nothing(desk: Desk, gorgias_connected: None) -> None:
    conversation_id, ticket_id = await handed_off(desk, "gorgias", channel="sms")
    request = desk.gorgias.agent_message_request(ticket_id, REPLY)
    assert (await desk.deliver(request)).json()["result"] == "relayed"
    after_first = await desk.count(conversation_id)
    assert (await desk.deliver(request)).json()["result"] == "duplicate"
    assert await desk.count(conversation_id) == after_first


async def test_gorgias_webhook_answers_404_while_gorgias_is_not_connected(desk: Desk) -> None:
    response = await desk.http.post("/webhooks/gorgias", content=b"{}", headers={"X-Frontdesk-Secret": "x"})
    assert response.status_code == 404


async def test_conversation_rows_are_untouched_by_refused_deliveries(
    desk: Desk, zendesk_ticket: tuple[str, int]
) -> None:
    """The conversation itself (status, last activity, version) is not written by a refused delivery either."""
    conversation_id, ticket_id = zendesk_ticket
    async with desk.app.state.database.session() as session:
        before = await session.get(Conversation, conversation_id)
        assert before is not None
        version = before.version
    await desk.deliver(zendesk_reply(desk, ticket_id, tamper=True))
    await desk.deliver(zendesk_reply(desk, ticket_id, timestamp=desk.clock.now - timedelta(hours=1)))
    async with desk.app.state.database.session() as session:
        after = await session.get(Conversation, conversation_id)
        assert after is not None and after.version == version
