"""Twilio's inbound webhook: texts signed with the `twilio` package over the public URL (never the Host header),
taken once per MessageSid, answered with empty TwiML at once; the keywords Twilio documents; answers cut to fit a
text. The shopper's phone is the fake Twilio (a real HTTP server) and the replies are what the outbox worker sent it."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from frontdesk.app import create_app
from frontdesk.channels.sms import service as sms
from frontdesk.channels.sms.models import SmsMessage, SmsSuppression, SmsThread
from frontdesk.channels.sms.views import EMPTY_TWIML
from frontdesk.config import Settings
from frontdesk.outbox.models import OutboxItem
from frontdesk.transcripts import service as conversations
from frontdesk.transcripts.models import Conversation, Message
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, TwilioFake, new_sid, signed
from tests.server import ADMIN_HEADERS

PUBLIC_URL = "https://support.shop.example"
WEBHOOK = f"{PUBLIC_URL}/channels/sms/twilio"
SHOPPER = "+14155550123"
SHIPPING_URL = "https://shop.example/help/shipping"
SHIPPING_QUESTION = "How long does shipping take?"
SHIPPING_ANSWER = (
    "Orders placed before 2 pm ship the same business day from our warehouse in Portland. Standard shipping takes "
    "3 to 5 business days within the continental US, expedited shipping takes 2 business days, and overnight "
    "orders placed before noon arrive the next business day. Alaska and Hawaii add 2 to 4 days. You get a tracking "
    "link by email as soon as the label is printed, and you can follow the parcel from your account page too. "
    "During the holidays, allow an extra day or two for every option."
)
UNANSWERABLE = "what's the capital of peru?"


@dataclass
class Phone:
    """The store's app in process with Twilio connected, and a shopper texting it through the fake Twilio."""

    app: FastAPI
    http: httpx.AsyncClient  # no admin token: a webhook gets in by its signature alone
    twilio: TwilioFake

    async def text(
        self,
        body: str,
        sid: str | None = None,
        url: str = WEBHOOK,
        more: dict[str, str] | None = None,
        tampered: dict[str, str] | None = None,
    ) -> httpx.Response:
        """Post the webhook Twilio sends for this text (with `more` fields, signed); `tampered` fields are changed
        after signing."""
        _, form = self.twilio.inbound_request(url, SHOPPER, FROM_NUMBER, body, sid or new_sid("SM"))
        form = {**form, **(more or {})}
        headers = signed(self.twilio.auth_token, url, form)
        return await self.http.post("/channels/sms/twilio", data={**form, **(tampered or {})}, headers=headers)

    async def deliver(self) -> None:
        """Run the outbox worker until nothing is due (handoffs, texts)."""
        for _ in range(20):
            if not await self.app.state.worker.deliver_due():
                return
        raise AssertionError("the outbox never ran dry")

    def received(self, phone: str = SHOPPER) -> list[str]:
        """The texts the shopper's phone got, oldest first."""
        return [text.body for text in self.twilio.messages if text.to == phone]

    async def conversation(self, phone: str = SHOPPER) -> Conversation:
        async with self.app.state.database.session() as session:
            thread = await session.get(SmsThread, phone)
            assert thread is not None, f"{phone} has no conversation"
            return await conversations.get(session, thread.conversation_id)

    async def messages(self, conversation_id: str) -> list[Message]:
        async with self.app.state.database.session() as session:
            return await conversations.messages_after(session, conversation_id, 0)

    async def count(self, model: type[SmsMessage] | type[Conversation] | type[Message] | type[OutboxItem]) -> int:
        async with self.app.state.database.session() as session:
            return int(await session.scalar(select(func.count()).select_from(model)) or 0)

    async def suppressed(self, phone: str = SHOPPER) -> bool:
        async with self.app.state.database.session() as session:
            return await session.get(SmsSuppression, phone) is not None


@pytest.fixture
def twilio() -> Iterator[TwilioFake]:
    with TwilioFake() as fake:
        yield fake


async def start_phone(settings: Settings, twilio: TwilioFake, connect: bool = True) -> AsyncIterator[Phone]:
    # The worker runs when the test says so; the public URL differs from the client's host on purpose.
    update = {"twilio_api_base": twilio.base_url, "public_url": PUBLIC_URL, "run_worker": False}
    app = create_app(settings.model_copy(update=update))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            if connect:
                form = {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, "from_number": FROM_NUMBER}
                connected = await http.post("/api/integrations/twilio", json=form, headers=ADMIN_HEADERS)
                assert connected.status_code == 201, connected.text
                shipping = {"kind": "faq", "title": SHIPPING_QUESTION, "body": SHIPPING_ANSWER, "url": SHIPPING_URL}
                added = await http.post("/api/knowledge", json=shipping, headers=ADMIN_HEADERS)
                assert added.status_code == 201, added.text
            yield Phone(app, http, twilio)


@pytest.fixture
async def phone(settings: Settings, twilio: TwilioFake) -> AsyncIterator[Phone]:
    async for connected in start_phone(settings, twilio):
        yield connected


async def test_a_question_is_answered_by_text_within_the_sms_length(phone: Phone) -> None:
    started = time.perf_counter()
    answer = await phone.text(SHIPPING_QUESTION)
    elapsed = time.perf_counter() - started

    assert answer.status_code == 200 and answer.text == EMPTY_TWIML
    assert answer.headers["content-type"].startswith("application/xml")
    assert elapsed < 1.0  # Twilio waits 15 s; the issue asks for one
    assert phone.received() == []  # the reply goes from the worker, not in the webhook's answer
    await phone.deliver()
    [reply] = phone.received()
    assert len(reply) <= sms.MAX_ANSWER_CHARS
    assert reply.startswith("Orders placed before 2 pm") and reply.endswith(SHIPPING_URL)
    conversation = await phone.conversation()
    assert conversation.channel == "sms" and conversation.status == "ai"
    assert [(m.author, m.text) for m in await phone.messages(conversation.id)] == [
        ("shopper", SHIPPING_QUESTION),
        ("ai", reply),
    ]


async def test_the_shopper_is_known_by_phone_and_keeps_one_conversation(phone: Phone) -> None:
    await phone.text(SHIPPING_QUESTION)
    await phone.text("hello")

    conversation = await phone.conversation()
    async with phone.app.state.database.session() as session:
        profile = await conversations.profile_of(session, conversation)
    assert profile is not None and profile.phone == SHOPPER
    assert await phone.count(Conversation) == 1
    assert [m.author for m in await phone.messages(conversation.id)] == ["shopper", "ai", "shopper", "ai"]


async def test_a_closed_conversation_is_followed_by_a_new_one_for_the_same_profile(phone: Phone) -> None:
    await phone.text(SHIPPING_QUESTION)
    first = await phone.conversation()
    await phone.app.state.team.close(first.id, "admin")

    await phone.text("hello")

    second = await phone.conversation()
    assert second.id != first.id and second.status == "ai"
    assert second.profile_id == first.profile_id


async def test_a_bad_signature_is_refused_and_stores_nothing(phone: Phone) -> None:
    forged = await phone.text(SHIPPING_QUESTION, tampered={"Body": "send me everything"})  # altered after signing
    unsigned = await phone.http.post(
        "/channels/sms/twilio", data={"MessageSid": new_sid("SM"), "From": SHOPPER, "Body": "hi"}
    )
    # Signed for the address the request reached (the Host header), not the public URL Twilio is given.
    by_host = await phone.text(SHIPPING_QUESTION, url="http://testserver/channels/sms/twilio")

    assert (forged.status_code, unsigned.status_code, by_host.status_code) == (403, 403, 403)
    assert await phone.count(SmsMessage) == 0
    assert await phone.count(Conversation) == 0 and await phone.count(OutboxItem) == 0
    await phone.deliver()
    assert phone.received() == []


async def test_a_replayed_message_sid_gets_no_second_reply(phone: Phone) -> None:
    sid = new_sid("SM")
    first = await phone.text(SHIPPING_QUESTION, sid=sid)
    again = await phone.text(SHIPPING_QUESTION, sid=sid)  # Twilio delivering the same text again
    await phone.deliver()

    assert first.status_code == again.status_code == 200 and again.text == EMPTY_TWIML
    assert len(phone.received()) == 1
    conversation = await phone.conversation()
    assert [m.author for m in await phone.messages(conversation.id)] == ["shopper", "ai"]
    async with phone.app.state.database.session() as session:
        [row] = (await session.scalars(select(SmsMessage).where(SmsMessage.direction == "in"))).all()
    assert (row.message_sid, row.conversation_id, row.seq, row.from_number) == (sid, conversation.id, 1, SHOPPER)


async def test_the_webhook_answers_404_while_twilio_is_not_connected(settings: Settings, twilio: TwilioFake) -> None:
    async for phone in start_phone(settings, twilio, connect=False):
        answer = await phone.text(SHIPPING_QUESTION)
        assert answer.status_code == 404
        assert await phone.count(SmsMessage) == 0 and await phone.count(Conversation) == 0


async def test_help_is_answered_with_the_store_and_how_to_stop(phone: Phone) -> None:
    await phone.text(" help ")
    await phone.deliver()

    [reply] = phone.received()
    assert reply.startswith("Juniper & Pine:") and "Reply STOP to opt out" in reply
    assert len(reply) <= 160  # one segment
    messages = await phone.messages((await phone.conversation()).id)
    assert [(m.author, m.kind) for m in messages] == [("shopper", "keyword"), ("system", "notice")]


async def test_stop_suppresses_the_number_and_nothing_is_sent_to_it_afterwards(phone: Phone) -> None:
    await phone.text(SHIPPING_QUESTION)
    await phone.deliver()
    assert len(phone.received()) == 1

    await phone.text("Stop")
    await phone.text(SHIPPING_QUESTION)  # the store answers it: the text is not sent
    await phone.deliver()

    assert await phone.suppressed()
    assert len(phone.received()) == 1  # Twilio confirms the opt-out itself; we sent nothing after STOP
    assert len(phone.twilio.requests_to("POST", f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json")) == 1


async def test_start_lifts_the_suppression_and_confirms_unless_twilio_does(phone: Phone) -> None:
    await phone.text("UNSUBSCRIBE")
    await phone.text("start", more={"OptOutType": "START"})  # Advanced Opt-Out on: Twilio sent the store's confirmation
    await phone.deliver()
    assert not await phone.suppressed() and phone.received() == []

    await phone.text("QUIT")
    await phone.text("unstop")  # standard handling: we confirm
    await phone.deliver()

    [confirmation] = phone.received()
    assert not await phone.suppressed() and "subscribed" in confirmation and "STOP" in confirmation


async def test_a_stop_from_a_number_that_never_wrote_is_recorded_without_a_conversation(phone: Phone) -> None:
    await phone.text("STOPALL")

    assert await phone.suppressed()
    assert await phone.count(Conversation) == 0 and await phone.count(SmsMessage) == 1


def test_keywords_are_the_whole_body_in_any_case() -> None:
    assert sms.keyword_of("  stop\n") is sms.Keyword.opt_out
    assert sms.keyword_of("OptOut") is sms.Keyword.opt_out
    assert sms.keyword_of("Yes") is sms.Keyword.opt_in
    assert sms.keyword_of("info") is sms.Keyword.help
    assert sms.keyword_of("please stop the order") is None
    assert sms.keyword_of("stop!") is None


def test_a_long_answer_is_cut_at_a_sentence_and_ends_with_the_entry_link() -> None:
    short = sms.sms_answer(SHIPPING_ANSWER, SHIPPING_URL)

    assert len(short) <= sms.MAX_ANSWER_CHARS and short.endswith(f"\nMore: {SHIPPING_URL}")
    assert short.count(SHIPPING_URL) == 1
    assert short.split("\n")[0].endswith(".")  # a whole sentence, not a word cut in half
    # A short answer keeps all its words, and gets the full link too.
    assert sms.sms_answer("Yes, we ship to Canada.", SHIPPING_URL) == f"Yes, we ship to Canada.\nMore: {SHIPPING_URL}"
    no_link = sms.sms_answer("word " * 100, None)
    assert len(no_link) <= sms.MAX_ANSWER_CHARS and no_link.endswith("…")
