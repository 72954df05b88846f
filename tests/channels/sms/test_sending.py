"""Texts out through Twilio, against the fake Twilio (a real HTTP server): connecting the account, an `sms:<seq>`
outbox row texted once with its message, never a text to a number that opted out (ours or Twilio's 21610), a 429
retried no sooner than Retry-After, and status callbacks taken only when Twilio's signature proves them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import select

from frontdesk import credentials as stored
from frontdesk.app import create_app
from frontdesk.channels.service import every_channel
from frontdesk.channels.sms import sending
from frontdesk.channels.sms.models import SmsMessage, SmsSuppression, SmsThread
from frontdesk.config import Settings
from frontdesk.credentials import Integration
from frontdesk.db import Database
from frontdesk.handoff.deliveries import outbox_worker
from frontdesk.inbox.service import Presence
from frontdesk.integrations import service as integrations
from frontdesk.integrations.schemas import TwilioConnectIn
from frontdesk.outbox.models import OutboxItem
from frontdesk.outbox.worker import OutboxWorker
from frontdesk.realtime.bus import EventBus
from frontdesk.transcripts import service as conversations
from frontdesk.vault import Vault
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, TwilioFake
from tests.server import TEST_SECRET_KEY

PUBLIC_URL = "https://support.shop.example"
SHOPPER = "+14155550123"
ANSWER = "Orders ship within 2 business days. Track yours: https://shop.example/track"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Shop:
    """A store whose SMS conversations are texted through the fake Twilio by an outbox worker on a fake clock."""

    database: Database
    settings: Settings
    clock: Clock
    vault: Vault

    def worker(self) -> OutboxWorker:
        return outbox_worker(
            self.database.sessions, EventBus(), Presence(), self.clock, asyncio.Event(),
            vault=self.vault, settings=self.settings, worker_id="worker-1", request_timeout=2.0, jitter=lambda: 0.5,
            channels=every_channel(self.database.sessions, self.clock, self.settings, self.vault),
        )  # fmt: skip

    async def connect(self) -> None:
        form = TwilioConnectIn(account_sid=ACCOUNT_SID, auth_token=SecretStr(AUTH_TOKEN), from_number=FROM_NUMBER)
        async with self.database.session() as session:
            await integrations.connect_twilio(session, form, self.vault, self.settings)

    async def answered(self, phone: str = SHOPPER, text: str = ANSWER) -> tuple[str, int]:
        """A shopper texted a question and the AI's answer is queued as a text, as the SMS flow does it."""
        async with self.database.session() as session:
            conversation = await conversations.create(session, "sms")
            await session.merge(SmsThread(phone=phone, conversation_id=conversation.id))  # the newest conversation
            await conversations.insert_message(session, conversation, "shopper", "When does my order ship?")
            answer = await conversations.insert_message(session, conversation, "ai", text)
            await sending.enqueue_sms(session, conversation.id, answer.seq, self.clock())
            await session.commit()
            return conversation.id, answer.seq

    async def row(self, conversation_id: str, seq: int) -> OutboxItem:
        async with self.database.session() as session:
            item = await session.scalar(
                select(OutboxItem).where(
                    OutboxItem.conversation_id == conversation_id, OutboxItem.kind == sending.sms_kind(seq)
                )
            )
            assert item is not None
            return item

    async def texts_out(self) -> list[SmsMessage]:
        async with self.database.session() as session:
            return list((await session.scalars(select(SmsMessage).where(SmsMessage.direction == "out"))).all())

    async def suppression(self, phone: str) -> SmsSuppression | None:
        async with self.database.session() as session:
            return await session.get(SmsSuppression, phone)


@pytest.fixture
def fake_twilio() -> Iterator[TwilioFake]:
    with TwilioFake() as fake:
        yield fake


@pytest.fixture
def settings(settings: Settings, fake_twilio: TwilioFake) -> Settings:
    return settings.model_copy(
        update={"twilio_api_base": fake_twilio.base_url, "public_url": PUBLIC_URL, "run_worker": False}
    )


@pytest.fixture
def shop(database: Database, settings: Settings) -> Shop:
    return Shop(database, settings, Clock(), Vault(TEST_SECRET_KEY))


async def test_connecting_twilio_with_a_wrong_auth_token_saves_nothing_and_says_why(
    client: httpx.AsyncClient, fake_twilio: TwilioFake
) -> None:
    refused = await client.post(
        "/api/integrations/twilio",
        json={"account_sid": ACCOUNT_SID, "auth_token": "not-the-token", "from_number": FROM_NUMBER},
    )
    shown = await client.get("/api/integrations/twilio")

    assert refused.status_code == 400
    assert refused.json()["detail"] == "Twilio did not accept the account SID/auth token"
    assert "not-the-token" not in refused.text
    assert shown.json()["status"] == "not_connected"
    assert len(fake_twilio.requests_to("GET", f"/2010-04-01/Accounts/{ACCOUNT_SID}.json")) == 1


async def test_connecting_twilio_needs_exactly_one_sender(client: httpx.AsyncClient) -> None:
    neither = await client.post("/api/integrations/twilio", json={"account_sid": ACCOUNT_SID, "auth_token": "t"})
    both = await client.post(
        "/api/integrations/twilio",
        json={
            "account_sid": ACCOUNT_SID,
            "auth_token": "t",
            "from_number": FROM_NUMBER,
            "messaging_service_sid": "MG" + "0" * 32,
        },
    )

    assert (neither.status_code, both.status_code) == (422, 422)
    assert "from_number or messaging_service_sid" in neither.json()["detail"]


async def test_connected_twilio_keeps_its_auth_token_encrypted_and_never_shows_it(
    client: httpx.AsyncClient, database: Database
) -> None:
    connected = await client.post(
        "/api/integrations/twilio",
        json={"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, "from_number": "(415) 555-0100"},
    )
    shown = await client.get("/api/integrations/twilio")

    assert connected.status_code == 201
    body = shown.json()
    assert (body["status"], body["address"]) == ("connected", FROM_NUMBER)
    assert body["account"] == {"name": "Juniper Goods", "email": "", "id": ACCOUNT_SID}
    assert AUTH_TOKEN not in connected.text + shown.text
    async with database.session() as session:
        row = await session.scalar(select(Integration).where(Integration.kind == "twilio"))
        assert row is not None and AUTH_TOKEN not in row.secret
        credentials = await stored.twilio_credentials(session, Vault(TEST_SECRET_KEY))
    assert credentials == (ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER)
    assert AUTH_TOKEN not in repr(credentials)


async def test_a_queued_text_reaches_twilio_once_with_its_message_and_status_callback(
    shop: Shop, fake_twilio: TwilioFake
) -> None:
    await shop.connect()
    conversation_id, seq = await shop.answered()
    worker = shop.worker()

    assert await worker.deliver_due() == 1
    assert await worker.deliver_due() == 0
    async with shop.database.session() as session:  # queued again (a retried turn): not texted a second time
        await sending.enqueue_sms(session, conversation_id, seq, shop.clock())
        await session.commit()
    assert await worker.deliver_due() == 0

    [text] = fake_twilio.messages
    assert (text.to, text.from_, text.body) == (SHOPPER, FROM_NUMBER, ANSWER)
    assert text.status_callback == f"{PUBLIC_URL}/channels/sms/twilio/status"
    row = await shop.row(conversation_id, seq)
    assert (row.status, row.target, row.ticket_ref) == ("delivered", "sms", text.sid)
    [recorded] = await shop.texts_out()
    assert (recorded.message_sid, recorded.conversation_id, recorded.seq) == (text.sid, conversation_id, seq)
    assert (recorded.to_number, recorded.body, recorded.status) == (SHOPPER, ANSWER, "queued")


async def test_a_text_waits_while_twilio_is_not_connected(shop: Shop, fake_twilio: TwilioFake) -> None:
    conversation_id, seq = await shop.answered()

    assert await shop.worker().deliver_due() == 0

    row = await shop.row(conversation_id, seq)
    assert (row.status, row.last_error) == ("pending", "twilio is not connected: connect it under Integrations")
    assert fake_twilio.messages == []


async def test_nothing_is_texted_to_a_number_on_our_suppression_list(shop: Shop, fake_twilio: TwilioFake) -> None:
    await shop.connect()
    conversation_id, seq = await shop.answered()
    async with shop.database.session() as session:  # the shopper texted STOP after the answer was queued
        await sending.suppress(session, SHOPPER, "stop")
        await session.commit()

    await shop.worker().deliver_due()

    assert fake_twilio.requests_to("POST", f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json") == []
    row = await shop.row(conversation_id, seq)
    assert (row.status, row.last_error) == ("skipped", f"not sent: {SHOPPER} has opted out (STOP)")
    assert await shop.texts_out() == []


async def test_twilio_refusing_an_opted_out_number_suppresses_it_and_is_never_retried(
    shop: Shop, fake_twilio: TwilioFake
) -> None:
    await shop.connect()
    fake_twilio.opted_out.add(SHOPPER)  # a STOP Twilio handled that frontdesk never saw
    conversation_id, seq = await shop.answered()
    worker = shop.worker()

    await worker.deliver_due()
    shop.clock.advance(3600)
    await worker.deliver_due()
    later_id, later_seq = await shop.answered(text="A second answer")
    await worker.deliver_due()

    assert len(fake_twilio.requests_to("POST", f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json")) == 1
    assert fake_twilio.messages == []
    row = await shop.row(conversation_id, seq)
    assert row.status == "skipped" and "21610" in (row.last_error or "")
    suppression = await shop.suppression(SHOPPER)
    assert suppression is not None and suppression.keyword == "21610"
    assert (await shop.row(later_id, later_seq)).status == "skipped"  # checked before asking Twilio again


async def test_a_rate_limited_text_is_retried_no_sooner_than_retry_after(shop: Shop, fake_twilio: TwilioFake) -> None:
    await shop.connect()
    fake_twilio.retry_after = 30
    fake_twilio.fail_next("429", method="POST")
    conversation_id, seq = await shop.answered()
    worker = shop.worker()

    await worker.deliver_due()
    row = await shop.row(conversation_id, seq)
    assert (row.status, row.attempts) == ("pending", 1)
    assert "429" in (row.last_error or "")
    shop.clock.advance(29)
    await worker.deliver_due()
    assert fake_twilio.messages == []
    shop.clock.advance(2)
    await worker.deliver_due()

    [text] = fake_twilio.messages
    assert text.body == ANSWER
    assert len(fake_twilio.requests_to("POST", f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json")) == 2
    assert (await shop.row(conversation_id, seq)).status == "delivered"


async def test_a_body_over_1600_characters_is_refused_by_twilio_and_not_retried(
    shop: Shop, fake_twilio: TwilioFake
) -> None:
    await shop.connect()
    conversation_id, seq = await shop.answered(text="x" * 1601)
    worker = shop.worker()

    await worker.deliver_due()
    shop.clock.advance(3600)
    await worker.deliver_due()

    row = await shop.row(conversation_id, seq)
    assert row.status == "dead" and "21617" in (row.last_error or "")
    assert len(fake_twilio.requests_to("POST", f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json")) == 1


@pytest.fixture
async def app_transport(settings: Settings) -> AsyncIterator[httpx.ASGITransport]:
    """The app in process: Twilio's callbacks go to its public URL, which nothing listens on in a test."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield httpx.ASGITransport(app=app)


async def test_a_signed_status_callback_updates_the_text_and_a_forged_one_changes_nothing(
    shop: Shop, fake_twilio: TwilioFake, app_transport: httpx.ASGITransport
) -> None:
    await shop.connect()
    await shop.answered()
    await shop.worker().deliver_due()
    [text] = fake_twilio.messages

    delivered = await fake_twilio.asend_status(text.sid, "delivered", transport=app_transport)
    late_sent = await fake_twilio.asend_status(text.sid, "sent", transport=app_transport)  # arrives out of order
    url, headers, form = fake_twilio.status_request(text.sid, "failed", error_code=30003)
    async with httpx.AsyncClient(transport=app_transport) as http:
        forged = await http.post(url, headers=headers, data={**form, "MessageStatus": "undelivered"})
        unsigned = await http.post(url, data=form)

    assert (delivered.status_code, late_sent.status_code) == (204, 204)
    assert (forged.status_code, unsigned.status_code) == (403, 403)
    [recorded] = await shop.texts_out()
    assert (recorded.status, recorded.error_code) == ("delivered", None)
