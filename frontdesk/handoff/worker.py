"""The outbox worker: delivers accepted handoffs to their target, once, and sends the inbox's emails (an agent's
reply to a shopper who left, an alert to the team), retrying each until its target is reachable."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from frontdesk.channels.webchat import service as webchat
from frontdesk.conversations import service as conversations
from frontdesk.conversations.models import Message
from frontdesk.conversations.state import Status, Transition
from frontdesk.handoff import service as handoff
from frontdesk.handoff.flow import message_event
from frontdesk.handoff.models import OutboxItem
from frontdesk.inbox import mail
from frontdesk.inbox import service as inbox
from frontdesk.inbox.models import InboxTicket
from frontdesk.realtime.bus import INBOX_TOPIC, EventBus, conversation_topic
from frontdesk.users import service as users

log = logging.getLogger("frontdesk.worker")
LEASE = timedelta(seconds=60)
BASE_DELAY = 2.0
MAX_DELAY = 600.0
NOT_CONFIGURED_DELAY = 600.0  # SMTP missing from the settings: look again now and then, the rows wait for it
POLL_SECONDS = 5.0
BATCH = 20
TEAM_JOINS = "A person from our team will join this chat shortly."


@dataclass
class OutboxWorker:
    sessions: async_sessionmaker[AsyncSession]
    bus: EventBus
    presence: inbox.Presence
    clock: Callable[[], datetime]
    wake: asyncio.Event
    mailer: mail.Mailer | None = None  # None: email is not configured
    links: conversations.ResumeLinks | None = None

    async def run(self) -> None:
        """Deliver what is due, then sleep until woken by a new handoff or the next poll."""
        while True:
            # Cleared before the pass, so a handoff accepted during the pass wakes the next one at once.
            self.wake.clear()
            try:
                await self.deliver_due()
            except Exception:  # the worker must outlive any one bad row or a database hiccup
                log.exception("outbox pass failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), POLL_SECONDS)

    async def deliver_due(self) -> int:
        delivered = 0
        for item_id in await self._due():
            if await self._claim(item_id):
                delivered += await self._deliver(item_id)
        return delivered

    async def _due(self) -> list[int]:
        now = self.clock()
        async with self.sessions() as session:
            rows = await session.scalars(
                select(OutboxItem.id)
                .where(OutboxItem.status == "pending", OutboxItem.next_attempt_at <= now)
                .where(or_(OutboxItem.lease_until.is_(None), OutboxItem.lease_until < now))
                .order_by(OutboxItem.next_attempt_at)
                .limit(BATCH)
            )
            return list(rows.all())

    async def _claim(self, item_id: int) -> bool:
        """Take a lease on the row; another worker (or process) that tries at the same time gets nothing."""
        now = self.clock()
        async with self.sessions() as session:
            result = await session.execute(
                update(OutboxItem)
                .where(OutboxItem.id == item_id, OutboxItem.status == "pending")
                .where(or_(OutboxItem.lease_until.is_(None), OutboxItem.lease_until < now))
                .values(lease_until=now + LEASE, attempts=OutboxItem.attempts + 1)
            )
            await session.commit()
            return result.rowcount == 1  # type: ignore[attr-defined]

    async def _deliver(self, item_id: int) -> int:
        try:
            async with self.sessions() as session:
                target = await session.scalar(select(OutboxItem.target).where(OutboxItem.id == item_id))
            if target == handoff.EMAIL_TARGET:
                await self._send_email(item_id)
                return 1
            out, status, alert = await conversations.retrying(self.sessions, lambda s: self._deliver_in(s, item_id))
        except Exception as exc:
            await self._failed(item_id, exc)
            return 0
        if alert:
            self.wake.set()  # the team alert is committed: the next pass sends it
        if out:
            conversation_id = out[0].conversation_id
            for message in out:
                await self.bus.publish(conversation_topic(conversation_id), message_event(message))
            await self.bus.publish(conversation_topic(conversation_id), {"type": "status", "status": status})
            await self.bus.publish(INBOX_TOPIC, {"type": "conversation", "conversation_id": conversation_id,
                                                 "status": status})  # fmt: skip
        return 1

    async def _deliver_in(self, session: AsyncSession, item_id: int) -> tuple[list[Message], str, bool]:
        """Deliver a handoff; also says whether a team alert was queued (nobody available to take it)."""
        item = await session.get(OutboxItem, item_id)
        if item is None or item.status != "pending":
            return [], "", False
        conversation = await conversations.get(session, item.conversation_id)
        reason = conversation.handoff_reason or "handoff"
        if item.target != "builtin":
            raise RuntimeError(f"no connector for {item.target!r} yet")
        ticket = await inbox.open_ticket(session, conversation.id, reason, self.clock())
        item.status, item.ticket_ref, item.delivered_at, item.lease_until = "delivered", ticket.ref, self.clock(), None
        conversation.ticket_ref = ticket.ref
        await conversations.transition(
            session, conversation, Transition.ticket_created, f"ticket {ticket.ref}", "worker"
        )
        settings = await handoff.get_settings(session)
        now = self.clock()
        if not handoff.team_is_open(settings, now):
            text = settings.office_hours_message
        elif self.presence.online:
            text = TEAM_JOINS
        else:
            text = settings.auto_response
        ticket.auto_response_on = now.date().isoformat() if text != TEAM_JOINS else None
        message = await conversations.insert_message(session, conversation, "system", text, kind="notice")
        alert = text != TEAM_JOINS and bool(await users.team_emails(session))
        if alert:
            await handoff.enqueue_email(session, conversation.id, handoff.TEAM_ALERT, now)
        return [message], Status.with_team.value, alert

    async def _send_email(self, item_id: int) -> None:
        """Compose in one session, send with no database connection held (SMTP can take seconds), then record it.
        A crash between sending and recording sends the email again: twice is better than never."""
        if self.mailer is None or not self.mailer.host:
            raise mail.EmailNotConfigured(mail.NOT_CONFIGURED)
        async with self.sessions() as session:
            item = await session.get(OutboxItem, item_id)
            if item is None or item.status != "pending":
                return
            kind, conversation_id = item.kind, item.conversation_id
            composed = await self._compose(session, kind, conversation_id)
            await session.commit()
        if isinstance(composed, EmailMessage):
            await self.mailer.send(composed)
        now = self.clock()
        async with self.sessions() as session:
            item = await session.get(OutboxItem, item_id)
            if item is None:
                return
            item.lease_until, item.delivered_at = None, now
            if not isinstance(composed, EmailMessage):
                item.status, item.last_error = "skipped", f"not sent: {composed}"
            else:
                item.status, item.last_error = "delivered", None
                if kind == handoff.TEAM_ALERT:
                    alerted = update(InboxTicket).where(InboxTicket.conversation_id == conversation_id)
                    await session.execute(alerted.values(team_alerted_at=now))
            await session.commit()

    async def _compose(self, session: AsyncSession, kind: str, conversation_id: str) -> EmailMessage | str:
        """The email of an outbox row, or why there is nothing (left) to send."""
        if self.links is None:
            raise RuntimeError("the worker needs the resume links (and the public URL) to send email")
        conversation = await conversations.get(session, conversation_id)
        store = (await webchat.get_settings(session)).store_name
        now = self.clock()
        if kind == handoff.TEAM_ALERT:
            ticket = await session.scalar(select(InboxTicket).where(InboxTicket.conversation_id == conversation_id))
            if ticket is None or ticket.state != "open":
                return "the conversation is no longer waiting in the inbox"
            if ticket.assignee_id is not None:
                return "an agent took the conversation before the alert went out"
            recipients = await users.team_emails(session)
            if not recipients:
                return "no active agent or admin to alert"
            first = await session.scalar(
                select(Message.text)
                .where(Message.conversation_id == conversation_id, Message.author == "shopper", Message.kind == "text")
                .order_by(Message.seq)
                .limit(1)
            )
            summary = mail.HandoffSummary(conversation_id, ticket.reason, first, conversation.email)
            return mail.team_alert(store, recipients, summary, f"{self.links.public_url}/inbox#{conversation_id}")
        prefix, _, seq = kind.partition(":")
        if prefix != handoff.REPLY_EMAIL or not seq.isdigit():
            raise RuntimeError(f"no email of the kind {kind!r}")
        if not conversation.email:
            return "the shopper left no email address"
        reply = await session.scalar(
            select(Message).where(Message.conversation_id == conversation_id, Message.seq == int(seq))
        )
        if reply is None:
            return f"message {seq} is gone"
        return mail.reply_email(store, conversation.email, reply.text, self.links.link(conversation_id, now))

    async def _failed(self, item_id: int, error: Exception) -> None:
        async with self.sessions() as session:
            item = await session.get(OutboxItem, item_id)
            if item is None:
                return
            if isinstance(error, mail.EmailNotConfigured):
                delay, item.last_error = NOT_CONFIGURED_DELAY, str(error)
            else:
                delay = min(MAX_DELAY, BASE_DELAY * 2 ** max(item.attempts - 1, 0)) * random.uniform(0.5, 1.0)
                item.last_error = f"{type(error).__name__}: {error}"[:2000]
            item.next_attempt_at = self.clock() + timedelta(seconds=delay)
            item.lease_until = None
            kind = item.kind
            await session.commit()
        log.warning("outbox row %s (%s) not delivered (attempt will be retried): %s", item_id, kind, error)
