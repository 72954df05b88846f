"""A whole SMS conversation that needs people: no consent step and no email question, the handoff at once, and the
team's replies back as texts — through the built-in inbox, through Zendesk (the fake, connected through the
integrations API, its agent's reply delivered to our signed webhook) and through Gorgias (its HTTP integration)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from frontdesk.config import Settings
from frontdesk.conversations.turn import ON_ITS_WAY
from frontdesk.realtime.bus import INBOX_TOPIC
from frontdesk.transcripts.models import Profile
from tests.channels.sms.test_inbound import SHOPPER, UNANSWERABLE, Phone, start_phone
from tests.fakes.gorgias import GorgiasFake
from tests.fakes.twilio import TwilioFake
from tests.fakes.zendesk import ZendeskFake
from tests.server import ADMIN_HEADERS

AGENT_REPLY = "Lima! And your parcel left our warehouse this morning."


@pytest.fixture
def zendesk() -> Iterator[ZendeskFake]:
    with ZendeskFake() as fake:
        yield fake


@pytest.fixture
def gorgias() -> Iterator[GorgiasFake]:
    with GorgiasFake() as fake:
        yield fake


@pytest.fixture
async def phone(settings: Settings, zendesk: ZendeskFake, gorgias: GorgiasFake) -> AsyncIterator[Phone]:
    helpdesks = {"zendesk_url_template": zendesk.url_template, "gorgias_url_template": gorgias.url_template}
    with TwilioFake() as twilio:
        async for connected in start_phone(settings.model_copy(update=helpdesks), twilio):
            yield connected


async def test_an_unknown_question_goes_to_the_inbox_at_once_and_the_agent_reply_is_texted(phone: Phone) -> None:
    await phone.text(UNANSWERABLE)
    conversation = await phone.conversation()
    assert conversation.status == "handing_off"  # no offer, no email question
    await phone.deliver()

    conversation = await phone.conversation()
    assert conversation.status == "with_team" and conversation.handoff_method == "builtin"
    assert phone.received()[0] == ON_ITS_WAY
    queue = (await phone.http.get("/api/inbox/queues/unassigned", headers=ADMIN_HEADERS)).json()
    assert [t["conversation_id"] for t in queue["tickets"]] == [conversation.id]

    await phone.app.state.team.reply(conversation.id, "Sam", AGENT_REPLY)
    await phone.deliver()

    assert phone.received()[-1] == AGENT_REPLY
    assert [m.author for m in await phone.messages(conversation.id)][:3] == ["shopper", "system", "system"]


async def test_the_shoppers_later_texts_reach_the_inbox_live_and_get_no_ai_answer(phone: Phone) -> None:
    await phone.text(UNANSWERABLE)
    await phone.deliver()
    conversation = await phone.conversation()
    before = len(await phone.messages(conversation.id))

    async with phone.app.state.bus.subscribe(INBOX_TOPIC) as inbox:
        await phone.text("are you there?")
        event = await asyncio.wait_for(inbox.next(), 5)

    assert (event["type"], event["conversation_id"], event["author"]) == ("activity", conversation.id, "shopper")
    later = (await phone.messages(conversation.id))[before:]
    assert [m.author for m in later if m.author != "system"] == ["shopper"]  # the AI stays silent


async def test_a_person_asked_for_by_text_is_handed_off_without_an_offer(phone: Phone) -> None:
    await phone.text("I want to talk to a human")

    conversation = await phone.conversation()
    assert conversation.status == "handing_off"
    assert [m.kind for m in await phone.messages(conversation.id)] == ["text", "notice"]


async def test_do_not_hand_off_texts_the_custom_message(phone: Phone) -> None:
    custom = "We can't help by text. See [our help page](https://shop.example/help)."
    changed = await phone.http.put(
        "/api/settings/handoff", json={"method": "none", "custom_message": custom}, headers=ADMIN_HEADERS
    )
    assert changed.status_code == 200, changed.text

    await phone.text(UNANSWERABLE)
    await phone.deliver()

    assert phone.received() == ["We can't help by text. See our help page: https://shop.example/help."]
    assert (await phone.conversation()).status == "ai"


async def connect_zendesk(phone: Phone, zendesk: ZendeskFake) -> None:
    form = {"subdomain": "juniper", "email": zendesk.email, "api_token": zendesk.api_token}
    connected = await phone.http.post("/api/integrations/zendesk", json=form, headers=ADMIN_HEADERS)
    assert connected.status_code == 201 and connected.json()["reply_path"]["ready"], connected.text
    chosen = await phone.http.put("/api/settings/handoff", json={"method": "zendesk"}, headers=ADMIN_HEADERS)
    assert chosen.status_code == 200, chosen.text


async def test_zendesk_gets_the_phone_and_transcript_later_texts_and_its_agent_reply_is_texted(
    phone: Phone, zendesk: ZendeskFake
) -> None:
    await connect_zendesk(phone, zendesk)
    async with phone.app.state.database.session() as session:  # a shopper the store knows from an earlier order
        session.add(Profile(id="prof_ana", email="ana@example.com", phone=SHOPPER, name="Ana"))
        await session.commit()

    await phone.text(UNANSWERABLE)
    await phone.deliver()

    conversation = await phone.conversation()
    assert conversation.profile_id == "prof_ana"
    ticket = zendesk.ticket_by_external_id(conversation.id)
    assert ticket is not None and conversation.status == "with_team"
    transcript = ticket.comments[0].body
    assert SHOPPER in transcript and UNANSWERABLE in transcript and "sms" in ticket.tags

    await phone.text("it's for a school project")
    await phone.deliver()
    assert zendesk.ticket(ticket.id).comments[-1].body == "it's for a school project"

    _method, url, headers, body = zendesk.agent_reply_request(ticket.id, AGENT_REPLY)
    relayed = await phone.http.post(httpx.URL(url).path, content=body, headers=headers)
    assert relayed.status_code == 200 and relayed.json()["result"] == "relayed", relayed.text
    await phone.deliver()

    assert phone.received()[-1] == AGENT_REPLY


async def test_zendesk_takes_a_shopper_known_only_by_phone(phone: Phone, zendesk: ZendeskFake) -> None:
    await connect_zendesk(phone, zendesk)

    await phone.text(UNANSWERABLE)
    await phone.deliver()

    conversation = await phone.conversation()
    ticket = zendesk.ticket_by_external_id(conversation.id)
    assert ticket is not None and conversation.status == "with_team"
    requester = zendesk.user(ticket.requester_id)  # made an end user by phone first: a ticket's requester needs one
    assert (requester.phone, requester.email, requester.role) == (SHOPPER, None, "end-user")


async def test_gorgias_gets_an_sms_ticket_later_texts_reach_it_and_its_agent_reply_is_texted(
    phone: Phone, gorgias: GorgiasFake
) -> None:
    form = {"domain": gorgias.domain, "email": gorgias.email, "api_key": gorgias.api_key}
    connected = await phone.http.post("/api/integrations/gorgias", json=form, headers=ADMIN_HEADERS)
    assert connected.status_code == 201 and connected.json()["reply_path"]["ready"], connected.text
    chosen = await phone.http.put("/api/settings/handoff", json={"method": "gorgias"}, headers=ADMIN_HEADERS)
    assert chosen.status_code == 200, chosen.text

    await phone.text(UNANSWERABLE)
    await phone.deliver()

    conversation = await phone.conversation()
    ticket = gorgias.ticket_by_external_id(conversation.id)
    assert ticket is not None and conversation.status == "with_team"
    assert ticket.channel == "sms" and "sms" in ticket.tags
    customer = gorgias.customer(ticket.customer["id"])  # made by phone first: a ticket's customer needs one
    assert (customer["email"], customer["channels"][0]["address"]) == (None, SHOPPER)
    assert SHOPPER in ticket.messages[0].body_text and UNANSWERABLE in ticket.messages[0].body_text
    assert phone.received()[0] == ON_ITS_WAY

    await phone.text("it's for a school project")
    await phone.deliver()
    assert gorgias.ticket(ticket.id).messages[-1].body_text == "it's for a school project"

    _method, url, headers, body = gorgias.agent_message_request(ticket.id, AGENT_REPLY)
    relayed = await phone.http.post(httpx.URL(url).path, content=body, headers=headers)
    assert relayed.status_code == 200, relayed.text
    await phone.deliver()

    assert phone.received()[-1] == AGENT_REPLY
    assert [m.author for m in await phone.messages(conversation.id)][-1] == "agent"
