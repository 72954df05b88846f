"""The built-in inbox: tickets for handed-off conversations, their queues, who handles them, notes, and who is there
to answer."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import ColumnElement, and_, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from frontdesk.db import utcnow
from frontdesk.inbox.models import InboxNote, InboxRead, InboxTicket, SavedReply
from frontdesk.realtime.state import MemoryState, SharedState
from frontdesk.transcripts import service as conversations
from frontdesk.transcripts.models import Conversation, Message, Profile
from frontdesk.users.models import User

Queue = Literal["unassigned", "mine", "open", "closed"]
QUEUES: tuple[Queue, ...] = ("unassigned", "mine", "open", "closed")
PAGES = "presence:pages"
#: An agent's away switch is read again from their account whenever a page opens; this only bounds a stale one.
AWAY_KEPT_SECONDS = 30 * 86_400


class InboxError(Exception):
    """A team action that does not apply (e.g. a claim lost to another agent), with a message for the agent."""


class TicketNotFound(InboxError):
    pass


class Presence:
    """Agents with the inbox open and not set away: each open inbox page reports in over its WebSocket, and the `away`
    switch takes an agent out while the page stays open. Kept in the shared state (`realtime.state`): in this process
    alone, or with Redis across every process, a page's lease ending with the process that holds it."""

    def __init__(self, shared: SharedState | None = None) -> None:
        self._shared: SharedState = shared or MemoryState()

    async def arrive(self, user_id: int, away: bool = False) -> str:
        """The page's handle, for `leave`."""
        page = f"{user_id}:{uuid.uuid4().hex}"
        await self.set_away(user_id, away)
        await self._shared.join(PAGES, page)
        return page

    async def leave(self, page: str) -> None:
        await self._shared.leave(PAGES, page)

    async def set_away(self, user_id: int, away: bool) -> None:
        if away:
            await self._shared.put(f"presence:away:{user_id}", "1", time.time(), AWAY_KEPT_SECONDS)
        else:
            await self._shared.delete(f"presence:away:{user_id}")

    async def online(self) -> int:
        users = {int(page.split(":", 1)[0]) for page in await self._shared.members(PAGES)}
        now = time.time()
        return sum([await self._shared.get(f"presence:away:{user_id}", now) is None for user_id in users])


async def open_ticket(
    session: AsyncSession, conversation_id: str, reason: str, now: datetime | None = None
) -> InboxTicket:
    """The conversation's inbox ticket, created once: delivering the same handoff again (a retry, or a new handoff
    after a hand back) returns the same ticket, reopened and back in the unassigned queue."""
    now = now or utcnow()
    ticket = await session.scalar(select(InboxTicket).where(InboxTicket.conversation_id == conversation_id))
    if ticket is None:
        ticket = InboxTicket(conversation_id=conversation_id, reason=reason[:200], state="open", created_at=now,
                             opened_at=now)  # fmt: skip
        session.add(ticket)
        await session.flush()
    elif ticket.state != "open":
        ticket.state, ticket.reason, ticket.opened_at = "open", reason[:200], now
        ticket.assignee_id = ticket.claimed_at = ticket.closed_at = None
        ticket.auto_response_on = None
    return ticket


def _in_queue(queue: Queue, user_id: int | None) -> ColumnElement[bool]:
    if queue == "unassigned":
        return and_(InboxTicket.state == "open", InboxTicket.assignee_id.is_(None))
    if queue == "mine":
        return and_(InboxTicket.state == "open", InboxTicket.assignee_id == user_id)
    if queue == "open":
        return InboxTicket.state == "open"
    return InboxTicket.state != "open"


async def queue_counts(session: AsyncSession, user_id: int | None) -> dict[str, int]:
    counts: dict[str, int] = {}
    for queue in QUEUES:
        counts[queue] = int(await session.scalar(select(func.count(InboxTicket.id)).where(_in_queue(queue, user_id)))
                            or 0)  # fmt: skip
    return counts


async def list_queue(session: AsyncSession, queue: Queue, user_id: int | None, limit: int = 200) -> list[InboxTicket]:
    order = InboxTicket.closed_at.desc() if queue == "closed" else InboxTicket.opened_at.asc()
    rows = await session.scalars(select(InboxTicket).where(_in_queue(queue, user_id)).order_by(order).limit(limit))
    return list(rows.all())


async def list_tickets(session: AsyncSession, state: str | None = None) -> list[InboxTicket]:
    query = select(InboxTicket).order_by(InboxTicket.created_at.desc())
    if state:
        query = query.where(InboxTicket.state == state)
    return list((await session.scalars(query)).all())


async def ticket_for(session: AsyncSession, conversation_id: str) -> InboxTicket:
    ticket = await session.scalar(select(InboxTicket).where(InboxTicket.conversation_id == conversation_id))
    if ticket is None:
        raise TicketNotFound(f"no inbox conversation {conversation_id}")
    return ticket


async def claim(session: AsyncSession, conversation_id: str, user_id: int, now: datetime) -> InboxTicket:
    """Assign the ticket to this agent. One conditional UPDATE: of two agents claiming at once exactly one wins,
    whatever the database or the number of processes; the other gets InboxError naming who has it."""
    result = await session.execute(
        update(InboxTicket)
        .where(InboxTicket.conversation_id == conversation_id, InboxTicket.state == "open")
        .where(InboxTicket.assignee_id.is_(None))
        .values(assignee_id=user_id, claimed_at=now)
        .execution_options(synchronize_session=False)
    )
    ticket = await ticket_for(session, conversation_id)
    await session.refresh(ticket)
    if result.rowcount == 1:  # type: ignore[attr-defined]
        return ticket
    if ticket.state != "open":
        raise InboxError("this conversation is no longer open")
    if ticket.assignee_id == user_id:
        return ticket
    raise InboxError("another agent has already claimed this conversation")


async def release(session: AsyncSession, conversation_id: str, user_id: int) -> InboxTicket:
    """Put a claimed conversation back in the unassigned queue (only its assignee does)."""
    ticket = await ticket_for(session, conversation_id)
    if ticket.assignee_id != user_id:
        raise InboxError("only the agent who claimed this conversation can release it")
    ticket.assignee_id, ticket.claimed_at = None, None
    return ticket


@dataclass(frozen=True)
class Member:
    """Who of the team acts on a conversation from the inbox. An agent may act on a conversation they hold or that
    nobody holds; an admin (the API token too, which has no user) on anyone's, to step in for an absent colleague."""

    user_id: int | None
    admin: bool


async def take_for_action(session: AsyncSession, conversation_id: str, member: Member) -> InboxTicket:
    """The open ticket `member` may hand back or close; InboxError when another agent holds it and `member` is not
    an admin, or when it is no longer open."""
    ticket = await ticket_for(session, conversation_id)
    if ticket.state != "open":
        raise InboxError("this conversation is no longer open")
    if ticket.assignee_id not in (None, member.user_id) and not member.admin:
        raise InboxError("another agent has claimed this conversation: only they or an admin can do this")
    return ticket


async def take_for_reply(
    session: AsyncSession, conversation_id: str, user_id: int, now: datetime
) -> tuple[InboxTicket, bool]:
    """An agent replies to a conversation they hold; an unclaimed one becomes theirs (True: claimed just now), another
    agent's is refused so two people never talk over each other."""
    ticket = await ticket_for(session, conversation_id)
    if ticket.state != "open":
        raise InboxError("this conversation is no longer open")
    if ticket.assignee_id is None:
        return await claim(session, conversation_id, user_id, now), True
    if ticket.assignee_id != user_id:
        raise InboxError("another agent has claimed this conversation")
    return ticket, False


async def add_note(session: AsyncSession, conversation_id: str, user_id: int | None, text: str) -> InboxNote:
    ticket = await ticket_for(session, conversation_id)
    note = InboxNote(ticket_id=ticket.id, author_id=user_id, text=text)
    session.add(note)
    await session.flush()
    return note


async def notes_of(session: AsyncSession, ticket_id: int) -> list[InboxNote]:
    rows = await session.scalars(select(InboxNote).where(InboxNote.ticket_id == ticket_id).order_by(InboxNote.id))
    return list(rows.all())


async def finish(session: AsyncSession, conversation_id: str, state: Literal["handed_back", "closed"],
                 now: datetime) -> InboxTicket:  # fmt: skip
    """The ticket leaves the open queues: the AI has the conversation again, or it is closed."""
    ticket = await ticket_for(session, conversation_id)
    ticket.state, ticket.closed_at = state, now
    return ticket


async def close_if_open(session: AsyncSession, conversation_id: str, now: datetime) -> None:
    """A conversation closed elsewhere closes its ticket too (no ticket: nothing to do)."""
    ticket = await session.scalar(select(InboxTicket).where(InboxTicket.conversation_id == conversation_id))
    if ticket is not None and ticket.state == "open":
        ticket.state, ticket.closed_at = "closed", now


async def take_auto_response_day(session: AsyncSession, conversation_id: str, day: str) -> bool:
    """True once per conversation and day: whether the auto-response may be shown now (and marks it shown)."""
    result = await session.execute(
        update(InboxTicket)
        .where(InboxTicket.conversation_id == conversation_id, InboxTicket.state == "open")
        .where((InboxTicket.auto_response_on.is_(None)) | (InboxTicket.auto_response_on != day))
        .values(auto_response_on=day)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Handled:
    """One conversation the built-in inbox took: who had it, and how fast the team answered and closed it."""

    conversation_id: str
    agent_id: int | None
    agent: str | None  # the assignee's name (or email); None: nobody took it
    opened_at: datetime
    first_reply_at: datetime | None
    closed_at: datetime | None
    csat: int | None


async def handled(
    session: AsyncSession, since: datetime | None, until: datetime | None, channel: str | None = None
) -> list[Handled]:
    """The inbox tickets of the conversations started in [since, until) on a channel: one query, a row each."""
    first_reply = (
        select(Message.conversation_id, func.min(Message.created_at).label("at"))
        .where(Message.author == "agent")
        .group_by(Message.conversation_id)
        .subquery()
    )
    rows = await session.execute(
        select(
            InboxTicket.conversation_id,
            InboxTicket.assignee_id,
            User.name,
            User.email,
            InboxTicket.opened_at,
            first_reply.c.at,
            InboxTicket.closed_at,
            Conversation.csat_score,
        )
        .join(Conversation, Conversation.id == InboxTicket.conversation_id)
        .outerjoin(User, User.id == InboxTicket.assignee_id)
        .outerjoin(first_reply, first_reply.c.conversation_id == InboxTicket.conversation_id)
        .where(*conversations.started(since, until, channel))
    )
    return [
        Handled(
            conversation_id,
            agent_id,
            (name or email) if agent_id else None,
            opened,
            reply,
            closed,
            csat,
        )
        for conversation_id, agent_id, name, email, opened, reply, closed, csat in rows.all()
    ]


# Saved replies --------------------------------------------------------------------------------------------------------


class SavedReplyNotFound(TicketNotFound):
    pass


async def saved_replies(session: AsyncSession) -> list[SavedReply]:
    return list((await session.scalars(select(SavedReply).order_by(SavedReply.name))).all())


async def _saved_reply(session: AsyncSession, reply_id: int) -> SavedReply:
    reply = await session.get(SavedReply, reply_id)
    if reply is None:
        raise SavedReplyNotFound(f"no saved reply {reply_id}")
    return reply


async def _name_taken(session: AsyncSession, name: str, other_than: int | None = None) -> None:
    query = select(SavedReply.id).where(func.lower(SavedReply.name) == name.lower())
    if other_than is not None:
        query = query.where(SavedReply.id != other_than)
    if await session.scalar(query) is not None:
        raise InboxError(f"a saved reply is already called {name}")


async def add_saved_reply(session: AsyncSession, name: str, text: str, now: datetime) -> SavedReply:
    await _name_taken(session, name)
    reply = SavedReply(name=name, text=text, created_at=now, updated_at=now)
    session.add(reply)
    await session.flush()
    return reply


async def edit_saved_reply(
    session: AsyncSession, reply_id: int, name: str | None, text: str | None, now: datetime
) -> SavedReply:
    reply = await _saved_reply(session, reply_id)
    if name is not None:
        await _name_taken(session, name, other_than=reply_id)
        reply.name = name
    if text is not None:
        reply.text = text
    reply.updated_at = now
    await session.flush()
    return reply


async def remove_saved_reply(session: AsyncSession, reply_id: int) -> None:
    if (await session.execute(delete(SavedReply).where(SavedReply.id == reply_id))).rowcount != 1:  # type: ignore[attr-defined]
        raise SavedReplyNotFound(f"no saved reply {reply_id}")


# Search, a customer's other conversations, what an agent has read ------------------------------------------------


def _like(text: str) -> str:
    """`text` as a LIKE pattern matching it anywhere, its own % and _ taken literally (escaped with \\)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped.lower()}%"


async def search(session: AsyncSession, text: str, limit: int = 30) -> list[InboxTicket]:
    """The inbox's conversations (every queue, closed too) whose shopper's email or name, or one of whose messages,
    contains `text` (case-insensitive), most recently opened first."""
    pattern = _like(text)
    in_messages = select(Message.conversation_id).where(func.lower(Message.text).like(pattern, escape="\\"))
    rows = await session.scalars(
        select(InboxTicket)
        .join(Conversation, Conversation.id == InboxTicket.conversation_id)
        .outerjoin(Profile, Profile.id == Conversation.profile_id)
        .where(
            or_(
                func.lower(Conversation.email).like(pattern, escape="\\"),
                func.lower(Profile.email).like(pattern, escape="\\"),
                func.lower(Profile.name).like(pattern, escape="\\"),
                InboxTicket.conversation_id.in_(in_messages),
            )
        )
        .order_by(InboxTicket.opened_at.desc(), InboxTicket.id.desc())
        .limit(limit)
    )
    return list(rows.all())


async def earlier_conversations(session: AsyncSession, conversation_id: str, limit: int = 20) -> list[Conversation]:
    """The shopper's other conversations (same profile, or the same email), newest first."""
    conversation = await conversations.get(session, conversation_id)
    profile = await conversations.profile_of(session, conversation)
    email = conversation.email or (profile.email if profile else None)
    same: list[ColumnElement[bool]] = []
    if conversation.profile_id:
        same.append(Conversation.profile_id == conversation.profile_id)
    if email:
        same.append(func.lower(Conversation.email) == email.lower())
        same.append(Conversation.profile_id.in_(select(Profile.id).where(func.lower(Profile.email) == email.lower())))
    if not same:
        return []
    rows = await session.scalars(
        select(Conversation)
        .where(or_(*same), Conversation.id != conversation_id)
        .order_by(Conversation.created_at.desc(), Conversation.id.desc())
        .limit(limit)
    )
    return list(rows.all())


async def with_tickets(session: AsyncSession, ids: list[str]) -> set[str]:
    """Which of these conversations the inbox has (the rest are AI-only: the console shows them)."""
    if not ids:
        return set()
    rows = await session.scalars(select(InboxTicket.conversation_id).where(InboxTicket.conversation_id.in_(ids)))
    return set(rows.all())


async def unread(session: AsyncSession, user_id: int | None, ids: list[str]) -> dict[str, int]:
    """For each conversation, how many shopper messages are newer than what this agent last read (0: none)."""
    if user_id is None or not ids:
        return {}
    read = (
        select(InboxRead.conversation_id, InboxRead.last_read_seq)
        .where(InboxRead.user_id == user_id, InboxRead.conversation_id.in_(ids))
        .subquery()
    )
    rows = await session.execute(
        select(Message.conversation_id, func.count(Message.id))
        .outerjoin(read, read.c.conversation_id == Message.conversation_id)
        .where(Message.conversation_id.in_(ids), Message.author == "shopper")
        .where(Message.seq > func.coalesce(read.c.last_read_seq, 0))
        .group_by(Message.conversation_id)
    )
    return {conversation_id: int(count) for conversation_id, count in rows.all()}


async def mark_read(session: AsyncSession, user_id: int, conversation_id: str, seq: int) -> None:
    """This agent has read the conversation up to `seq` (never moves back)."""
    read = await session.get(InboxRead, (user_id, conversation_id))
    if read is None:
        session.add(InboxRead(user_id=user_id, conversation_id=conversation_id, last_read_seq=seq))
    elif seq > read.last_read_seq:
        read.last_read_seq = seq
    await session.flush()
