"""Handoffs delivered to Zendesk and Gorgias, against the fake helpdesks (real HTTP servers): the ticket with the whole
transcript, the shopper told how it goes on, and the shopper's messages written before the ticket existed reaching it
afterwards, in order and once, whatever timed out on the way."""

from __future__ import annotations

import json

from frontdesk.conversations.turn import ON_ITS_WAY
from frontdesk.handoff import service as handoff
from frontdesk.handoff.deliveries import FOLLOW_UP_HERE
from frontdesk.handoff.relay import AgentReply, Outcome, Relay, Result, parse_zendesk
from tests.fakes.gorgias import GorgiasFake
from tests.fakes.zendesk import ZendeskFake
from tests.handoff.shop import GORGIAS_KEY, QUESTION, ZENDESK_TOKEN, Shop


async def test_zendesk_handoff_creates_one_ticket_with_the_whole_transcript_and_tells_the_shopper(
    shop: Shop, fake_zendesk: ZendeskFake
) -> None:
    await shop.connect("zendesk", ZENDESK_TOKEN)
    conversation_id = await shop.hand_off()
    worker = shop.worker()

    assert await worker.deliver_due() == 1
    assert await worker.deliver_due() == 0  # nothing left: a second pass sends nothing

    ticket = fake_zendesk.ticket_by_external_id(conversation_id)
    assert ticket is not None and fake_zendesk.ticket_count == 1
    transcript = ticket.comments[0].body  # the fake's plain text of the HTML Zendesk received
    assert QUESTION in transcript and ON_ITS_WAY in transcript
    assert "ana@example.com" in transcript and f"/console/conversations/{conversation_id}" in transcript
    assert ticket.comments[0].public is False  # an internal note: Zendesk does not email the shopper their own chat
    conversation = await shop.conversation(conversation_id)
    assert (conversation.status, conversation.ticket_ref) == ("with_team", f"zendesk-{ticket.id}")
    assert (await shop.messages(conversation_id))[-1].text == FOLLOW_UP_HERE
    row = await shop.row(conversation_id)
    assert (row.status, row.ticket_ref, row.leased_by) == ("delivered", f"zendesk-{ticket.id}", "worker-1")
    [create] = fake_zendesk.requests_to("POST", "/api/v2/tickets.json")
    assert create.headers["idempotency-key"] == row.idempotency_key == f"fd-{row.id}-{conversation_id}"


async def test_a_shopper_message_after_the_handoff_gets_no_ai_reply_once_the_team_owns_it(
    shop: Shop, fake_zendesk: ZendeskFake
) -> None:
    await shop.connect("zendesk", ZENDESK_TOKEN)
    conversation_id = await shop.hand_off()
    await shop.worker().deliver_due()
    before = len(await shop.messages(conversation_id))

    await shop.flow.shopper_message(conversation_id, "do you ship to canada?")

    assert [m.author for m in (await shop.messages(conversation_id))[before:]] == ["shopper"]


async def test_a_timeout_after_zendesk_made_the_ticket_is_found_on_retry_not_made_again(
    shop: Shop, fake_zendesk: ZendeskFake
) -> None:
    await shop.connect("zendesk", ZENDESK_TOKEN)
    conversation_id = await shop.hand_off()
    fake_zendesk.fail_next("timeout", after_commit=True, method="POST", path="/api/v2/tickets.json")
    worker = shop.worker()

    assert await worker.deliver_due() == 0
    row = await shop.row(conversation_id)
    assert row.outcome_unknown and "NetworkError" in (row.last_error or "")
    assert fake_zendesk.ticket_count == 1  # made, but the worker never heard
    shop.clock.advance(60)
    assert await worker.deliver_due() == 1

    assert len(fake_zendesk.tickets_with_external_id(conversation_id)) == 1
    assert fake_zendesk.requests_to("GET", "/api/v2/search.json")  # looked before creating again
    ticket = fake_zendesk.ticket_by_external_id(conversation_id)
    assert ticket is not None
    assert (await shop.conversation(conversation_id)).ticket_ref == f"zendesk-{ticket.id}"


async def test_messages_written_before_the_ticket_existed_reach_it_afterwards_in_order(
    shop: Shop, fake_zendesk: ZendeskFake
) -> None:
    await shop.connect("zendesk", ZENDESK_TOKEN)
    conversation_id = await shop.hand_off()
    fake_zendesk.fail_next("5xx", n=2, method="POST", path="/api/v2/tickets.json")
    worker = shop.worker()
    assert await worker.deliver_due() == 0  # Zendesk is down: no ticket yet

    await shop.flow.shopper_message(conversation_id, "The order number is 1042.")
    await shop.flow.shopper_message(conversation_id, "And it was the blue tent.")
    await worker.deliver_due()
    first, second = [m.seq for m in await shop.messages(conversation_id) if m.author == "shopper"][-2:]
    waiting = await shop.row(conversation_id, handoff.ticket_message_kind(first))
    assert (waiting.status, waiting.last_error) == ("pending", "waiting for the ticket to be created")
    assert waiting.attempts == 0  # waiting is not failing

    for _ in range(4):
        shop.clock.advance(60)
        await worker.deliver_due()

    ticket = fake_zendesk.ticket_by_external_id(conversation_id)
    assert ticket is not None
    later = [(c.body, c.public, c.author_id) for c in ticket.comments[1:]]
    assert later == [
        ("The order number is 1042.", True, ticket.requester_id),
        ("And it was the blue tent.", True, ticket.requester_id),
    ]
    assert "1042." not in ticket.comments[0].body  # in the ticket once: not in the transcript too
    assert (await shop.row(conversation_id, handoff.ticket_message_kind(second))).status == "delivered"


async def test_a_message_whose_sending_timed_out_after_zendesk_took_it_is_not_added_twice(
    shop: Shop, fake_zendesk: ZendeskFake
) -> None:
    await shop.connect("zendesk", ZENDESK_TOKEN)
    conversation_id = await shop.hand_off()
    worker = shop.worker()
    await worker.deliver_due()
    ticket = fake_zendesk.ticket_by_external_id(conversation_id)
    assert ticket is not None
    fake_zendesk.fail_next("timeout", after_commit=True, method="PUT", path=f"/api/v2/tickets/{ticket.id}.json")

    await shop.flow.shopper_message(conversation_id, "Any news?")
    assert await worker.deliver_due() == 0
    shop.clock.advance(60)
    assert await worker.deliver_due() == 1

    assert [c.body for c in fake_zendesk.ticket(ticket.id).comments[1:]] == ["Any news?"]


async def test_our_own_comment_sent_back_by_the_trigger_is_not_relayed_but_an_agent_saying_the_same_is(
    shop: Shop, fake_zendesk: ZendeskFake
) -> None:
    """frontdesk adds the shopper's "Yes" to the ticket as the token's user, an agent, so Zendesk's trigger sends it
    back like a reply. It is known by the comment id Zendesk answered with, not by its text: the agent's "yes" that
    follows reaches the chat."""
    await shop.connect("zendesk", ZENDESK_TOKEN)
    conversation_id = await shop.hand_off()
    worker = shop.worker()
    await worker.deliver_due()
    await shop.flow.shopper_message(conversation_id, "Yes")
    assert await worker.deliver_due() == 1
    ticket = fake_zendesk.ticket_by_external_id(conversation_id)
    assert ticket is not None
    ours = ticket.comments[-1]
    assert (ours.body, ours.author_id, ours.via) == ("Yes", ticket.requester_id, "api")
    before = len(await shop.messages(conversation_id))
    relay = Relay(shop.flow)

    def delivered(body: str, comment_id: int | None = None) -> AgentReply | Outcome:
        *_, raw = fake_zendesk.agent_reply_request(ticket.id, body, webhook_url="http://x", comment_id=comment_id)
        return parse_zendesk(json.loads(raw))

    echo = delivered("Yes", comment_id=ours.id)
    assert isinstance(echo, AgentReply)
    assert (await relay.take(echo)).result is Result.duplicate
    reply = delivered("yes")
    assert isinstance(reply, AgentReply)
    assert (await relay.take(reply)).result is Result.relayed

    assert [(m.author, m.text) for m in (await shop.messages(conversation_id))[before:]] == [("agent", "yes")]


async def test_a_message_found_on_the_ticket_after_a_timeout_is_known_by_its_id_too(
    shop: Shop, fake_zendesk: ZendeskFake
) -> None:
    await shop.connect("zendesk", ZENDESK_TOKEN)
    conversation_id = await shop.hand_off()
    worker = shop.worker()
    await worker.deliver_due()
    ticket = fake_zendesk.ticket_by_external_id(conversation_id)
    assert ticket is not None
    fake_zendesk.fail_next("timeout", after_commit=True, method="PUT", path=f"/api/v2/tickets/{ticket.id}.json")
    await shop.flow.shopper_message(conversation_id, "Any news?")
    assert await worker.deliver_due() == 0
    shop.clock.advance(60)
    assert await worker.deliver_due() == 1  # found on the ticket, not added again
    ours = fake_zendesk.ticket(ticket.id).comments[-1]
    *_, raw = fake_zendesk.agent_reply_request(ticket.id, "", webhook_url="http://x", comment_id=ours.id)
    before = len(await shop.messages(conversation_id))
    echo = parse_zendesk(json.loads(raw))
    assert isinstance(echo, AgentReply)

    assert (await Relay(shop.flow).take(echo)).result is Result.duplicate
    assert len(await shop.messages(conversation_id)) == before


async def test_gorgias_web_chat_handoff_moves_the_conversation_to_email_and_ends_the_chat(
    shop: Shop, fake_gorgias: GorgiasFake
) -> None:
    await shop.connect("gorgias", GORGIAS_KEY)
    conversation_id = await shop.hand_off("ana@example.com")

    assert await shop.worker().deliver_due() == 1

    ticket = fake_gorgias.ticket_by_external_id(conversation_id)
    assert ticket is not None and ticket.channel == "email"
    conversation = await shop.conversation(conversation_id)
    assert (conversation.status, conversation.ticket_ref) == ("closed", f"gorgias-{ticket.id}")
    assert (await shop.messages(conversation_id))[-1].text == "Our team will reply by email to ana@example.com."
