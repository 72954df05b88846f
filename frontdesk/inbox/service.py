"""The built-in inbox as a handoff target: tickets for handed-off conversations, and who is there to answer."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from frontdesk.inbox.models import InboxTicket


class Presence:
    """Agents with the inbox open and not set away, per process (the inbox pages report in; see issue 4)."""

    def __init__(self) -> None:
        self._online: dict[str, int] = {}

    def arrive(self, agent_id: str) -> None:
        self._online[agent_id] = self._online.get(agent_id, 0) + 1

    def leave(self, agent_id: str) -> None:
        left = self._online.get(agent_id, 0) - 1
        if left > 0:
            self._online[agent_id] = left
        else:
            self._online.pop(agent_id, None)

    @property
    def online(self) -> int:
        return len(self._online)


async def open_ticket(session: AsyncSession, conversation_id: str, reason: str) -> InboxTicket:
    """The conversation's inbox ticket, created once: delivering the same handoff again (a retry, or a new handoff
    after a hand back) returns the same ticket, reopened."""
    ticket = await session.scalar(select(InboxTicket).where(InboxTicket.conversation_id == conversation_id))
    if ticket is None:
        ticket = InboxTicket(conversation_id=conversation_id, reason=reason[:200], state="open")
        session.add(ticket)
        await session.flush()
    else:
        ticket.state, ticket.reason = "open", reason[:200]
    return ticket


async def list_tickets(session: AsyncSession, state: str | None = None) -> list[InboxTicket]:
    query = select(InboxTicket).order_by(InboxTicket.created_at.desc())
    if state:
        query = query.where(InboxTicket.state == state)
    return list((await session.scalars(query)).all())
