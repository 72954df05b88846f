"""Conversations: create and find them, store messages (always first), change status through the state machine."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy import ColumnElement, bindparam, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from frontdesk.db import utcnow
from frontdesk.transcripts import outcomes, state, transcript
from frontdesk.transcripts.models import Conversation, ConversationEvent, Message, Profile, VisitorToken

T = TypeVar("T")
MESSAGES = Message.__table__  # Core statements on it skip the ORM's unit of work
SET_META = (
    update(MESSAGES)
    .where(MESSAGES.c.conversation_id == bindparam("conversation_id_"), MESSAGES.c.seq == bindparam("seq_"))
    .values(meta=bindparam("meta_"))
)
TAKE_TURN = (
    update(MESSAGES)
    .where(
        MESSAGES.c.conversation_id == bindparam("conversation_id_"),
        MESSAGES.c.seq == bindparam("seq_"),
        MESSAGES.c.awaiting_turn.is_(True),
    )
    .values(awaiting_turn=False)
)
RETRIES = 8
RESUME_LIFETIME = timedelta(days=14)


class ConversationNotFound(Exception):
    pass


class FlowError(Exception):
    """A shopper input or a team action that cannot be taken, with an error code of the web chat protocol."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(8)}"


def new_visitor_token() -> str:
    return "vt_" + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """Visitor tokens are stored hashed: a leaked database does not let anyone read a shopper's chat."""
    return hashlib.sha256(token.encode()).hexdigest()


async def retrying(sessions: async_sessionmaker[AsyncSession], work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run `work` in a fresh session and commit; run it again when another writer changed the same conversation."""
    for attempt in range(RETRIES):
        async with sessions() as session:
            try:
                result = await work(session)
                await session.commit()
                return result
            except (StaleDataError, IntegrityError):
                await session.rollback()
                if attempt == RETRIES - 1:
                    raise
    raise AssertionError("unreachable")


async def create(session: AsyncSession, channel: str, token: str | None = None) -> Conversation:
    conversation = Conversation(
        id=new_id("conv"),
        channel=channel,
        visitor_token_hash=token_hash(token) if token else None,
        last_seq=0,
    )
    session.add(conversation)
    session.add(state.start(conversation))
    await session.flush()
    return conversation


async def by_token(session: AsyncSession, token: str) -> Conversation | None:
    """The conversation a visitor token opens: its first token, or one added later (a resume link)."""
    hashed = token_hash(token)
    added = select(VisitorToken.conversation_id).where(VisitorToken.token_hash == hashed)
    return await session.scalar(
        select(Conversation).where(or_(Conversation.visitor_token_hash == hashed, Conversation.id.in_(added)))
    )


async def add_visitor_token(session: AsyncSession, conversation_id: str) -> str:
    """A further token for a conversation (a browser that followed a resume link): the other tokens keep working."""
    token = new_visitor_token()
    session.add(VisitorToken(token_hash=token_hash(token), conversation_id=conversation_id))
    await session.flush()
    return token


@dataclass(frozen=True)
class ResumeLinks:
    """Signed links that reopen a conversation in a browser, sent with an agent's reply by email. A link carries the
    conversation id and its expiry, signed with HMAC-SHA256: nothing is stored, and a changed character breaks it.

    The key is derived from the app's Fernet key rather than being that key, so a link's signature can never be
    turned against the secrets the Fernet key encrypts."""

    key: bytes = field(repr=False)  # a secret: never in a log line or a traceback's locals
    public_url: str
    lifetime: timedelta = RESUME_LIFETIME

    @classmethod
    def from_secret_key(cls, secret_key: str, public_url: str) -> ResumeLinks:
        return cls(hmac.new(secret_key.encode(), b"resume-link", hashlib.sha256).digest(), public_url.rstrip("/"))

    def value(self, conversation_id: str, now: datetime) -> str:
        payload = f"{conversation_id}.{int((now + self.lifetime).timestamp())}"
        return f"{payload}.{self._signature(payload)}"

    def link(self, conversation_id: str, now: datetime) -> str:
        return f"{self.public_url}/chat?resume={self.value(conversation_id, now)}"

    def conversation_id(self, value: str, now: datetime) -> str | None:
        """The conversation a link's value opens, or None when it is forged, altered or expired."""
        parts = value.split(".")
        if len(value) > 200 or len(parts) != 3:
            return None
        conversation_id, expires, signature = parts
        expected = self._signature(f"{conversation_id}.{expires}")
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            return None
        if not (expires.isascii() and expires.isdigit()) or int(expires) <= now.timestamp():
            return None
        return conversation_id

    def _signature(self, payload: str) -> str:
        digest = hmac.new(self.key, payload.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


async def get(session: AsyncSession, conversation_id: str) -> Conversation:
    conversation = await session.get(Conversation, conversation_id)
    if conversation is None:
        raise ConversationNotFound(f"no conversation {conversation_id}")
    return conversation


async def insert_message(
    session: AsyncSession,
    conversation: Conversation,
    author: str,
    text: str,
    kind: str = "text",
    meta: dict[str, object] | None = None,
    client_id: str | None = None,
    awaiting_turn: bool = False,
) -> Message:
    """Append a message with the next sequence number: one Core INSERT now, no ORM unit of work (and no autoflush).
    The conversation's new `last_seq` is written, with its version check, when the session flushes (at the latest
    on commit); the returned Message is a value holder outside the session (its `id` is not set). A shopper's input
    is stored `awaiting_turn` until `take_turn` commits what follows it."""
    conversation.last_seq += 1
    now = utcnow()
    conversation.last_activity_at = now
    message = Message(
        conversation_id=conversation.id,
        seq=conversation.last_seq,
        author=author,
        kind=kind,
        text=text,
        meta=meta or {},
        client_id=client_id,
        created_at=now,
        awaiting_turn=awaiting_turn,
    )
    with session.no_autoflush:  # the conversation's update waits for the commit: one UPDATE, not one per statement
        await session.execute(
            insert(MESSAGES),
            {"conversation_id": message.conversation_id, "seq": message.seq, "author": author, "kind": kind,
             "text": text, "meta": message.meta, "client_id": client_id, "created_at": now,
             "awaiting_turn": awaiting_turn},
        )  # fmt: skip
    return message


async def set_message_meta(session: AsyncSession, conversation_id: str, seq: int, meta: dict[str, object]) -> None:
    with session.no_autoflush:
        await session.execute(SET_META, {"conversation_id_": conversation_id, "seq_": seq, "meta_": meta})


async def take_turn(session: AsyncSession, conversation_id: str, seq: int) -> bool:
    """Mark the turn of shopper message `seq` taken, in the transaction that writes the turn; False when another
    transaction took it first (a resend, or a restart's recovery, racing this one): this one must then roll back."""
    with session.no_autoflush:
        result = await session.execute(TAKE_TURN, {"conversation_id_": conversation_id, "seq_": seq})
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def awaiting_turns(session: AsyncSession, after_id: int = 0, limit: int = 500) -> list[Message]:
    """Shopper inputs stored but never answered (the process stopped in between), in the order they came."""
    rows = await session.scalars(
        select(Message).where(Message.awaiting_turn.is_(True), Message.id > after_id).order_by(Message.id).limit(limit)
    )
    return list(rows.all())


async def message_at(session: AsyncSession, conversation_id: str, seq: int) -> Message | None:
    return await session.scalar(select(Message).where(Message.conversation_id == conversation_id, Message.seq == seq))


async def last_message_of_kind(session: AsyncSession, conversation_id: str, kind: str) -> Message | None:
    return await session.scalar(
        select(Message)
        .where(Message.conversation_id == conversation_id, Message.kind == kind)
        .order_by(Message.seq.desc())
        .limit(1)
    )


async def by_client_id(session: AsyncSession, conversation_id: str, client_id: str) -> Message | None:
    return await session.scalar(
        select(Message).where(Message.conversation_id == conversation_id, Message.client_id == client_id)
    )


async def messages_after(session: AsyncSession, conversation_id: str, seq: int) -> list[Message]:
    rows = await session.scalars(
        select(Message).where(Message.conversation_id == conversation_id, Message.seq > seq).order_by(Message.seq)
    )
    return list(rows.all())


async def recent_shopper_texts(session: AsyncSession, conversation_id: str, count: int = 2) -> list[str]:
    """The last `count` shopper messages, oldest first: what the agent reads a follow-up with."""
    rows = await session.scalars(
        select(Message.text)
        .where(Message.conversation_id == conversation_id, Message.author == "shopper", Message.kind == "text")
        .order_by(Message.seq.desc())
        .limit(count)
    )
    return list(reversed(rows.all()))


async def transition(
    session: AsyncSession, conversation: Conversation, change: state.Transition, reason: str, actor: str
) -> None:
    session.add(state.apply(conversation, change, reason, actor))


async def offer(session: AsyncSession, conversation: Conversation, reason: str) -> None:
    session.add(state.offer(conversation, reason, "ai"))


async def hand_off(
    session: AsyncSession, conversation: Conversation, method: str, reason: str, actor: str = "shopper"
) -> None:
    """The one way a conversation is handed off: its status, method and reason change together, guarded."""
    session.add(state.hand_off(conversation, method, reason, actor))
    outcomes.update(conversation)


async def ticket_created(session: AsyncSession, conversation: Conversation, ticket_ref: str) -> None:
    """The ticket exists (the outbox worker made it): with_team, its reference kept, and routed to the team."""
    session.add(state.ticket_created(conversation, ticket_ref, "worker"))
    outcomes.update(conversation)


async def link_profile(
    session: AsyncSession,
    conversation: Conversation,
    email: str | None = None,
    name: str | None = None,
    phone: str | None = None,
    *,
    verified: bool = False,
) -> Profile:
    """Attach the conversation to the shopper's profile with this email (or phone, E.164), creating it when the store
    has none yet. `verified`: the store's server signed the email (a signed-in web chat) or the phone sent the text.

    A verified contact joins only a verified profile and an unverified one (an email typed at handoff) only an
    unverified one: typing a customer's email never attaches a conversation to her profile, and a profile made from a
    typed email never becomes hers. A conversation already on a verified profile keeps it; a typed email then only
    says where to write."""
    address = email.lower() if email else None
    current = await session.get(Profile, conversation.profile_id) if conversation.profile_id else None
    if not verified and current is not None and current.verified:
        if address:
            conversation.email = address
        return current
    profile = None
    if address:
        profile = await session.scalar(select(Profile).where(Profile.email == address, Profile.verified.is_(verified)))
    if profile is None and phone:
        profile = await session.scalar(select(Profile).where(Profile.phone == phone))
    if profile is None and current is not None and current.verified == verified:
        profile = current
        if address and profile.email is None:
            profile.email = address
        if phone and profile.phone is None:
            profile.phone = phone
    if profile is None:
        profile = Profile(id=new_id("prof"), email=address, phone=phone, name=name, verified=verified)
        session.add(profile)
        await session.flush()
    if name and not profile.name:
        profile.name = name
    conversation.profile_id = profile.id
    if address:
        conversation.email = address
    return profile


async def profile_of(session: AsyncSession, conversation: Conversation) -> Profile | None:
    return await session.get(Profile, conversation.profile_id) if conversation.profile_id else None


async def ticket_content(
    session: AsyncSession, conversation_id: str, public_url: str, upto_seq: int | None = None
) -> transcript.Ticket:
    """What every handoff target receives: the transcript module's text and HTML for this conversation. `upto_seq`
    ends it at the handoff, so every attempt to create the ticket sends the same transcript."""
    conversation = await get(session, conversation_id)
    profile = await profile_of(session, conversation)
    messages = await messages_after(session, conversation_id, 0)
    if upto_seq is not None:
        messages = [m for m in messages if m.seq <= upto_seq]
    return transcript.render(
        conversation_id=conversation.id,
        channel=conversation.channel,
        reason=conversation.handoff_reason or "—",
        email=conversation.email or (profile.email if profile else None),
        phone=profile.phone if profile else None,
        profile_id=conversation.profile_id,
        link=f"{public_url.rstrip('/')}/console/conversations/{conversation.id}",
        lines=[transcript.TranscriptLine(m.created_at, m.author, m.text) for m in messages],
    )


async def with_profiles(session: AsyncSession, ids: list[str]) -> dict[str, tuple[Conversation, Profile | None]]:
    """Several conversations with their shoppers' profiles, in one query (the inbox's queues list them)."""
    if not ids:
        return {}
    rows = await session.execute(
        select(Conversation, Profile)
        .outerjoin(Profile, Profile.id == Conversation.profile_id)
        .where(Conversation.id.in_(ids))
    )
    return {conversation.id: (conversation, profile) for conversation, profile in rows}


async def last_messages(session: AsyncSession, ids: list[str]) -> dict[str, Message]:
    """The newest message of each conversation (one query)."""
    if not ids:
        return {}
    newest = (
        select(Message.conversation_id, func.max(Message.seq).label("seq"))
        .where(Message.conversation_id.in_(ids))
        .group_by(Message.conversation_id)
        .subquery()
    )
    rows = await session.scalars(
        select(Message).join(
            newest, (Message.conversation_id == newest.c.conversation_id) & (Message.seq == newest.c.seq)
        )
    )
    return {message.conversation_id: message for message in rows.all()}


# Read-only queries of the console's conversation pages and the metrics' knowledge gaps.

#: The agent's decisions on a shopper message that make it a question (greetings and thanks are not).
QUESTION_DECISIONS = ("answer", "unknown", "human_requested")


def _decision() -> ColumnElement[str]:
    """The agent's decision recorded on a shopper message (`meta.decision`), in SQL that SQLite and PostgreSQL share."""
    return Message.meta["decision"].as_string()


def started(
    since: datetime | None, until: datetime | None, channel: str | None = None, outcome: str | None = None
) -> list[ColumnElement[bool]]:
    """The SQL conditions for conversations started in [since, until) on a channel with an outcome (None: any)."""
    conditions: list[ColumnElement[bool]] = []
    if since:
        conditions.append(Conversation.created_at >= since)
    if until:
        conditions.append(Conversation.created_at < until)
    if channel:
        conditions.append(Conversation.channel == channel)
    if outcome:
        conditions.append(Conversation.outcome == outcome)
    return conditions


@dataclass(frozen=True)
class Listed:
    """One row of a conversation list: the conversation, its shopper's profile and the first question asked."""

    conversation: Conversation
    profile: Profile | None
    first_question: str | None


async def search(
    session: AsyncSession,
    *,
    outcome: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    channel: str | None = None,
    feedback_changed: bool = False,
    rated: bool = False,
    among: list[str] | None = None,
    limit: int = 25,
    offset: int = 0,
) -> tuple[list[Listed], int]:
    """Conversations started in [since, until) with this outcome and channel, newest first, and how many match. With
    `feedback_changed` only those whose outcome the shopper's feedback changed, with `rated` those whose shopper
    rated the team, and with `among` only those ids."""
    conditions = started(since, until, channel, outcome)
    if feedback_changed:
        conditions.append(Conversation.feedback_changed.is_(True))
    if rated:
        conditions.append(Conversation.csat_score.is_not(None))
    if among is not None:
        conditions.append(Conversation.id.in_(among))
    total = await session.scalar(select(func.count()).select_from(Conversation).where(*conditions)) or 0
    rows = (
        await session.execute(
            select(Conversation, Profile)
            .outerjoin(Profile, Profile.id == Conversation.profile_id)
            .where(*conditions)
            .order_by(Conversation.created_at.desc(), Conversation.id.desc())
            .limit(limit)
            .offset(offset)
        )
    ).all()
    firsts = await first_questions(session, [conversation.id for conversation, _ in rows])
    return [Listed(conversation, profile, firsts.get(conversation.id)) for conversation, profile in rows], total


async def first_questions(session: AsyncSession, ids: list[str]) -> dict[str, str]:
    """The first question (not a greeting) the shopper asked in each conversation (one query)."""
    if not ids:
        return {}
    first = (
        select(Message.conversation_id, func.min(Message.seq).label("seq"))
        .where(Message.conversation_id.in_(ids), Message.author == "shopper", _decision().in_(QUESTION_DECISIONS))
        .group_by(Message.conversation_id)
        .subquery()
    )
    rows = await session.execute(
        select(Message.conversation_id, Message.text).join(
            first, (Message.conversation_id == first.c.conversation_id) & (Message.seq == first.c.seq)
        )
    )
    return {conversation_id: text for conversation_id, text in rows.all()}


async def events_of(session: AsyncSession, conversation_id: str) -> list[ConversationEvent]:
    """The conversation's status changes, oldest first."""
    rows = await session.scalars(
        select(ConversationEvent)
        .where(ConversationEvent.conversation_id == conversation_id)
        .order_by(ConversationEvent.at, ConversationEvent.id)
    )
    return list(rows.all())


@dataclass(frozen=True)
class Unanswered:
    """A shopper question the agent could not answer, and the team's reply to it in the built-in inbox, if any."""

    conversation_id: str
    seq: int
    text: str
    at: datetime
    reply: str | None


async def unanswered_questions(
    session: AsyncSession,
    since: datetime | None = None,
    until: datetime | None = None,
    channel: str | None = None,
    limit: int = 5000,
) -> list[Unanswered]:
    """The newest `limit` shopper questions asked in [since, until) that the agent decided it could not answer.

    A question's reply is the first message a person of the team wrote after it in the same conversation, before
    the shopper's next unanswered question (which that reply more likely answers)."""
    query = (
        select(Message.conversation_id, Message.seq, Message.text, Message.created_at)
        .where(Message.author == "shopper", _decision() == "unknown")
        .order_by(Message.created_at.desc(), Message.id.desc())
        .limit(limit)
    )
    if since:
        query = query.where(Message.created_at >= since)
    if until:
        query = query.where(Message.created_at < until)
    if channel:
        query = query.where(Message.conversation_id.in_(select(Conversation.id).where(Conversation.channel == channel)))
    questions = (await session.execute(query)).all()
    if not questions:
        return []
    asked = query.with_only_columns(Message.conversation_id).subquery()
    replies = (
        await session.execute(
            select(Message.conversation_id, Message.seq, Message.text)
            .where(Message.author == "agent", Message.conversation_id.in_(select(asked.c.conversation_id)))
            .order_by(Message.conversation_id, Message.seq)
        )
    ).all()
    replies_in: dict[str, list[tuple[int, str]]] = {}
    for conversation_id, seq, text in replies:
        replies_in.setdefault(conversation_id, []).append((seq, text))
    asked_in: dict[str, list[int]] = {}
    for conversation_id, seq, _, _ in questions:
        asked_in.setdefault(conversation_id, []).append(seq)
    out = []
    for conversation_id, seq, text, at in questions:
        before = min((later for later in asked_in[conversation_id] if later > seq), default=None)
        reply = next(
            (said for s, said in replies_in.get(conversation_id, []) if s > seq and (before is None or s < before)),
            None,
        )
        out.append(Unanswered(conversation_id, seq, text, at, reply))
    return out
