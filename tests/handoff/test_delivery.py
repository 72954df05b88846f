"""Reliable delivery of handoffs to Zendesk and Gorgias, against the fake helpdesks (real HTTP servers): one ticket per
conversation whatever fails on the way (5xx, timeouts after the ticket was made, 429, crashed workers, two workers at
once), retries that honour Retry-After and stop after the retry window, dead rows the admin sees and retries, and the
shopper's messages written before the ticket existed reaching it afterwards, in order."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select

from frontdesk.app import create_app
from frontdesk.channels.service import every_channel
from frontdesk.config import Settings
from frontdesk.conversations.turn import HANDOFF_YES, ON_ITS_WAY, ChatFlow
from frontdesk.credentials import Integration
from frontdesk.db import Database
from frontdesk.handoff import service as handoff
from frontdesk.handoff.deliveries import FOLLOW_UP_HERE, outbox_worker
from frontdesk.handoff.relay import AgentReply, Outcome, Relay, Result, parse_zendesk
from frontdesk.handoff.schemas import HandoffSettingsIn, Method
from frontdesk.inbox.service import Presence
from frontdesk.knowledge.service import Knowledge
from frontdesk.outbox.models import OutboxItem
from frontdesk.outbox.worker import LEASE, OutboxWorker
from frontdesk.realtime.bus import EventBus
from frontdesk.retrieval.embedders import Embedder
from frontdesk.transcripts import service as conversations
from frontdesk.transcripts.models import Conversation, Message
from frontdesk.vault import Vault
from tests.fakes.gorgias import GorgiasFake
from tests.fakes.zendesk import ZendeskFake
from tests.server import ADMIN_HEADERS, TEST_SECRET_KEY

ZENDESK_TOKEN, GORGIAS_KEY = "zd-test-token", "gg-test-key"
HELPDESK_EMAIL = "agent@juniper.example"
QUESTION = "Where is my order #1042? It was due on Monday."


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Shop:
    """One store wired to a fake helpdesk: the chat flow that accepts handoffs and workers that deliver them."""

    database: Database
    settings: Settings
    clock: Clock
    flow: ChatFlow
    vault: Vault

    def worker(self, name: str = "worker-1", database: Database | None = None) -> OutboxWorker:
        return outbox_worker(
            (database or self.database).sessions, EventBus(), Presence(), self.clock, asyncio.Event(),
            vault=self.vault, settings=self.settings, worker_id=name, request_timeout=0.5, jitter=lambda: 0.5,
            channels=self.flow.channels,
        )  # fmt: skip

    async def connect(self, kind: str, secret: str) -> None:
        """The integration as the console saves it (connecting itself is tested with the integrations)."""
        async with self.database.session() as session:
            row = await session.scalar(select(Integration).where(Integration.kind == kind))
            if row is None:
                row = Integration(kind=kind, config={"label": "juniper", "email": HELPDESK_EMAIL})
                session.add(row)
            row.secret, row.status = self.vault.encrypt(secret), "connected"
            await handoff.update_settings(session, HandoffSettingsIn(method=Method(kind)))
            await session.commit()

    async def hand_off(self, email: str = "ana@example.com", channel: str = "webchat") -> str:
        """A shopper asks what the store cannot answer, says Yes and leaves an email: the handoff is queued."""
        async with self.database.session() as session:
            conversation = await conversations.create(session, channel, conversations.new_visitor_token())
            await session.commit()
            conversation_id = conversation.id
        await self.flow.shopper_message(conversation_id, QUESTION)
        await self.flow.action(conversation_id, HANDOFF_YES)
        await self.flow.email(conversation_id, email)
        assert (await self.conversation(conversation_id)).status == "handing_off"
        return conversation_id

    async def conversation(self, conversation_id: str) -> Conversation:
        async with self.database.session() as session:
            return await conversations.get(session, conversation_id)

    async def messages(self, conversation_id: str) -> list[Message]:
        async with self.database.session() as session:
            return await conversations.messages_after(session, conversation_id, 0)

    async def row(self, conversation_id: str, kind: str = "handoff") -> OutboxItem:
        async with self.database.session() as session:
            item = await session.scalar(
                select(OutboxItem).where(OutboxItem.conversation_id == conversation_id, OutboxItem.kind == kind)
            )
            assert item is not None
            return item

    async def pending(self) -> int:
        async with self.database.session() as session:
            return len((await session.scalars(select(OutboxItem.id).where(OutboxItem.status == "pending"))).all())


def due_at(item: OutboxItem) -> datetime:
    at = item.next_attempt_at
    return at if at.tzinfo else at.replace(tzinfo=UTC)  # SQLite hands datetimes back naive


@pytest.fixture
def fake_zendesk() -> Iterator[ZendeskFake]:
    # A "timeout" holds the request this long; the worker gives up after 0.5 s.
    with ZendeskFake(api_token=ZENDESK_TOKEN, email=HELPDESK_EMAIL, timeout_hold=3.0) as fake:
        yield fake


@pytest.fixture
def fake_gorgias() -> Iterator[GorgiasFake]:
    with GorgiasFake(api_key=GORGIAS_KEY, email=HELPDESK_EMAIL) as fake:
        yield fake


@pytest.fixture
async def shop(
    database: Database, settings: Settings, embedder: Embedder, fake_zendesk: ZendeskFake, fake_gorgias: GorgiasFake
) -> AsyncIterator[Shop]:
    settings = settings.model_copy(
        update={
            "zendesk_url_template": fake_zendesk.url_template,
            "gorgias_url_template": fake_gorgias.url_template,
            "public_url": "https://support.shop.example",
            "run_worker": False,
        }
    )
    clock = Clock()
    channels = every_channel(database.sessions, clock, settings)
    flow = ChatFlow(database.sessions, Knowledge(embedder), EventBus(), clock, asyncio.Event(), channels=channels)
    yield Shop(database, settings, clock, flow, Vault(TEST_SECRET_KEY))


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


async def test_a_server_error_then_success_makes_one_ticket(shop: Shop, fake_zendesk: ZendeskFake) -> None:
    await shop.connect("zendesk", ZENDESK_TOKEN)
    conversation_id = await shop.hand_off()
    fake_zendesk.fail_next("5xx", method="POST", path="/api/v2/tickets.json")
    worker = shop.worker()

    assert await worker.deliver_due() == 0
    row = await shop.row(conversation_id)
    assert row.status == "pending" and "500" in (row.last_error or "")
    assert due_at(row) > shop.clock()  # backed off, not hammered
    shop.clock.advance(60)
    assert await worker.deliver_due() == 1

    assert len(fake_zendesk.tickets_with_external_id(conversation_id)) == 1
    assert (await shop.conversation(conversation_id)).status == "with_team"


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


async def test_a_429_is_not_retried_before_its_retry_after(shop: Shop) -> None:
    fake_now = [10.0]  # the fake's own clock: its per-minute window resets 50 s from here
    with ZendeskFake(api_token=ZENDESK_TOKEN, email=HELPDESK_EMAIL, rate_per_minute=1, clock=lambda: fake_now[0]) as zd:
        shop.settings = shop.settings.model_copy(update={"zendesk_url_template": zd.url_template})
        await shop.connect("zendesk", ZENDESK_TOKEN)
        conversation_id = await shop.hand_off()
        httpx.get(f"{zd.base_url}/api/v2/users/me.json", auth=(f"{HELPDESK_EMAIL}/token", ZENDESK_TOKEN))
        worker = shop.worker()
        asked_at = shop.clock()

        assert await worker.deliver_due() == 0
        row = await shop.row(conversation_id)
        assert "429" in (row.last_error or "")
        assert due_at(row) >= asked_at + timedelta(seconds=50)
        shop.clock.advance(49)
        posts = len(zd.requests_to("POST", "/api/v2/tickets.json"))
        assert await worker.deliver_due() == 0
        assert len(zd.requests_to("POST", "/api/v2/tickets.json")) == posts  # Zendesk was not asked again early

        shop.clock.advance(2)
        fake_now[0] = 61.0  # Zendesk's next minute
        assert await worker.deliver_due() == 1
        assert zd.ticket_count == 1


async def test_refused_credentials_go_dead_at_once_show_in_the_api_and_a_retry_sends_them_again(
    shop: Shop, fake_zendesk: ZendeskFake
) -> None:
    await shop.connect("zendesk", "a-revoked-token")
    conversation_id = await shop.hand_off()
    worker = shop.worker()

    assert await worker.deliver_due() == 0
    row = await shop.row(conversation_id)
    assert (row.status, row.attempts) == ("dead", 1)
    assert "AuthFailed" in (row.last_error or "") and "401" in (row.last_error or "")

    app = create_app(shop.settings, clock=shop.clock)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver", headers=ADMIN_HEADERS) as http:
            dead = (await http.get("/api/outbox", params={"status": "dead"})).json()
            assert [(r["id"], r["target"], r["kind"], r["attempts"]) for r in dead] == [
                (row.id, "zendesk", "handoff", 1)
            ]
            assert "401" in dead[0]["last_error"] and dead[0]["next_attempt_at"]
            assert (await http.get("/api/outbox", params={"status": "pending"})).json() == []
            assert (await http.get("/api/outbox", params={"status": "nonsense"})).status_code == 422
            assert (await http.post(f"/api/outbox/{row.id}/retry", headers={"Authorization": ""})).status_code == 401

            await shop.connect("zendesk", ZENDESK_TOKEN)  # the admin fixes the token
            retried = await http.post(f"/api/outbox/{row.id}/retry")
            assert retried.status_code == 200 and retried.json()["status"] == "pending"
            assert await worker.deliver_due() == 1
            assert (await http.post(f"/api/outbox/{row.id}/retry")).status_code == 409
            assert (await http.post("/api/outbox/999999/retry")).status_code == 404
    assert fake_zendesk.ticket_by_external_id(conversation_id) is not None


async def test_a_handoff_that_keeps_failing_goes_dead_when_the_retry_window_runs_out(
    shop: Shop, fake_zendesk: ZendeskFake
) -> None:
    shop.settings = shop.settings.model_copy(update={"outbox_retry_hours": 1.0})
    await shop.connect("zendesk", ZENDESK_TOKEN)
    conversation_id = await shop.hand_off()
    fake_zendesk.fail_next("5xx", n=1000, method="POST", path="/api/v2/tickets.json")
    worker = shop.worker()

    for _ in range(5):
        await worker.deliver_due()
        shop.clock.advance(5 * 60)
        assert (await shop.row(conversation_id)).status == "pending"  # 25 minutes in: still trying
    shop.clock.advance(40 * 60)
    await worker.deliver_due()

    row = await shop.row(conversation_id)
    assert row.status == "dead" and row.last_error is not None
    assert row.last_error.startswith("gave up after 6 attempts") and "500" in row.last_error
    shop.clock.advance(24 * 3600)
    assert await worker.deliver_due() == 0  # dead stays dead until someone retries it
    assert fake_zendesk.ticket_count == 0
    assert (await shop.conversation(conversation_id)).status == "handing_off"


async def test_a_worker_that_crashed_after_creating_the_ticket_is_replaced_once_its_lease_runs_out(
    shop: Shop, fake_zendesk: ZendeskFake
) -> None:
    await shop.connect("zendesk", ZENDESK_TOKEN)
    conversation_id = await shop.hand_off()
    crashed, survivor = shop.worker("worker-crashed"), shop.worker("worker-2")

    class Crash(Exception):
        pass

    async def die(*_: object) -> None:
        raise Crash  # the process died between the helpdesk's answer and our commit

    claimed = await crashed._claim_next()
    assert claimed is not None
    item_id, _, target = claimed
    tickets = crashed.deliveries.of("handoff")
    tickets._record_ticket = die  # type: ignore[attr-defined]
    with pytest.raises(Crash):
        await tickets.deliver(item_id, crashed._transport(target))
    assert fake_zendesk.ticket_count == 1
    assert (await shop.row(conversation_id)).leased_by == "worker-crashed"

    assert await survivor.deliver_due() == 0  # the lease still holds
    shop.clock.advance(LEASE.total_seconds() + 1)
    assert await survivor.deliver_due() == 1

    row = await shop.row(conversation_id)
    assert (row.status, row.leased_by, row.attempts) == ("delivered", "worker-2", 2)
    assert len(fake_zendesk.tickets_with_external_id(conversation_id)) == 1
    assert (await shop.conversation(conversation_id)).status == "with_team"


async def test_one_worker_delivers_several_handoffs_at_once_and_each_once(
    shop: Shop, fake_zendesk: ZendeskFake
) -> None:
    """A slow helpdesk does not hold the queue to one ticket at a time: up to `outbox_concurrency` creates are in
    flight together, and each handoff still makes exactly one ticket."""
    await shop.connect("zendesk", ZENDESK_TOKEN)
    shop.settings = shop.settings.model_copy(update={"outbox_concurrency": 4})
    conversation_ids = [await shop.hand_off(f"at-once{i}@example.com") for i in range(8)]
    fake_zendesk.slow_delay = 0.3  # under the worker's 0.5 s timeout
    fake_zendesk.fail_next("slow", 8, method="POST", path="/api/v2/tickets.json")

    assert await shop.worker().deliver_due() == 8

    assert fake_zendesk.most_in_flight == 4
    assert len(fake_zendesk.requests_to("POST", "/api/v2/tickets.json")) == 8
    assert all(len(fake_zendesk.tickets_with_external_id(c)) == 1 for c in conversation_ids)
    assert {(await shop.row(c)).status for c in conversation_ids} == {"delivered"}


async def test_deliveries_started_together_never_spend_more_than_the_budget_holds(
    shop: Shop, fake_zendesk: ZendeskFake
) -> None:
    """The plan's rate limit holds with several deliveries in flight: a budget with one request left lets one ticket
    go, and the other handoffs wait for the refill instead of all starting on that one token."""
    await shop.connect("zendesk", ZENDESK_TOKEN)
    shop.settings = shop.settings.model_copy(update={"outbox_concurrency": 8, "zendesk_rate_per_minute": 20})
    for i in range(5):
        await shop.hand_off(f"budget{i}@example.com")
    worker = shop.worker()  # a burst of 1 request, refilled slowly; the clock does not move

    assert await worker.deliver_due() == 1
    assert len(fake_zendesk.requests_to("POST", "/api/v2/tickets.json")) == 1
    assert await shop.pending() == 4

    shop.clock.advance(60)  # a minute's refill
    assert await worker.deliver_due() >= 1


async def test_two_workers_over_fifty_handoffs_make_fifty_tickets_and_no_duplicate(
    shop: Shop, fake_zendesk: ZendeskFake, database_url: str
) -> None:
    await shop.connect("zendesk", ZENDESK_TOKEN)
    conversation_ids = [await shop.hand_off(f"shopper{i}@example.com") for i in range(50)]
    # Two engines, as two processes would have: on PostgreSQL they claim with SKIP LOCKED.
    first, second = Database(database_url), Database(database_url)
    try:
        a, b = shop.worker("worker-a", first), shop.worker("worker-b", second)
        for _ in range(30):
            await asyncio.gather(a.deliver_due(), b.deliver_due())
            if not await shop.pending():
                break
            shop.clock.advance(10)  # the request budgets refill
        assert await shop.pending() == 0
    finally:
        await first.dispose()
        await second.dispose()

    assert fake_zendesk.ticket_count == 50
    assert all(len(fake_zendesk.tickets_with_external_id(c)) == 1 for c in conversation_ids)
    creates = fake_zendesk.requests_to("POST", "/api/v2/tickets.json")
    assert len(creates) == 50  # no row was sent twice
    rows = [await shop.row(c) for c in conversation_ids]
    assert {r.leased_by for r in rows} == {"worker-a", "worker-b"}  # both did their share
    assert all(r.status == "delivered" for r in rows)


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
