"""The relay: a helpdesk agent's reply, delivered to our webhook, becomes an agent message of the conversation and
reaches the shopper.

Zendesk signs its webhooks (base64 HMAC-SHA256 over timestamp + raw body); Gorgias signs nothing, so its HTTP
integration carries a secret header of ours. Either way a delivery is taken at most once: the helpdesk's comment or
message id is a unique row (`relayed_comments`) written in the transaction that stores the message, so a retried or
replayed delivery finds it and changes nothing. The shopper's own later messages, which frontdesk adds to the ticket
and Zendesk's trigger sends back, are known the same way: by the comment id Zendesk answered with, recorded by the
worker. Never by their text: an agent who answers "yes" to a shopper's "Yes" is an agent's reply.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from frontdesk.handoff.models import RelayedComment
from frontdesk.transcripts import service as conversations
from frontdesk.transcripts.channel import Channels, Continuation
from frontdesk.transcripts.models import Conversation, Message

log = logging.getLogger("frontdesk.relay")

ZENDESK, GORGIAS = "zendesk", "gorgias"
# Zendesk's docs say the timestamp header exists to stop replays; a captured delivery older than this is refused.
SIGNATURE_WINDOW = timedelta(minutes=5)
MAX_REPLY_CHARS = 20_000
MAX_ID_CHARS = 64  # relayed_comments.external_id
END_USER_ROLES = frozenset({"end-user", "end_user", "enduser", "end user"})


class Unauthenticated(Exception):
    """A delivery we cannot prove came from the helpdesk: it changes nothing."""


class Malformed(Exception):
    """A delivery that proved its origin but is not the JSON object the trigger or integration sends."""


class Result(StrEnum):
    relayed = "relayed"  # stored as an agent message and sent towards the shopper
    recorded = "recorded"  # taken, on purpose without a message (a Gorgias web chat continues by email)
    duplicate = "duplicate"  # this comment was taken before
    ignored = "ignored"  # not a reply we relay (internal note, not an agent, not our ticket, ...)


@dataclass(frozen=True)
class Outcome:
    result: Result
    reason: str
    seq: int | None = None

    def as_json(self) -> dict[str, object]:
        return {"result": self.result.value, "reason": self.reason, "seq": self.seq}


@dataclass(frozen=True)
class AgentReply:
    """What the relay needs of a delivery, whichever helpdesk sent it."""

    source: str  # zendesk | gorgias
    external_id: str  # the comment's (Zendesk) or message's (Gorgias) id: one delivery, however often it comes
    conversation_id: str  # the ticket's external_id
    ticket_id: str
    text: str
    author: str


# -- proving where a delivery came from


def zendesk_signature(secret: bytes, timestamp: str, body: bytes) -> str:
    """Zendesk's webhook signature: base64(HMAC-SHA256(signing secret, timestamp + raw body)), no separator."""
    return base64.b64encode(hmac.new(secret, timestamp.encode() + body, hashlib.sha256).digest()).decode()


def parse_timestamp(value: str) -> datetime | None:
    """The signature timestamp: ISO 8601 as Zendesk sends it (`2026-01-02T10:01:03Z`), or Unix seconds."""
    value = value.strip()
    try:
        if value.isascii() and value.isdigit():
            return datetime.fromtimestamp(int(value), UTC)
        moment = datetime.fromisoformat(value)
    except (ValueError, OverflowError, OSError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def verify_zendesk(secret: bytes, signature: str | None, timestamp: str | None, body: bytes, now: datetime) -> None:
    """Raise Unauthenticated unless the delivery is signed with our webhook's secret, recently."""
    if not signature or not timestamp:
        raise Unauthenticated("the Zendesk signature headers are missing")
    moment = parse_timestamp(timestamp)
    if moment is None:
        raise Unauthenticated("the Zendesk signature timestamp is not a time")
    if abs(now - moment) > SIGNATURE_WINDOW:
        raise Unauthenticated("the Zendesk signature timestamp is outside the accepted window")
    expected = zendesk_signature(secret, timestamp, body)
    if not hmac.compare_digest(expected.encode(), signature.strip().encode()):
        raise Unauthenticated("the Zendesk signature does not match")


def verify_secret_header(secret: bytes, given: str | None) -> None:
    """Gorgias signs nothing: the header our HTTP integration sends must equal the secret we keep."""
    if not given or not hmac.compare_digest(secret, given.encode()):
        raise Unauthenticated("the X-Frontdesk-Secret header is missing or wrong")


# -- reading deliveries (placeholders arrive as text: "123", "true"; anything may be missing)


def _text(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | str):
        text = str(value).strip()
        return text or None
    return None


def _flag(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None


def _object(payload: Any, key: str) -> dict[str, Any]:
    value = payload.get(key) if isinstance(payload, dict) else None
    return value if isinstance(value, dict) else {}


def parse_zendesk(payload: Any) -> AgentReply | Outcome:
    """The trigger's body (docs/helpdesks.md) as a reply, or why it is not one we relay."""
    if not isinstance(payload, dict):
        raise Malformed("the body is not a JSON object")
    ticket, comment = _object(payload, "ticket"), _object(payload, "comment")
    author = _object(comment, "author")
    ticket_id, external_id = _text(ticket.get("id")), _text(ticket.get("external_id"))
    comment_id = _text(comment.get("id"))
    if not (ticket_id and comment_id) or len(comment_id) > MAX_ID_CHARS:
        return Outcome(Result.ignored, "no ticket or comment id")
    if not external_id:
        return Outcome(Result.ignored, "the ticket has no external_id: not a frontdesk handoff")
    if _flag(comment.get("is_public", comment.get("public"))) is not True:
        return Outcome(Result.ignored, "an internal note: only public replies reach the shopper")
    role = (_text(author.get("role")) or "").lower()
    # The trigger fires only for agents' updates; an end user (or no role at all) means a template we did not write.
    if not role or role in END_USER_ROLES:
        return Outcome(Result.ignored, "not written by an agent")
    text = _text(comment.get("body"))
    if not text:
        return Outcome(Result.ignored, "the comment is empty")
    name = _text(author.get("name")) or "Support team"
    return AgentReply(ZENDESK, comment_id, external_id, ticket_id, text[:MAX_REPLY_CHARS], name)


def parse_gorgias(payload: Any) -> AgentReply | Outcome:
    """The `{{context}}` of a *ticket message created* event as a reply, or why it is not one we relay. It fires for
    every message of every ticket of the account, the customers' own included: most deliveries are ignored."""
    if not isinstance(payload, dict):
        raise Malformed("the body is not a JSON object")
    ticket, message = _object(payload, "ticket"), _object(payload, "message")
    sender = _object(message, "sender")
    message_id = _text(message.get("id"))
    ticket_id = _text(ticket.get("id")) or _text(message.get("ticket_id"))
    external_id = _text(ticket.get("external_id"))
    if not (ticket_id and message_id) or len(message_id) > MAX_ID_CHARS:
        return Outcome(Result.ignored, "no ticket or message id")
    if not external_id:
        return Outcome(Result.ignored, "the ticket has no external_id: not a frontdesk handoff")
    if _flag(message.get("from_agent")) is not True:
        return Outcome(Result.ignored, "not written by an agent")
    if _flag(message.get("public")) is False or message.get("channel") == "internal-note":
        return Outcome(Result.ignored, "an internal note: only public replies reach the shopper")
    text = _text(message.get("body_text")) or _text(message.get("stripped_text"))
    if not text:
        return Outcome(Result.ignored, "the message has no text")
    name = _text(sender.get("name")) or _text(sender.get("email")) or "Support team"
    return AgentReply(GORGIAS, message_id, external_id, ticket_id, text[:MAX_REPLY_CHARS], name)


# -- taking a reply


class Turns(Protocol):
    """What the relay uses of the conversations' turn (`conversations.turn.ChatFlow`, which the app hands in)."""

    sessions: async_sessionmaker[AsyncSession]
    channels: Channels
    clock: Callable[[], datetime]
    wake_worker: asyncio.Event

    async def publish(
        self, conversation_id: str, messages: list[Message], statuses: list[str] | None = None
    ) -> None: ...


@dataclass
class Relay:
    """Stores a helpdesk reply as the conversation's agent message and sends it the way `TeamActions.reply` does."""

    flow: Turns

    async def take(self, reply: AgentReply) -> Outcome:
        message: Message | None = None
        queued = False

        async def work(session: AsyncSession) -> Outcome:
            nonlocal message, queued
            message, queued = None, False  # a retried attempt starts over
            taken = await session.scalar(
                select(RelayedComment.id).where(
                    RelayedComment.source == reply.source, RelayedComment.external_id == reply.external_id
                )
            )
            if taken is not None:
                # A redelivery, or a comment frontdesk added itself (a shopper's message) that the trigger sent back:
                # the worker records those ids when the helpdesk answers (`handoff.record_own_comment`).
                return Outcome(Result.duplicate, f"{reply.source} comment {reply.external_id} was taken or made here")
            conversation = await session.get(Conversation, reply.conversation_id)
            if conversation is None:
                return Outcome(Result.ignored, "no conversation with the ticket's external_id")
            if conversation.handoff_method != reply.source:
                return Outcome(Result.ignored, f"the conversation was not handed off to {reply.source}")
            channel = self.flow.channels.of(conversation)
            if channel.after_handoff(reply.source) is Continuation.by_email:
                # The helpdesk (Gorgias, for web chat) got the handoff as an email ticket and emails the reply itself;
                # the chat ended when the shopper was told so. Showing it in that chat too would say it twice.
                return self._record(session, reply, f"a {channel.name} handed to {reply.source} continues by email")
            message = await conversations.insert_message(
                session, conversation, "agent", reply.text,
                meta={"source": reply.source, "comment_id": reply.external_id, "ticket_id": reply.ticket_id,
                      "agent": reply.author},
            )  # fmt: skip
            session.add(
                RelayedComment(source=reply.source, external_id=reply.external_id, conversation_id=conversation.id,
                               seq=message.seq, received_at=self.flow.clock())
            )  # fmt: skip
            await session.flush()  # a concurrent delivery of the same comment fails here, and is retried as a duplicate
            queued = await channel.reach_away(session, conversation, message.seq, self.flow.clock())
            return Outcome(Result.relayed, f"agent message {message.seq}", message.seq)

        outcome = await conversations.retrying(self.flow.sessions, work)
        if message is not None:
            await self.flow.publish(reply.conversation_id, [message])
        if queued:
            self.flow.wake_worker.set()  # the text's or email's outbox row is committed
        log.info("%s delivery %s: %s (%s)", reply.source, reply.external_id, outcome.result.value, outcome.reason)
        return outcome

    def _record(self, session: AsyncSession, reply: AgentReply, reason: str) -> Outcome:
        session.add(
            RelayedComment(source=reply.source, external_id=reply.external_id, conversation_id=reply.conversation_id,
                           seq=None, received_at=self.flow.clock())
        )  # fmt: skip
        return Outcome(Result.recorded, reason)
