"""What a shopper handed to the built-in inbox is told, for every combination of weekly hours, holidays and agents
away: a holiday closes the team whether or not weekly hours are set, and whoever is signed in."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime

import pytest

from frontdesk.channels.service import every_channel
from frontdesk.conversations.turn import HANDOFF_YES, ChatFlow
from frontdesk.db import Database
from frontdesk.handoff import office_hours
from frontdesk.handoff import service as handoff
from frontdesk.handoff.deliveries import TEAM_JOINS, outbox_worker
from frontdesk.handoff.schemas import HandoffSettingsIn, Method
from frontdesk.inbox.service import Presence
from frontdesk.knowledge.service import Knowledge
from frontdesk.realtime.bus import EventBus
from frontdesk.retrieval.embedders import Embedder
from frontdesk.transcripts import service as conversations
from frontdesk.vault import Vault
from tests.server import TEST_SECRET_KEY

ZONE = "America/Los_Angeles"
MONDAY_10AM = datetime(2026, 12, 7, 18, 0, tzinfo=UTC)  # 10:00 in Los Angeles, a Monday
MONDAY_8PM = datetime(2026, 12, 8, 4, 0, tzinfo=UTC)  # 20:00 in Los Angeles, still Monday there (Tuesday in UTC)
WEEKDAYS_9_TO_5 = {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}
AGENTS = ["online", "away", "none"]  # signed in, signed in and set away, nobody with the inbox open
AUTO, AWAY = "Thanks, someone will reply soon.", "We're closed; we'll reply during office hours."


@pytest.mark.parametrize(
    ("schedule", "now", "holiday"),
    list(itertools.product([{}, WEEKDAYS_9_TO_5], [MONDAY_10AM, MONDAY_8PM], [False, True])),
)
def test_a_holiday_closes_the_team_with_or_without_weekly_hours(
    schedule: dict[str, list[list[str]]], now: datetime, holiday: bool
) -> None:
    holidays = ["2026-12-07"] if holiday else ["2026-12-25"]  # the local date, not the UTC one
    within_hours = not schedule or now == MONDAY_10AM
    assert office_hours.is_open(now, schedule, ZONE, holidays) is (within_hours and not holiday)


@pytest.mark.parametrize(
    ("schedule", "now", "holiday", "agents"),
    list(
        itertools.product([{}, WEEKDAYS_9_TO_5], [MONDAY_10AM, MONDAY_8PM], [False, True], ["online", "away", "none"])
    ),
)
async def test_what_the_shopper_is_told_at_handoff(
    database: Database,
    embedder: Embedder,
    schedule: dict[str, list[list[str]]],
    now: datetime,
    holiday: bool,
    agents: str,
) -> None:
    presence = Presence()
    if agents != "none":
        await presence.arrive(7, away=agents == "away")
    channels = every_channel(database.sessions, lambda: now)
    flow = ChatFlow(
        database.sessions,
        Knowledge(embedder),
        EventBus(),
        lambda: now,
        asyncio.Event(),
        presence=presence,
        channels=channels,
    )
    async with database.session() as session:
        await handoff.update_settings(
            session,
            HandoffSettingsIn(
                method=Method.builtin, timezone=ZONE, office_hours=schedule, auto_response=AUTO,
                office_hours_message=AWAY, holidays=["2026-12-07"] if holiday else [],
            ),
        )  # fmt: skip
        conversation = await conversations.create(session, "webchat", conversations.new_visitor_token())
        await session.commit()
    await flow.shopper_message(conversation.id, "can you recommend a campsite near bend oregon?")
    await flow.action(conversation.id, HANDOFF_YES)
    await flow.email(conversation.id, "ana@example.com")
    worker = outbox_worker(
        database.sessions,
        EventBus(),
        presence,
        lambda: now,
        asyncio.Event(),
        vault=Vault(TEST_SECRET_KEY),
        channels=channels,
    )
    assert await worker.deliver_due() == 1
    async with database.session() as session:
        told = (await conversations.messages_after(session, conversation.id, 0))[-1].text

    closed = holiday or (bool(schedule) and now == MONDAY_8PM)
    assert told == (AWAY if closed else TEAM_JOINS if agents == "online" else AUTO)
