"""Texts coming in from Twilio: which shopper (the phone, E.164) and which conversation they belong to, the keywords
Twilio documents (STOP and its synonyms, START, HELP), and answers shaped to fit a text message.

A text is taken at most once: its MessageSid is a unique `sms_messages` row written in the transaction that stores
the shopper's message, so a webhook Twilio delivers again finds it and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from frontdesk.channels.sms.models import SmsMessage, SmsThread
from frontdesk.channels.sms.sending import enqueue_sms, suppress, unsuppress
from frontdesk.channels.webchat import service as webchat
from frontdesk.transcripts import service as conversations
from frontdesk.transcripts.models import Conversation, Message
from frontdesk.transcripts.state import Status

if TYPE_CHECKING:
    from frontdesk.conversations.turn import ChatFlow

SMS = "sms"
MAX_ANSWER_CHARS = 320  # Twilio's advice for one message: longer texts arrive split, or not at all on some phones
OPT_OUT = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"})
OPT_IN = frozenset({"START", "YES", "UNSTOP"})
HELP = frozenset({"HELP", "INFO"})
HELP_REPLY = "{store}: text us your question and we'll answer here. Reply STOP to opt out. Msg&data rates may apply."
OPTED_IN_REPLY = "{store}: you're subscribed to our texts again. Reply HELP for help, STOP to opt out."


class Keyword(StrEnum):
    opt_out = "opt_out"
    opt_in = "opt_in"
    help = "help"


class Taken(StrEnum):
    """What became of an inbound text."""

    message = "message"  # stored as the shopper's message; the AI or the team answers it
    duplicate = "duplicate"  # this MessageSid was taken before
    opted_out = "opted_out"
    opted_in = "opted_in"
    help = "help"
    empty = "empty"  # no words (a picture alone): recorded, nothing to answer


def keyword_of(body: str) -> Keyword | None:
    """The keyword a text is, if its whole body (trimmed, any case) is one."""
    word = body.strip().upper()
    if word in OPT_OUT:
        return Keyword.opt_out
    if word in OPT_IN:
        return Keyword.opt_in
    if word in HELP:
        return Keyword.help
    return None


def sms_answer(text: str, url: str | None, limit: int = MAX_ANSWER_CHARS) -> str:
    """An answer as a text: the answer, then the entry's full link on a line of its own, where the rest can be read;
    cut at a sentence (or a word) when both do not fit. The link is what matters when there is no room for both."""
    if not url or url in text:
        return text if len(text) <= limit else _cut(text, limit)
    link = f"\nMore: {url}"
    room = limit - len(link)
    if len(text) <= room:
        return text + link
    if room < 40:
        return url if len(url) <= limit else _cut(text, limit)
    return _cut(text, room) + link


def _cut(text: str, room: int) -> str:
    flat = " ".join(text.split())
    if len(flat) <= room:
        return flat
    cut = flat[: room - 1]  # one character kept for the ellipsis
    end = max(cut.rfind(". "), cut.rfind("! "), cut.rfind("? "))
    if end > room // 2:
        return cut[: end + 1]
    return cut.rsplit(" ", 1)[0].rstrip(",;:-–—") + "…"


@dataclass(frozen=True)
class Inbound:
    """A text as Twilio posted it, with the sender's number in E.164. It is also the flow's `Receipt`: its
    MessageSid row is written with the shopper's message."""

    message_sid: str
    from_number: str
    to_number: str
    body: str
    # Twilio sends `OptOutType` only with Advanced Opt-Out, and then answers the keywords itself with the texts
    # configured on the Messaging Service: we add nothing to them.
    advanced_opt_out: bool = False

    async def seen(self, session: AsyncSession) -> bool:
        taken = await session.scalar(select(SmsMessage.id).where(SmsMessage.message_sid == self.message_sid))
        return taken is not None

    async def keep(self, session: AsyncSession, message: Message) -> None:
        await self.record(session, message.conversation_id, message.seq)

    async def record(self, session: AsyncSession, conversation_id: str | None, seq: int | None) -> None:
        """The MessageSid row; flushed now, so a concurrent delivery of the same text fails here and is retried."""
        session.add(
            SmsMessage(
                conversation_id=conversation_id, seq=seq, direction="in", message_sid=self.message_sid,
                from_number=self.from_number, to_number=self.to_number, body=self.body, status="received",
            )
        )  # fmt: skip
        await session.flush()


async def open_conversation(session: AsyncSession, phone: str, create: bool = True) -> Conversation | None:
    """The phone's open SMS conversation; a new one (linked to the phone's profile) when it has none or the last one
    is closed, unless `create` is false."""
    thread = await session.get(SmsThread, phone)
    if thread is not None:
        try:
            conversation = await conversations.get(session, thread.conversation_id)
        except conversations.ConversationNotFound:
            pass
        else:
            if conversation.status != Status.closed.value:
                return conversation
    if not create:
        return None
    conversation = await conversations.create(session, SMS)
    await conversations.link_profile(session, conversation, phone=phone, verified=True)
    if thread is None:
        session.add(SmsThread(phone=phone, conversation_id=conversation.id))  # a second first text fails on the key
        await session.flush()
        return conversation
    moved = await session.execute(
        update(SmsThread)
        .where(SmsThread.phone == phone, SmsThread.conversation_id == thread.conversation_id)
        .values(conversation_id=conversation.id)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        raise StaleDataError("another text moved the phone to a new conversation first")
    return conversation


async def receive(flow: ChatFlow, inbound: Inbound) -> Taken:
    """Take one inbound text: a keyword changes the suppression list (and may be answered); anything else is the
    shopper's message in their conversation, answered by the AI or passed to the team that owns it."""
    async with flow.sessions() as session:
        if await inbound.seen(session):
            return Taken.duplicate
    word = keyword_of(inbound.body)
    if word is not None:
        return await _keyword(flow, inbound, word)
    text = inbound.body.strip()[: flow.max_chars]
    if not text:

        async def record_only(session: AsyncSession) -> Taken:
            if await inbound.seen(session):
                return Taken.duplicate
            await inbound.record(session, None, None)
            return Taken.empty

        return await conversations.retrying(flow.sessions, record_only)

    async def find(session: AsyncSession) -> str:
        conversation = await open_conversation(session, inbound.from_number)
        assert conversation is not None
        return conversation.id

    conversation_id = await conversations.retrying(flow.sessions, find)
    await flow.shopper_message(conversation_id, text, receipt=inbound)
    return Taken.message


async def _keyword(flow: ChatFlow, inbound: Inbound, word: Keyword) -> Taken:
    """STOP and its synonyms: the number goes on our suppression list (Twilio confirms the opt-out itself; we send
    nothing). START: off the list again. HELP: who we are and how to stop. The keyword is kept in the conversation
    as the shopper's message (the team sees it), but never read by the AI nor added to a helpdesk ticket."""
    phone = inbound.from_number

    async def work(session: AsyncSession) -> tuple[str | None, list[Message], Taken]:
        if await inbound.seen(session):
            return None, [], Taken.duplicate
        now = flow.clock()
        # A STOP needs no conversation; HELP and a START that is answered need one to be answered in.
        conversation = await open_conversation(session, phone, create=word is not Keyword.opt_out)
        out: list[Message] = []
        if conversation is None:
            await inbound.record(session, None, None)
        else:
            said = inbound.body.strip()
            message = await conversations.insert_message(session, conversation, "shopper", said, kind="keyword")
            await inbound.record(session, conversation.id, message.seq)
            out.append(message)
        reply: str | None = None
        if word is Keyword.opt_out:
            await suppress(session, phone, inbound.body.strip().upper()[:16], now)
            taken = Taken.opted_out
        elif word is Keyword.opt_in:
            await unsuppress(session, phone)
            reply, taken = OPTED_IN_REPLY, Taken.opted_in
        else:
            reply, taken = HELP_REPLY, Taken.help
        if reply is not None and conversation is not None and not inbound.advanced_opt_out:
            store = (await webchat.get_settings(session)).store_name
            notice = await conversations.insert_message(
                session, conversation, "system", reply.format(store=store), kind="notice"
            )
            await enqueue_sms(session, conversation.id, notice.seq, now)
            out.append(notice)
        return (conversation.id if conversation else None), out, taken

    conversation_id, out, taken = await conversations.retrying(flow.sessions, work)
    if conversation_id is not None and out:
        await flow.publish(conversation_id, out)
        if len(out) > 1:
            flow.wake_worker.set()  # the reply's outbox row is committed
    return taken
