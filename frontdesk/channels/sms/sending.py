"""Texts out: the outbox rows that carry a conversation's messages to the shopper's phone, the sender the outbox
worker runs for them, our own suppression list (never text a number that opted out), and Twilio's status callbacks.

A row `sms:<seq>` (target "sms") is queued in the transaction that stores message `seq`; the worker reads the
message, the shopper's phone and the Twilio account in one session, calls Twilio with no database connection held,
and records the outbound `SmsMessage` (Twilio's SID) with the row in another. A crash in between sends the text
again on the next pass: twice rather than never, as with email.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

import httpx
from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from frontdesk import credentials as stored
from frontdesk.channels.sms.models import SmsMessage, SmsSuppression, SmsThread
from frontdesk.channels.sms.twilio_client import OPTED_OUT, OptedOut, SentMessage, TwilioClient
from frontdesk.config import Settings
from frontdesk.credentials import TwilioCredentials
from frontdesk.db import utcnow
from frontdesk.handoff.connectors.base import NotConnected
from frontdesk.outbox import service as outbox
from frontdesk.outbox.models import OutboxItem
from frontdesk.outbox.service import OutboxStatus
from frontdesk.transcripts.models import Conversation, Message, Profile
from frontdesk.vault import Vault

log = logging.getLogger("frontdesk.sms")
SMS_TARGET = "sms"
SMS_KIND = "sms"
STATUS_PATH = "/channels/sms/twilio/status"
# Twilio's statuses of an outbound text in the order they happen; callbacks may arrive out of order (a "sent" after
# its "delivered"), so a status only ever moves forward. The last rank is final.
_RANKS = {
    "accepted": 0, "scheduled": 0, "queued": 0, "sending": 1, "sent": 2,
    "delivered": 3, "undelivered": 3, "failed": 3, "canceled": 3, "read": 4,
}  # fmt: skip


def sms_kind(seq: int) -> str:
    return f"{SMS_KIND}:{seq}"


def sms_seq(kind: str) -> int | None:
    """The message seq of an `sms:<seq>` kind; None for any other kind."""
    prefix, _, seq = kind.partition(":")
    return int(seq) if prefix == SMS_KIND and seq.isdigit() else None


def status_callback_url(settings: Settings) -> str:
    """Where Twilio reports a text's delivery; its signature is computed over exactly this URL."""
    return f"{settings.public_url.rstrip('/')}{STATUS_PATH}"


async def enqueue_sms(session: AsyncSession, conversation_id: str, seq: int, now: datetime) -> None:
    """Text message `seq` of an SMS conversation to the shopper, from the outbox, in the caller's transaction (wake
    the worker after the commit). Queued again, the same message is not texted a second time."""
    await outbox.enqueue(session, conversation_id, sms_kind(seq), SMS_TARGET, now, again=False)


async def is_suppressed(session: AsyncSession, phone: str) -> bool:
    return await session.scalar(select(SmsSuppression.phone).where(SmsSuppression.phone == phone)) is not None


async def suppress(session: AsyncSession, phone: str, keyword: str, now: datetime | None = None) -> None:
    """Put `phone` (E.164) on the suppression list, in the caller's transaction; `keyword` is what the shopper sent
    (STOP, QUIT, …) or "21610" when Twilio refused a text. Already there: it keeps its first date and keyword, and a
    concurrent STOP for the same number does not fail."""
    values = {"phone": phone, "keyword": keyword.strip().upper()[:16] or "STOP", "since": now or utcnow()}
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    await session.execute(insert(SmsSuppression).values(**values).on_conflict_do_nothing(index_elements=["phone"]))
    log.info("%s suppressed (%s)", phone, values["keyword"])


async def unsuppress(session: AsyncSession, phone: str) -> bool:
    """Take `phone` off the list (START, YES, UNSTOP); says whether it was on it."""
    result = await session.execute(delete(SmsSuppression).where(SmsSuppression.phone == phone))
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def shopper_phone(session: AsyncSession, conversation_id: str) -> str | None:
    """The phone an SMS conversation texts: the thread that points at it, else its profile's phone (the shopper may
    have started a newer conversation since, and an agent still answers this one)."""
    phone = await session.scalar(
        select(SmsThread.phone)
        .where(SmsThread.conversation_id == conversation_id)
        .order_by(SmsThread.updated_at.desc())
        .limit(1)
    )
    if phone is not None:
        return phone
    return await session.scalar(
        select(Profile.phone)
        .join(Conversation, Conversation.profile_id == Profile.id)
        .where(Conversation.id == conversation_id)
    )


async def record_status(session: AsyncSession, params: Mapping[str, str]) -> bool:
    """Apply a Twilio status callback (already verified by its signature) to the outbound text it names; says
    whether anything changed. Unknown SIDs and statuses that would move a text backwards change nothing. The caller
    commits."""
    sid = params.get("MessageSid") or params.get("SmsSid") or ""
    status = (params.get("MessageStatus") or params.get("SmsStatus") or "").strip().lower()
    if not sid or status not in _RANKS:
        return False
    message = await session.scalar(
        select(SmsMessage).where(SmsMessage.message_sid == sid, SmsMessage.direction == "out")
    )
    if message is None:
        return False
    if _RANKS[status] <= _RANKS.get(message.status, -1) and status != message.status:
        return False
    code = params.get("ErrorCode", "").strip()
    error_code = int(code) if code.isdigit() else None
    if status == message.status and error_code in (None, message.error_code):
        return False
    message.status = status
    if error_code is not None:
        message.error_code = error_code
    if error_code == OPTED_OUT:
        await suppress(session, message.to_number, str(OPTED_OUT))
    await session.flush()
    return True


@dataclass(frozen=True)
class _Text:
    conversation_id: str
    seq: int
    to: str
    body: str


@dataclass
class SmsSender:
    """Delivers one `sms:<seq>` outbox row for the worker, which holds its lease and handles what is raised:
    NotConnected waits for Twilio to be connected, a rejected text is dead at once, 429/5xx/network are retried
    (never before Twilio's Retry-After). A suppressed number is skipped, before and after asking Twilio."""

    sessions: async_sessionmaker[AsyncSession]
    vault: Vault | None
    settings: Settings
    clock: Callable[[], datetime]

    async def deliver(self, item_id: int, transport: httpx.AsyncBaseTransport | None = None) -> None:
        async with self.sessions() as session:
            item = await session.get(OutboxItem, item_id)
            if item is None or item.status != "pending":
                return
            text = await self._text(session, item)
            credentials = None
            if not isinstance(text, str) and self.vault is not None:
                credentials = await stored.twilio_credentials(session, self.vault)
            await session.commit()
        if isinstance(text, str):
            await self._finish(item_id, skipped=text)
            return
        if credentials is None:
            raise NotConnected(stored.TWILIO)
        client = TwilioClient(credentials, self.settings.twilio_api_base, transport)
        try:
            sent = await client.send(text.to, text.body, status_callback_url(self.settings))
        except OptedOut as exc:
            # Twilio knows of a STOP we never saw (sent to another of the store's numbers, or before frontdesk).
            await self._finish(item_id, skipped=f"not sent: {text.to} has opted out (Twilio error 21610)", opted=text)
            log.info("%s opted out at Twilio: %s", text.to, exc.message)
            return
        finally:
            await client.aclose()
        await self._finish(item_id, sent=(text, sent, credentials))

    async def _text(self, session: AsyncSession, item: OutboxItem) -> _Text | str:
        """What to text and to whom, or why nothing is sent (the reason a skipped row shows)."""
        seq = sms_seq(item.kind)
        if seq is None:
            raise RuntimeError(f"no text of the kind {item.kind!r}")
        message = await session.scalar(
            select(Message).where(Message.conversation_id == item.conversation_id, Message.seq == seq)
        )
        if message is None:
            return f"message {seq} is gone"
        if message.author == "shopper":
            return f"message {seq} is the shopper's own"
        phone = await shopper_phone(session, item.conversation_id)
        if phone is None:
            return "the conversation has no phone number"
        if await is_suppressed(session, phone):
            return f"not sent: {phone} has opted out (STOP)"
        return _Text(item.conversation_id, seq, phone, message.text)

    async def _finish(
        self,
        item_id: int,
        *,
        skipped: str | None = None,
        opted: _Text | None = None,
        sent: tuple[_Text, SentMessage, TwilioCredentials] | None = None,
    ) -> None:
        now = self.clock()
        async with self.sessions() as session:
            if opted is not None:
                await suppress(session, opted.to, str(OPTED_OUT), now)
            if sent is not None:
                # Recorded even when the row was taken meanwhile by a worker whose lease this one outlived: the text
                # went, so its status callbacks must find it.
                text, answer, credentials = sent
                session.add(SmsMessage(
                    conversation_id=text.conversation_id, seq=text.seq, direction="out", message_sid=answer.sid,
                    from_number=answer.from_ or credentials.sender, to_number=text.to, body=text.body,
                    status=answer.status if answer.status in _RANKS else "queued", created_at=now, updated_at=now,
                ))  # fmt: skip
            item = await session.get(OutboxItem, item_id)
            if item is not None and item.status == OutboxStatus.pending:
                if sent is not None:
                    outbox.finish(item, OutboxStatus.delivered, now, ticket_ref=sent[1].sid)
                else:
                    outbox.finish(item, OutboxStatus.skipped, now, error=skipped)
            await session.commit()
