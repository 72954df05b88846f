"""The Zendesk and Gorgias clients against the fake helpdesks (tests/fakes), and the built-in inbox behind the same
interface: a ticket carries the whole transcript, a retry never makes a second ticket, and every failure comes out as
an error the outbox worker can act on (retry, when, or surface it)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
from sqlalchemy import func, select

from frontdesk.db import Database
from frontdesk.handoff.connectors.base import (
    AuthFailed,
    Connector,
    ConnectorError,
    NetworkError,
    RateLimited,
    Rejected,
    TicketRef,
    TicketRequest,
)
from frontdesk.handoff.connectors.builtin import BuiltinConnector
from frontdesk.handoff.connectors.gorgias import SECRET_HEADER, GorgiasConnector
from frontdesk.handoff.connectors.zendesk import ZendeskConnector
from frontdesk.inbox.models import InboxTicket
from frontdesk.transcripts import service as conversations
from frontdesk.transcripts.transcript import TranscriptLine, render
from tests.fakes.gorgias import GorgiasFake
from tests.fakes.zendesk import ZendeskFake

QUICK = httpx.Timeout(1.0)  # the fakes hold a "timeout" request for much longer than this
AT = datetime(2026, 1, 2, 10, 1, 3, tzinfo=UTC)


def ticket_request(conversation_id: str = "conv_8f2c", channel: str = "webchat") -> TicketRequest:
    lines = [
        TranscriptLine(AT, "shopper", "Where is my order #1042?"),
        TranscriptLine(AT + timedelta(seconds=2), "ai", "I'm not sure I can answer that."),
        TranscriptLine(AT + timedelta(seconds=9), "shopper", "Talk to a <human> please & thanks"),
    ]
    link = f"https://shop.example/console#{conversation_id}"
    ticket = render(conversation_id=conversation_id, channel=channel, reason="unknown", email="ana@example.com",
                    phone=None, profile_id="prof_7", link=link, lines=lines)  # fmt: skip
    return TicketRequest(
        conversation_id=conversation_id, subject=ticket.subject, text=ticket.text, html=ticket.html,
        email="ana@example.com", phone=None, name="Ana Silva", profile_id="prof_7", channel=channel,
        reason="unknown", link=link,
    )  # fmt: skip


@pytest.fixture
def fake_zendesk() -> Iterator[ZendeskFake]:
    with ZendeskFake() as fake:
        yield fake


@pytest.fixture
def fake_gorgias() -> Iterator[GorgiasFake]:
    with GorgiasFake() as fake:
        yield fake


@pytest.fixture
async def zendesk(fake_zendesk: ZendeskFake) -> AsyncIterator[ZendeskConnector]:
    connector = ZendeskConnector("juniper", "agent@juniper.example", "zd-test-token", fake_zendesk.url_template,
                                 timeout=QUICK)  # fmt: skip
    yield connector
    await connector.aclose()


@pytest.fixture
async def gorgias(fake_gorgias: GorgiasFake) -> AsyncIterator[GorgiasConnector]:
    connector = GorgiasConnector("juniper", "agent@juniper.example", "gg-test-key", fake_gorgias.url_template,
                                 timeout=QUICK)  # fmt: skip
    yield connector
    await connector.aclose()


def test_every_connector_has_the_one_interface() -> None:
    zendesk = ZendeskConnector("juniper", "a@b.example", "t")
    gorgias = GorgiasConnector("juniper", "a@b.example", "k")
    assert isinstance(zendesk, Connector) and isinstance(gorgias, Connector)
    assert isinstance(BuiltinConnector(None), Connector)  # type: ignore[arg-type]  # never called here


# -- Zendesk


async def test_zendesk_verify_names_the_tokens_user(zendesk: ZendeskConnector) -> None:
    account = await zendesk.verify()
    assert account.email == "agent@juniper.example"
    assert account.id


async def test_zendesk_ticket_carries_the_whole_transcript_as_an_internal_note(
    zendesk: ZendeskConnector, fake_zendesk: ZendeskFake
) -> None:
    request = ticket_request()
    ref = await zendesk.create_ticket(request, "handoff-1")

    assert ref.target == "zendesk"
    sent = fake_zendesk.requests_to("POST", "/api/v2/tickets.json")[-1]
    assert sent.headers["idempotency-key"] == "handoff-1"
    ticket = sent.json()["ticket"]
    assert ticket["external_id"] == "conv_8f2c"
    assert ticket["requester"] == {"name": "Ana Silva", "email": "ana@example.com"}
    assert {"ai_handoff", "webchat"} <= set(ticket["tags"])
    assert ticket["comment"]["public"] is False
    html = ticket["comment"]["html_body"]
    assert html == request.html
    for fact in ("2026-01-02T10:01:03Z Shopper", "2026-01-02T10:01:05Z AI", "2026-01-02T10:01:12Z Shopper",
                 "prof_7", "ana@example.com", "unknown", "https://shop.example/console#conv_8f2c"):  # fmt: skip
        assert fact in html
    assert "&lt;human&gt; please &amp; thanks" in html
    assert len(fake_zendesk.tickets) == 1


async def test_zendesk_shopper_known_only_by_phone_is_made_an_end_user_and_the_tickets_requester(
    zendesk: ZendeskConnector, fake_zendesk: ZendeskFake
) -> None:
    # An SMS shopper with no email and no profile: a ticket's inline requester needs an email, so a user comes first.
    request = replace(ticket_request(channel="sms"), email=None, phone="+14155550123", name=None, profile_id=None)
    ref = await zendesk.create_ticket(request, "handoff-1")

    [upsert] = fake_zendesk.requests_to("POST", "/api/v2/users/create_or_update.json")
    assert upsert.json() == {"user": {"name": "+14155550123", "phone": "+14155550123",
                                      "external_id": "phone:+14155550123", "role": "end-user"}}  # fmt: skip
    user = fake_zendesk.user_by_external_id("phone:+14155550123")
    assert user is not None and user.phone == "+14155550123" and user.email is None
    ticket = fake_zendesk.requests_to("POST", "/api/v2/tickets.json")[-1].json()["ticket"]
    assert ticket["requester_id"] == user.id and "requester" not in ticket
    assert fake_zendesk.ticket(int(ref.id)).requester_id == user.id

    # A retry makes neither a second user nor a second ticket; the shopper's next text is a comment by that user.
    again = await zendesk.create_ticket(request, "handoff-1")
    assert again == ref and len(fake_zendesk.tickets) == 1
    assert [u.id for u in fake_zendesk.users if u.external_id == "phone:+14155550123"] == [user.id]
    await zendesk.add_message(ref, "hello?", request)
    assert fake_zendesk.ticket(int(ref.id)).comments[-1].author_id == user.id

    # A known profile keys the user instead, and a name names it.
    profiled = replace(request, conversation_id="conv_9", name="Ana", profile_id="prof_7")
    await zendesk.create_ticket(profiled, "handoff-2")
    assert fake_zendesk.requests_to("POST", "/api/v2/users/create_or_update.json")[-1].json()["user"] == {
        "name": "Ana", "phone": "+14155550123", "external_id": "prof_7", "role": "end-user"
    }  # fmt: skip


async def test_zendesk_replayed_idempotency_key_creates_no_second_ticket(
    zendesk: ZendeskConnector, fake_zendesk: ZendeskFake
) -> None:
    first = await zendesk.create_ticket(ticket_request(), "handoff-1")
    again = await zendesk.create_ticket(ticket_request(), "handoff-1")
    assert again == first
    assert len(fake_zendesk.tickets) == 1


async def test_zendesk_retry_after_a_lost_answer_finds_the_ticket_instead_of_making_another(
    zendesk: ZendeskConnector, fake_zendesk: ZendeskFake
) -> None:
    # The ticket is made, but the answer never arrives: the worker cannot know, so it retries with search_first.
    fake_zendesk.fail_next("reset", after_commit=True, method="POST", path="/api/v2/tickets")
    with pytest.raises(NetworkError) as lost:
        await zendesk.create_ticket(ticket_request(), "handoff-1")
    assert lost.value.retryable

    found = await zendesk.create_ticket(ticket_request(), "handoff-1-retry", search_first=True)

    assert len(fake_zendesk.tickets) == 1
    assert found == TicketRef(str(fake_zendesk.tickets[0].id), "zendesk")
    assert not fake_zendesk.requests_to("POST", "/api/v2/tickets.json")[1:], "searched, not created again"


async def test_zendesk_bad_token_is_auth_failed_and_not_retried(fake_zendesk: ZendeskFake) -> None:
    connector = ZendeskConnector("juniper", "agent@juniper.example", "wrong", fake_zendesk.url_template, timeout=QUICK)
    try:
        with pytest.raises(AuthFailed) as failed:
            await connector.verify()
        with pytest.raises(AuthFailed):
            await connector.create_ticket(ticket_request(), "handoff-1")
    finally:
        await connector.aclose()
    assert not failed.value.retryable
    assert "wrong" not in str(failed.value)
    assert not fake_zendesk.tickets


async def test_zendesk_429_is_rate_limited_with_retry_after(
    zendesk: ZendeskConnector, fake_zendesk: ZendeskFake
) -> None:
    fake_zendesk.fail_next("429", path="/api/v2/tickets")
    with pytest.raises(RateLimited) as limited:
        await zendesk.create_ticket(ticket_request(), "handoff-1")
    assert limited.value.retryable
    assert limited.value.retry_after is not None and limited.value.retry_after >= 1
    assert not fake_zendesk.tickets


@pytest.mark.parametrize("fault", ["5xx", "timeout", "reset"])
async def test_zendesk_server_errors_timeouts_and_resets_are_retryable(
    zendesk: ZendeskConnector, fake_zendesk: ZendeskFake, fault: str
) -> None:
    fake_zendesk.fail_next(fault, path="/api/v2/tickets")  # type: ignore[arg-type]  # a FaultKind
    with pytest.raises(ConnectorError) as failed:
        await zendesk.create_ticket(ticket_request(), "handoff-1")
    assert failed.value.retryable
    ref = await zendesk.create_ticket(ticket_request(), "handoff-1", search_first=True)  # the fault is gone
    assert ref.id and len(fake_zendesk.tickets) == 1


async def test_zendesk_later_shopper_message_is_a_public_comment_by_the_requester(
    zendesk: ZendeskConnector, fake_zendesk: ZendeskFake
) -> None:
    ref = await zendesk.create_ticket(ticket_request(), "handoff-1")
    comment_id = await zendesk.add_message(ref, "Also, can I change the address?", ticket_request())

    update = fake_zendesk.requests_to("PUT", f"/api/v2/tickets/{ref.id}.json")[-1].json()["ticket"]["comment"]
    assert update["body"] == "Also, can I change the address?"
    assert update["public"] is True
    ticket = fake_zendesk.requests_to("GET", f"/api/v2/tickets/{ref.id}.json")[-1]
    assert ticket.status == 200
    assert update["author_id"] is not None
    added = fake_zendesk.ticket(int(ref.id)).comments[-1]
    assert comment_id == str(added.id)  # the trigger sends our own comment back with this id


async def test_zendesk_reply_path_is_a_webhook_a_trigger_calls_and_its_signing_secret(
    zendesk: ZendeskConnector, fake_zendesk: ZendeskFake
) -> None:
    path = await zendesk.set_up_replies("https://frontdesk.example/webhooks/zendesk", "unused")

    assert path.automatic and path.secret
    webhook = fake_zendesk.requests_to("POST", "/api/v2/webhooks")[-1].json()["webhook"]
    assert webhook["endpoint"] == "https://frontdesk.example/webhooks/zendesk"
    assert webhook["subscriptions"] == ["conditional_ticket_events"]
    trigger = fake_zendesk.requests_to("POST", "/api/v2/triggers.json")[-1].json()["trigger"]
    conditions = {(c["field"], c["value"]) for c in trigger["conditions"]["all"]}
    assert {("comment_is_public", "true"), ("role", "agent"), ("current_tags", "ai_handoff")} <= conditions
    action = trigger["actions"][0]
    assert action["field"] == "notification_webhook" and action["value"][0] == path.details["webhook_id"]


# -- Gorgias


async def test_gorgias_web_chat_ticket_is_an_email_ticket_with_the_whole_transcript(
    gorgias: GorgiasConnector, fake_gorgias: GorgiasFake
) -> None:
    request = ticket_request()
    ref = await gorgias.create_ticket(request, "handoff-1")

    assert ref.target == "gorgias"
    body = fake_gorgias.requests_to("POST", "/api/tickets")[-1].json()
    assert body["channel"] == "email" and body["external_id"] == "conv_8f2c"
    assert {"name": "ai_handoff"} in body["tags"]
    [message] = body["messages"]
    assert message["from_agent"] is False and message["channel"] == "email"
    assert message["body_html"] == request.html and message["body_text"] == request.text
    assert "[2026-01-02T10:01:12Z] Shopper: Talk to a <human> please & thanks" in message["body_text"]
    assert len(fake_gorgias.tickets) == 1


async def test_gorgias_second_attempt_finds_the_ticket_instead_of_making_another(
    gorgias: GorgiasConnector, fake_gorgias: GorgiasFake
) -> None:
    fake_gorgias.fail_next("timeout", after_commit=True, method="POST", path="/api/tickets")
    with pytest.raises(NetworkError):
        await gorgias.create_ticket(ticket_request(), "handoff-1")
    first = await gorgias.create_ticket(ticket_request(), "handoff-1", search_first=True)
    again = await gorgias.create_ticket(ticket_request(), "handoff-1")
    assert first == again
    assert len(fake_gorgias.tickets) == 1


async def test_gorgias_bad_key_is_auth_failed_and_not_retried(fake_gorgias: GorgiasFake) -> None:
    connector = GorgiasConnector("juniper", "agent@juniper.example", "wrong", fake_gorgias.url_template, timeout=QUICK)
    try:
        with pytest.raises(AuthFailed) as failed:
            await connector.verify()
    finally:
        await connector.aclose()
    assert not failed.value.retryable


async def test_gorgias_429_is_rate_limited_with_retry_after(
    gorgias: GorgiasConnector, fake_gorgias: GorgiasFake
) -> None:
    fake_gorgias.fail_next("429")
    with pytest.raises(RateLimited) as limited:
        await gorgias.create_ticket(ticket_request(), "handoff-1")
    assert limited.value.retry_after is not None and limited.value.retry_after >= 1


async def test_gorgias_later_shopper_message_comes_from_the_customer(
    gorgias: GorgiasConnector, fake_gorgias: GorgiasFake
) -> None:
    ref = await gorgias.create_ticket(ticket_request(), "handoff-1")
    message_id = await gorgias.add_message(ref, "Also, can I change the address?", ticket_request())
    assert message_id is not None and message_id.isdigit()
    message = fake_gorgias.requests_to("POST", f"/api/tickets/{ref.id}/messages")[-1].json()
    assert message["from_agent"] is False
    assert message["body_text"] == "Also, can I change the address?"
    assert message["sender"]["email"] == "ana@example.com"


async def test_gorgias_reply_path_is_an_http_integration_carrying_our_secret(
    gorgias: GorgiasConnector, fake_gorgias: GorgiasFake
) -> None:
    path = await gorgias.set_up_replies("https://frontdesk.example/webhooks/gorgias", "our-secret")
    assert path.automatic and path.secret == "our-secret"
    integration = fake_gorgias.requests_to("POST", "/api/integrations")[-1].json()
    assert integration["type"] == "http"
    assert integration["http"]["url"] == "https://frontdesk.example/webhooks/gorgias"
    assert integration["http"]["headers"] == {SECRET_HEADER: "our-secret"}
    assert integration["http"]["triggers"]["ticket-message-created"] is True


# -- the built-in inbox


async def test_builtin_connector_opens_the_conversations_one_inbox_ticket(database: Database) -> None:
    async with database.session() as session:
        conversation = await conversations.create(session, channel="webchat")
        await session.commit()
    connector = BuiltinConnector(database.sessions)
    request = ticket_request(conversation.id)
    first = await connector.create_ticket(request, "handoff-1")
    again = await connector.create_ticket(request, "handoff-1", search_first=True)
    assert first == again and str(first).startswith("inbox-")
    async with database.session() as session:
        assert await session.scalar(select(func.count()).select_from(InboxTicket)) == 1


# -- answers the fakes do not give: parsed defensively all the same


def _mock(handler: httpx.MockTransport) -> ZendeskConnector:
    return ZendeskConnector("juniper", "agent@juniper.example", "zd-test-token", "http://zendesk.test",
                            transport=handler)  # fmt: skip


async def test_plain_text_401_is_auth_failed() -> None:
    connector = _mock(httpx.MockTransport(lambda _: httpx.Response(401, text="Couldn't authenticate you")))
    with pytest.raises(AuthFailed, match="Couldn't authenticate you"):
        await connector.verify()


async def test_retry_after_as_an_http_date_is_honoured() -> None:
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    connector = _mock(httpx.MockTransport(lambda _: httpx.Response(429, headers={"Retry-After": later})))
    with pytest.raises(RateLimited) as limited:
        await connector.verify()
    assert limited.value.retry_after is not None and 100 < limited.value.retry_after <= 120


async def test_validation_error_is_rejected_with_zendesks_details() -> None:
    problem = {"description": "Requester: Email is invalid", "error": "InvalidValue"}
    body = {"error": "RecordInvalid", "description": "Record validation errors", "details": {"requester": [problem]}}
    connector = _mock(httpx.MockTransport(lambda _: httpx.Response(422, json=body)))
    with pytest.raises(Rejected) as rejected:
        await connector.create_ticket(ticket_request(), "handoff-1")
    assert not rejected.value.retryable
    assert "Requester: Email is invalid" in str(rejected.value)


async def test_anonymous_user_from_users_me_is_auth_failed() -> None:
    anonymous = {"user": {"id": None, "name": "Anonymous user", "role": "end-user"}}
    connector = _mock(httpx.MockTransport(lambda _: httpx.Response(200, json=anonymous)))
    with pytest.raises(AuthFailed):
        await connector.verify()
