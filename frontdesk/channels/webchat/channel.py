"""Web chat as a Channel: answers with a product's card or a source link, an offer of a person before a handoff, and
a reply by email for a shopper who left the chat."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from sqlalchemy.ext.asyncio import AsyncSession

from frontdesk.channels.webchat.service import Connections
from frontdesk.handoff.schemas import Method
from frontdesk.inbox import emails
from frontdesk.outbox.delivery import Delivery
from frontdesk.transcripts.channel import Continuation
from frontdesk.transcripts.models import Conversation, Message

WEBCHAT = "webchat"


@dataclass
class WebChat:
    # The web chat connections of this process; None (a process without web chat) never sends a reply by email.
    connections: Connections | None = None
    name: ClassVar[str] = WEBCHAT
    label: ClassVar[str] = "Web chat"
    asks_consent: ClassVar[bool] = True
    asks_team_rating: ClassVar[bool] = True

    def shape_answer(
        self, text: str, link: str | None, card: dict[str, object] | None
    ) -> tuple[str, dict[str, object]]:
        if card is not None:
            return text, {"card": {**card, "url": link}}
        return text, {"source": link} if link else {}

    def shape_custom(self, markdown: str) -> str:
        return markdown  # the widget draws the rich-text subset itself

    async def deliver(self, session: AsyncSession, conversation: Conversation, messages: Sequence[Message],
                      now: datetime) -> bool:  # fmt: skip
        return False  # the event bus carries each message to the shopper's open chats

    async def reach_away(self, session: AsyncSession, conversation: Conversation, seq: int, now: datetime) -> bool:
        """A shopper with no open connection here, and an email, gets the reply by email; a connected one has the
        published event."""
        if self.connections is None or await self.connections.is_connected(conversation.id) or not conversation.email:
            return False
        await emails.enqueue_email(session, conversation.id, emails.reply_email_kind(seq), now)
        return True

    def after_handoff(self, target: str) -> Continuation:
        # Gorgias takes a web chat handoff as an email ticket and answers by email itself (DESIGN: "the chat ends").
        return Continuation.by_email if target == Method.gorgias.value else Continuation.here

    def deliveries(self) -> Mapping[str, Delivery]:
        return {}  # the web chat sends nothing from the outbox itself: its emails are the inbox's
