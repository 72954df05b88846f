"""SMS as a Channel: plain-text answers with the full link, a handoff with no consent step, and everything the AI,
the system or the team says texted through the outbox."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from frontdesk import rich_text
from frontdesk.channels.sms.sending import SMS_KIND, SmsSender, enqueue_sms
from frontdesk.channels.sms.service import SMS, sms_answer
from frontdesk.config import Settings
from frontdesk.outbox.delivery import Delivery
from frontdesk.transcripts.channel import Continuation
from frontdesk.transcripts.models import Conversation, Message
from frontdesk.vault import Vault


@dataclass
class Sms:
    sessions: async_sessionmaker[AsyncSession]
    vault: Vault | None
    settings: Settings
    clock: Callable[[], datetime]
    name: ClassVar[str] = SMS
    label: ClassVar[str] = "SMS"
    asks_consent: ClassVar[bool] = False  # the phone number says who the shopper is: the team gets it at once
    asks_team_rating: ClassVar[bool] = False

    def shape_answer(
        self, text: str, link: str | None, card: dict[str, object] | None
    ) -> tuple[str, dict[str, object]]:
        # plain text, with the full link (a relative one is no use in a text)
        return sms_answer(text, link if link and link.startswith("http") else None), {}

    def shape_custom(self, markdown: str) -> str:
        return rich_text.plain(markdown) or markdown

    async def deliver(self, session: AsyncSession, conversation: Conversation, messages: Sequence[Message],
                      now: datetime) -> bool:  # fmt: skip
        """An SMS shopper sees nothing but texts: each message goes out as one, queued with it."""
        for message in messages:
            await enqueue_sms(session, conversation.id, message.seq, now)
        return bool(messages)

    async def reach_away(self, session: AsyncSession, conversation: Conversation, seq: int, now: datetime) -> bool:
        await enqueue_sms(session, conversation.id, seq, now)
        return True

    def after_handoff(self, target: str) -> Continuation:
        return Continuation.here  # every helpdesk's replies come back as texts

    def deliveries(self) -> Mapping[str, Delivery]:
        return {SMS_KIND: SmsSender(self.sessions, self.vault, self.settings, self.clock)}
