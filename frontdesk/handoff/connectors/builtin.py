"""The built-in inbox behind the Connector interface: the ticket is a row in frontdesk's own database."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from frontdesk.db import utcnow
from frontdesk.handoff.connectors.base import Account, ReplyPath, TicketRef, TicketRequest
from frontdesk.inbox import service as inbox

NAME = "builtin"


class BuiltinConnector:
    name = NAME

    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Callable[[], datetime] = utcnow) -> None:
        self.sessions = sessions
        self.clock = clock

    async def verify(self) -> Account:
        return Account(name="Built-in inbox", email="", id=NAME)

    async def create_ticket(
        self, request: TicketRequest, idempotency_key: str, *, search_first: bool = False
    ) -> TicketRef:
        # open_ticket returns the conversation's one ticket when it exists: already idempotent, nothing to search.
        async with self.sessions() as session:
            ticket = await inbox.open_ticket(session, request.conversation_id, request.reason, self.clock())
            await session.commit()
            return TicketRef(str(ticket.id), NAME)

    async def add_message(self, ticket_ref: TicketRef, text: str, request: TicketRequest) -> str | None:
        """Nothing to send: the inbox shows the conversation's stored messages."""
        return None

    async def find_message(self, ticket_ref: TicketRef, text: str) -> str | None:
        return None  # nothing was sent

    async def set_up_replies(self, webhook_url: str, secret: str) -> ReplyPath:
        return ReplyPath(automatic=True)

    async def aclose(self) -> None:
        """No connection of its own: the sessions belong to the caller."""
