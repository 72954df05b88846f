"""Conversations written straight into the database, each with the day it started and the outcome the chat flow
would have stored, so the metrics can be checked against a known mix on known days."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from frontdesk.db import Database
from frontdesk.transcripts.models import Conversation, Message
from frontdesk.transcripts.service import new_id

#: (author, text, the agent's decision on a shopper message or None)
Line = tuple[str, str, str | None]


async def add_conversation(
    database: Database,
    at: datetime,
    outcome: str,
    lines: Sequence[Line] = (),
    channel: str = "webchat",
    email: str | None = None,
) -> str:
    """One conversation started at `at` with `lines` one second apart; returns its id."""
    async with database.session() as session:
        conversation = Conversation(
            id=new_id("conv"), channel=channel, status="ai", outcome=outcome, outcome_reason=f"seeded {outcome}",
            email=email, created_at=at, last_seq=len(lines), last_activity_at=at,
        )  # fmt: skip
        session.add(conversation)
        for seq, (author, text, decision) in enumerate(lines, start=1):
            session.add(Message(
                conversation_id=conversation.id, seq=seq, author=author, text=text,
                meta={"decision": decision} if decision else {}, created_at=at + timedelta(seconds=seq),
            ))  # fmt: skip
        await session.commit()
        return conversation.id
