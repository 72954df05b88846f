"""Email out: the outbox rows of the `email` target (an agent's reply to a shopper who left, an alert to the team, the
shopper's copy of the chat), how they are queued, and their delivery: composed in one session, sent over SMTP with no
database connection held, recorded in another."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage

import httpx
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from frontdesk.inbox import mail
from frontdesk.inbox.models import InboxTicket
from frontdesk.outbox import service as outbox
from frontdesk.outbox.models import OutboxItem
from frontdesk.outbox.service import OutboxStatus
from frontdesk.transcripts import service as conversations
from frontdesk.transcripts.models import Message
from frontdesk.transcripts.transcript import iso
from frontdesk.users import service as users

EMAIL_TARGET = "email"
REPLY_EMAIL, TEAM_ALERT, TRANSCRIPT = "reply_email", "team_alert", "transcript"  # outbox kinds of the email target
KINDS = (REPLY_EMAIL, TEAM_ALERT, TRANSCRIPT)
#: How soon a shopper may have their transcript sent again (a chat is not a way to mail anyone anything, often).
TRANSCRIPT_AGAIN = timedelta(minutes=10)


def reply_email_kind(seq: int) -> str:
    return f"{REPLY_EMAIL}:{seq}"


async def enqueue_email(session: AsyncSession, conversation_id: str, kind: str, now: datetime) -> OutboxItem:
    """An email for the outbox worker (`reply_email:<seq>` or `team_alert`), in the caller's transaction: a reply
    stored is a reply sent, even when SMTP is down at the time. Enqueued again (a team alert for a new handoff after
    a hand back), the conversation's row of that kind is sent again."""
    return await outbox.enqueue(session, conversation_id, kind, EMAIL_TARGET, now)


async def enqueue_transcript(session: AsyncSession, conversation_id: str, now: datetime) -> bool:
    """The shopper's copy of their chat, by email, in the caller's transaction; False (nothing queued) when one was
    queued or sent less than TRANSCRIPT_AGAIN ago."""
    earlier = await session.scalar(
        select(OutboxItem).where(OutboxItem.conversation_id == conversation_id, OutboxItem.kind == TRANSCRIPT)
    )
    if earlier is not None:
        last = earlier.delivered_at or earlier.created_at
        if earlier.status == outbox.OutboxStatus.pending or (last is not None and now - last < TRANSCRIPT_AGAIN):
            return False
    await outbox.enqueue(session, conversation_id, TRANSCRIPT, EMAIL_TARGET, now)
    return True


@dataclass
class Emails:
    """The delivery of every email row."""

    sessions: async_sessionmaker[AsyncSession]
    clock: Callable[[], datetime]
    mailer: mail.Mailer | None = None  # None: email is not configured
    links: conversations.ResumeLinks | None = None
    # The store's name as emails sign it (a setting of the web chat's, handed in so the core names no channel).
    store_name: Callable[[AsyncSession], Awaitable[str]] | None = None

    async def deliver(self, item_id: int, transport: httpx.AsyncBaseTransport) -> None:
        """Compose in one session, send with no database connection held (SMTP can take seconds), then record it.
        A crash between sending and recording sends the email again: twice is better than never. (SMTP, not HTTP: the
        transport is not used.)"""
        configured = self.mailer is not None and bool(self.mailer.host)
        async with self.sessions() as session:
            item = await session.get(OutboxItem, item_id)
            if item is None or item.status != "pending":
                return
            kind, conversation_id = item.kind, item.conversation_id
            if not configured and kind == TEAM_ALERT:
                # An alert is about now: sent hours later, when SMTP is set up, it would only mislead. A reply to a
                # shopper waits instead (below), and goes out once email is set up.
                outbox.finish(item, OutboxStatus.skipped, self.clock(), error=f"not sent: {mail.NOT_CONFIGURED}")
                await session.commit()
                return
            if not configured:
                raise mail.EmailNotConfigured(mail.NOT_CONFIGURED)
            composed = await self._compose(session, kind, conversation_id)
            await session.commit()
        if isinstance(composed, EmailMessage):
            assert self.mailer is not None
            await self.mailer.send(composed)
        now = self.clock()
        async with self.sessions() as session:
            item = await session.get(OutboxItem, item_id)
            if item is None or item.status != OutboxStatus.pending:
                return  # another worker, whose lease this one outlived, recorded it already
            if not isinstance(composed, EmailMessage):
                outbox.finish(item, OutboxStatus.skipped, now, error=f"not sent: {composed}")
            else:
                outbox.finish(item, OutboxStatus.delivered, now)
                if kind == TEAM_ALERT:
                    alerted = update(InboxTicket).where(InboxTicket.conversation_id == conversation_id)
                    await session.execute(alerted.values(team_alerted_at=now))
            await session.commit()

    async def _compose(self, session: AsyncSession, kind: str, conversation_id: str) -> EmailMessage | str:
        """The email of an outbox row, or why there is nothing (left) to send."""
        if self.links is None or self.store_name is None:
            raise RuntimeError(
                "the worker needs the resume links (and the public URL) and the store's name to send email"
            )
        conversation = await conversations.get(session, conversation_id)
        store = await self.store_name(session)
        now = self.clock()
        if kind == TEAM_ALERT:
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
        if kind == TRANSCRIPT:
            if not conversation.email:
                return "the shopper left no email address"
            messages = await conversations.messages_after(session, conversation_id, 0)
            lines = [mail.ChatLine(iso(m.created_at), _seen_as(m), m.text) for m in messages if m.kind != "csat"]
            return mail.transcript_email(store, conversation.email, lines)
        prefix, _, seq = kind.partition(":")
        if prefix != REPLY_EMAIL or not seq.isdigit():
            raise RuntimeError(f"no email of the kind {kind!r}")
        if not conversation.email:
            return "the shopper left no email address"
        reply = await session.scalar(
            select(Message).where(Message.conversation_id == conversation_id, Message.seq == int(seq))
        )
        if reply is None:
            return f"message {seq} is gone"
        return mail.reply_email(store, conversation.email, reply.text, self.links.link(conversation_id, now))


def _seen_as(message: Message) -> str:
    """Who said a message, as the shopper saw it in the chat."""
    if message.author == "agent":
        agent = (message.meta or {}).get("agent")
        return f"{agent} (our team)" if isinstance(agent, str) and agent else "Our team"
    return {"shopper": "You", "ai": "Assistant"}.get(message.author, "Notice")
