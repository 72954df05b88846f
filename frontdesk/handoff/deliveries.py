"""The outbox's deliveries to a helpdesk: the handoff's ticket (created exactly once, in the built-in inbox, Zendesk or
Gorgias, then recorded with the conversation's status change and the shopper's notice) and the shopper's later
messages added to it. The connectors (`connectors/`) hold each helpdesk's URLs and payloads; `every_delivery`
registers these, the inbox's emails and the channels' own rows (texts) for the outbox worker."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime

import httpx
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from frontdesk.config import Settings
from frontdesk.handoff import service as handoff
from frontdesk.handoff.connectors import accounts, gorgias, zendesk
from frontdesk.handoff.connectors.base import Connector, NotConnected, TicketRef, TicketRequest
from frontdesk.handoff.connectors.builtin import NAME as BUILTIN
from frontdesk.handoff.connectors.builtin import BuiltinConnector
from frontdesk.inbox import emails, mail
from frontdesk.inbox import service as inbox
from frontdesk.outbox import service as outbox
from frontdesk.outbox.delivery import Deliveries, Delivery, RequestBudget, Waiting
from frontdesk.outbox.models import OutboxItem
from frontdesk.outbox.service import OutboxStatus
from frontdesk.outbox.worker import OutboxWorker, worker_name
from frontdesk.realtime.bus import INBOX_TOPIC, EventBus, conversation_topic
from frontdesk.transcripts import service as conversations
from frontdesk.transcripts.channel import Channels, Continuation
from frontdesk.transcripts.models import Conversation, Message
from frontdesk.transcripts.state import Status, Transition, can
from frontdesk.users import service as users
from frontdesk.vault import Vault

# Requests one delivery may still make once the budget said yes (search, create; get, add): kept out of the rate.
REQUESTS_PER_DELIVERY = 3
TEAM_JOINS = "A person from our team will join this chat shortly."
FOLLOW_UP_HERE = "A person from our team will follow up here."
REPLY_BY_EMAIL = "Our team will reply by email to {address}."


def budgets_from(settings: Settings) -> dict[str, RequestBudget]:
    """Budgets that keep each worker process under each helpdesk plan's limit (its connector knows how the helpdesk
    counts), leaving room for the further requests of the deliveries in flight."""
    in_flight = (REQUESTS_PER_DELIVERY - 1) * settings.outbox_concurrency  # the first is paid when claimed
    return {
        zendesk.NAME: zendesk.request_budget(settings.zendesk_rate_per_minute, in_flight),
        gorgias.NAME: gorgias.request_budget(settings.gorgias_rate_per_20s, in_flight),
    }


@dataclass
class Delivered:
    """What a delivery committed, for the events published after it."""

    conversation_id: str
    messages: list[Message] = field(default_factory=list)
    statuses: list[str] = field(default_factory=list)
    alert: bool = False


@dataclass
class Tickets:
    """The `handoff` row: the conversation's ticket at its target, exactly once."""

    sessions: async_sessionmaker[AsyncSession]
    bus: EventBus
    presence: inbox.Presence
    clock: Callable[[], datetime]
    wake: asyncio.Event
    vault: Vault | None  # None: helpdesk credentials cannot be read, so zendesk/gorgias rows wait
    settings: Settings
    # How each channel carries the notices of a handoff (SMS: texts), and the live topic's wire format.
    channels: Channels

    async def connector(self, session: AsyncSession, target: str, transport: httpx.AsyncBaseTransport) -> Connector:
        """The target's connector, its HTTP requests through `transport` (the worker's, which spends the budget)."""
        if target == BUILTIN:
            return BuiltinConnector(self.sessions, self.clock)
        if self.vault is None:
            raise NotConnected(target)
        return await accounts.connector_for(
            session, target, self.vault, self.settings, self.sessions, transport=transport
        )

    async def _request(self, session: AsyncSession, conversation: Conversation, upto_seq: int | None) -> TicketRequest:
        """The ticket as every target receives it: the transcript up to the handoff, and who the shopper is."""
        content = await conversations.ticket_content(session, conversation.id, self.settings.public_url, upto_seq)
        return replace(
            await request_of_contact(session, conversation),
            subject=content.subject,
            text=content.text,
            html=content.html,
            link=f"{self.settings.public_url.rstrip('/')}/console/conversations/{conversation.id}",
        )

    async def deliver(self, item_id: int, transport: httpx.AsyncBaseTransport) -> None:
        """Create the ticket with no database connection held (SQLite has one, and a helpdesk can take seconds),
        then record it, the status change and the shopper's notice in one transaction."""
        async with self.sessions() as session:
            item = await session.get(OutboxItem, item_id)
            if item is None or item.status != "pending":
                return
            conversation = await conversations.get(session, item.conversation_id)
            request = await self._request(session, conversation, item.transcript_seq)
            key = item.idempotency_key or f"fd-{item.id}-{item.conversation_id}"
            search_first = item.outcome_unknown
            connector = await self.connector(session, item.target, transport)
            await session.commit()
        try:
            ref = await connector.create_ticket(request, key, search_first=search_first)
        finally:
            await connector.aclose()
        done = await conversations.retrying(self.sessions, lambda s: self._record_ticket(s, item_id, ref))
        if done is not None:
            await self._publish(done)

    async def _record_ticket(self, session: AsyncSession, item_id: int, ref: TicketRef) -> Delivered | None:
        item = await session.get(OutboxItem, item_id)
        if item is None or item.status != "pending":
            return None  # another worker, whose lease this one outlived, recorded the same ticket already
        now = self.clock()
        outbox.finish(item, OutboxStatus.delivered, now, ticket_ref=str(ref))
        conversation = await conversations.get(session, item.conversation_id)
        done = Delivered(conversation.id)
        # The shopper's messages queued while the ticket did not exist may go now, in seq order.
        await session.execute(
            update(OutboxItem)
            .where(OutboxItem.conversation_id == conversation.id, OutboxItem.status == "pending")
            .where(OutboxItem.kind.like(f"{handoff.TICKET_MESSAGE}:%"))
            .values(next_attempt_at=now)
        )
        if not can(conversation, Transition.ticket_created):
            return done  # closed (or taken back) meanwhile: the ticket is recorded, the conversation stays as it is
        await conversations.ticket_created(session, conversation, str(ref))
        done.statuses.append(Status.with_team.value)
        channel = self.channels.of(conversation)
        if item.target == BUILTIN:
            await self._builtin_notice(session, conversation, done)
        elif channel.after_handoff(item.target) is Continuation.by_email and conversation.email:
            # The helpdesk answers by email (Gorgias, for web chat; DESIGN: "the chat ends"): the shopper is told
            # where, and the conversation is closed here, so nothing more waits for an answer in the chat.
            text = REPLY_BY_EMAIL.format(address=conversation.email)
            done.messages.append(
                await conversations.insert_message(session, conversation, "system", text, kind="notice")
            )
            await conversations.transition(session, conversation, Transition.close, "continues by email", "worker")
            done.statuses.append(Status.closed.value)
        else:
            text = FOLLOW_UP_HERE
            done.messages.append(
                await conversations.insert_message(session, conversation, "system", text, kind="notice")
            )
        if await channel.deliver(session, conversation, done.messages, now):
            self.wake.set()  # set during a pass: the next pass starts at once and sends them
        return done

    async def _builtin_notice(self, session: AsyncSession, conversation: Conversation, done: Delivered) -> None:
        """Who will answer in the built-in inbox: a person now, the auto-response, or the office-hours message; and
        an email alert to the team when nobody can take it."""
        ticket = await inbox.open_ticket(
            session, conversation.id, conversation.handoff_reason or "handoff", self.clock()
        )
        settings = await handoff.get_settings(session)
        now = self.clock()
        text = handoff.team_notice(settings, now, await self.presence.online() > 0) or TEAM_JOINS
        ticket.auto_response_on = now.date().isoformat() if text != TEAM_JOINS else None
        done.messages.append(await conversations.insert_message(session, conversation, "system", text, kind="notice"))
        done.alert = text != TEAM_JOINS and bool(await users.team_emails(session))
        if done.alert:
            await emails.enqueue_email(session, conversation.id, emails.TEAM_ALERT, now)

    async def _publish(self, done: Delivered) -> None:
        if done.alert:
            self.wake.set()  # the team alert is committed: the next pass sends it
        if done.statuses:
            self.wake.set()  # the ticket exists: the shopper's waiting messages may go now
        topic = conversation_topic(done.conversation_id)
        for message in done.messages:
            await self.bus.publish(topic, self.channels.event_of(message))
        for status in done.statuses:
            await self.bus.publish(topic, {"type": "status", "status": status})
            await self.bus.publish(INBOX_TOPIC, {"type": "conversation", "conversation_id": done.conversation_id,
                                                 "status": status})  # fmt: skip


@dataclass
class TicketMessages:
    """A `ticket_message:<seq>` row: a shopper's later message onto the conversation's ticket."""

    sessions: async_sessionmaker[AsyncSession]
    clock: Callable[[], datetime]
    tickets: Tickets

    async def deliver(self, item_id: int, transport: httpx.AsyncBaseTransport) -> None:
        """A shopper's later message onto the conversation's ticket, once the ticket exists and the messages before
        it are there."""
        async with self.sessions() as session:
            item = await session.get(OutboxItem, item_id)
            if item is None or item.status != "pending":
                return
            seq = handoff.ticket_message_seq(item.kind)
            ticket = await session.scalar(
                select(OutboxItem).where(
                    OutboxItem.conversation_id == item.conversation_id, OutboxItem.kind == handoff.HANDOFF
                )
            )
            if ticket is None or ticket.status != "delivered" or not ticket.ticket_ref:
                raise Waiting("waiting for the ticket to be created")
            earlier = await session.scalars(
                select(OutboxItem.kind).where(
                    OutboxItem.conversation_id == item.conversation_id,
                    OutboxItem.status == "pending",
                    OutboxItem.kind.like(f"{handoff.TICKET_MESSAGE}:%"),
                )
            )
            if any((handoff.ticket_message_seq(kind) or 0) < (seq or 0) for kind in earlier.all()):
                raise Waiting("waiting for the shopper's earlier messages to reach the ticket")
            message = await session.scalar(
                select(Message).where(Message.conversation_id == item.conversation_id, Message.seq == seq)
            )
            conversation = await conversations.get(session, item.conversation_id)
            ref = TicketRef(ticket.ticket_ref.partition("-")[2], ticket.target)
            request = await request_of_contact(session, conversation)
            connector = await self.tickets.connector(session, item.target, transport)
            outcome_unknown = item.outcome_unknown
            await session.commit()
        comment_id: str | None = None
        try:
            if message is not None:
                if outcome_unknown:
                    comment_id = await connector.find_message(ref, message.text)
                if comment_id is None:
                    comment_id = await connector.add_message(ref, message.text, request)
        finally:
            await connector.aclose()
        async with self.sessions() as session:
            item = await session.get(OutboxItem, item_id)
            if item is not None and item.status == "pending":
                if message is None:
                    outbox.finish(item, OutboxStatus.skipped, self.clock(), error=f"message {seq} is gone")
                else:
                    outbox.finish(item, OutboxStatus.delivered, self.clock(), ticket_ref=str(ref))
                if comment_id:
                    # The helpdesk's trigger sends this comment back as if an agent wrote it: the relay knows it by id.
                    await handoff.record_own_comment(
                        session, item.target, comment_id, item.conversation_id, self.clock()
                    )
            await session.commit()


async def request_of_contact(session: AsyncSession, conversation: Conversation) -> TicketRequest:
    """Who writes a later message (the helpdesks need the shopper, not the transcript)."""
    profile = await conversations.profile_of(session, conversation)
    return TicketRequest(
        conversation_id=conversation.id, subject="", text="", html="",
        email=conversation.email or (profile.email if profile else None),
        phone=profile.phone if profile else None, name=profile.name if profile else None,
        profile_id=conversation.profile_id, channel=conversation.channel,
        reason=conversation.handoff_reason or "handoff", link="",
    )  # fmt: skip


def every_delivery(
    sessions: async_sessionmaker[AsyncSession],
    bus: EventBus,
    presence: inbox.Presence,
    clock: Callable[[], datetime],
    wake: asyncio.Event,
    mailer: mail.Mailer | None = None,
    links: conversations.ResumeLinks | None = None,
    vault: Vault | None = None,
    settings: Settings | None = None,
    channels: Channels | None = None,
    store_name: Callable[[AsyncSession], Awaitable[str]] | None = None,
) -> Deliveries:
    """Every kind of outbox row this process sends: tickets and ticket messages, the inbox's emails, and the rows the
    channels send themselves (texts); with the request budgets of the helpdesks."""
    settings = settings or Settings()
    channels = channels or Channels()
    tickets = Tickets(sessions, bus, presence, clock, wake, vault, settings, channels)
    email = emails.Emails(sessions, clock, mailer, links, store_name)
    by_kind: dict[str, Delivery] = {
        handoff.HANDOFF: tickets,
        handoff.TICKET_MESSAGE: TicketMessages(sessions, clock, tickets),
        **dict.fromkeys(emails.KINDS, email),
        **channels.deliveries(),
    }
    return Deliveries(by_kind, budgets_from(settings))


def outbox_worker(
    sessions: async_sessionmaker[AsyncSession],
    bus: EventBus,
    presence: inbox.Presence,
    clock: Callable[[], datetime],
    wake: asyncio.Event,
    mailer: mail.Mailer | None = None,
    links: conversations.ResumeLinks | None = None,
    vault: Vault | None = None,
    settings: Settings | None = None,
    worker_id: str | None = None,
    *,
    channels: Channels | None = None,
    store_name: Callable[[AsyncSession], Awaitable[str]] | None = None,
    request_timeout: float | None = None,
    jitter: Callable[[], float] = random.random,
) -> OutboxWorker:
    """An outbox worker running `every_delivery`: what `frontdesk serve` and `frontdesk worker` run."""
    settings = settings or Settings()
    deliveries = every_delivery(
        sessions, bus, presence, clock, wake, mailer, links, vault, settings, channels, store_name
    )
    return OutboxWorker(
        sessions, clock, wake, deliveries, settings, worker_id or worker_name(), request_timeout, jitter
    )
