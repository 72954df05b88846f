"""Each integration shows when something last reached it through the outbox: what the console's Integrations page
calls the last delivery (Twilio's are the texts, target "sms")."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from frontdesk.db import Database
from frontdesk.outbox.models import OutboxItem
from frontdesk.transcripts import service as conversations


async def test_last_delivery_is_the_newest_delivered_row_of_the_integrations_target(
    client: httpx.AsyncClient, database: Database
) -> None:
    assert (await client.get("/api/integrations/zendesk")).json()["last_delivery_at"] is None
    due = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    async with database.session() as session:
        conversation = await conversations.create(session, "webchat", conversations.new_visitor_token())
        session.add_all([
            OutboxItem(kind="handoff", conversation_id=conversation.id, target="zendesk", status="delivered",
                       next_attempt_at=due, delivered_at=datetime(2026, 3, 2, 10, 1, tzinfo=UTC)),
            OutboxItem(kind="ticket_message:4", conversation_id=conversation.id, target="zendesk",
                       status="delivered", next_attempt_at=due, delivered_at=datetime(2026, 3, 2, 11, 30, tzinfo=UTC)),
            OutboxItem(kind="ticket_message:6", conversation_id=conversation.id, target="zendesk", status="dead",
                       next_attempt_at=due),
            OutboxItem(kind="sms:2", conversation_id=conversation.id, target="sms", status="delivered",
                       next_attempt_at=due, delivered_at=datetime(2026, 3, 1, 9, 0, tzinfo=UTC)),
        ])  # fmt: skip
        await session.commit()

    shown = {row["kind"]: row["last_delivery_at"] for row in (await client.get("/api/integrations")).json()}
    assert shown["zendesk"].startswith("2026-03-02T11:30")
    assert shown["twilio"].startswith("2026-03-01T09:00")
    assert shown["gorgias"] is None
