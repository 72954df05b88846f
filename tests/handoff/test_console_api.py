"""The admin API the console's handoff and integrations pages use: the custom message's preview (the sanitising that
saving applies, nothing saved) and the outbox listed by target."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from frontdesk.db import Database
from frontdesk.outbox.models import OutboxItem
from frontdesk.transcripts import service as conversations


async def test_preview_shows_the_message_as_saving_would_store_it_and_saves_nothing(client: httpx.AsyncClient) -> None:
    message = (
        "Write to [our team](https://help.juniper.example/contact) <script>alert(1)</script><b>now</b> "
        "or [click](javascript:alert(1)) or [mail us](mailto:help@juniper.example)"
    )
    before = (await client.get("/api/settings/handoff")).json()

    answer = await client.post("/api/settings/handoff/preview", json={"custom_message": message})

    assert answer.status_code == 200
    shown = answer.json()["custom_message"]
    assert shown == (
        "Write to [our team](https://help.juniper.example/contact) now or click or "
        "[mail us](mailto:help@juniper.example)"
    )
    saved = (await client.put("/api/settings/handoff", json={"method": "none", "custom_message": message})).json()
    assert saved["custom_message"] == shown  # the preview is exactly what is saved
    assert before["custom_message"] == ""


async def test_preview_needs_the_admin_and_a_message_of_at_most_2000_characters(client: httpx.AsyncClient) -> None:
    too_long = await client.post("/api/settings/handoff/preview", json={"custom_message": "x" * 2001})
    assert too_long.status_code == 422
    anonymous = await client.post(
        "/api/settings/handoff/preview", json={"custom_message": "hi"}, headers={"Authorization": ""}
    )
    assert anonymous.status_code == 401


async def test_outbox_lists_the_dead_rows_of_one_target(client: httpx.AsyncClient, database: Database) -> None:
    now = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    async with database.session() as session:
        conversation = await conversations.create(session, "webchat", conversations.new_visitor_token())
        session.add_all([
            OutboxItem(kind="handoff", conversation_id=conversation.id, target="zendesk", status="dead",
                       last_error="AuthFailed: 401", next_attempt_at=now),
            OutboxItem(kind="sms:3", conversation_id=conversation.id, target="sms", status="dead",
                       last_error="Rejected: 400", next_attempt_at=now),
            OutboxItem(kind="team_alert", conversation_id=conversation.id, target="email", status="pending",
                       next_attempt_at=now),
        ])  # fmt: skip
        await session.commit()

    dead_zendesk = (await client.get("/api/outbox", params={"status": "dead", "target": "zendesk"})).json()
    assert [(row["target"], row["kind"], row["last_error"]) for row in dead_zendesk] == [
        ("zendesk", "handoff", "AuthFailed: 401")
    ]
    every_target = (await client.get("/api/outbox", params={"status": "dead"})).json()
    assert {row["target"] for row in every_target} == {"zendesk", "sms"}
    assert (await client.get("/api/outbox", params={"target": "gorgias"})).json() == []
