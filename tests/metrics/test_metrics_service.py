"""The dashboard's numbers from the database: outcomes per UTC day and channel, the conversation lists behind them,
and the unanswered questions with the team's replies."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from frontdesk.db import Database
from frontdesk.metrics import service
from frontdesk.transcripts import service as conversations
from tests.metrics.conftest import add_conversation

DAY1 = datetime(2025, 3, 10, 9, tzinfo=UTC)
QUESTION = [("shopper", "do you ship to canada?", "answer"), ("ai", "Yes.", None)]
UNKNOWN = [("shopper", "do you gift wrap?", "unknown"), ("ai", "Would you like a person?", None)]
GREETING = [("shopper", "hi", "small_talk"), ("ai", "Hi!", None)]


async def seed_mix(database: Database) -> None:
    """Day 1: 2 resolved, 1 unresolved, 1 no question (web chat) and 1 routed (SMS); day 3: 1 routed; one each
    the day before and after."""
    for _ in range(2):
        await add_conversation(database, DAY1, "resolved", QUESTION)
    await add_conversation(database, DAY1 + timedelta(hours=3), "unresolved", UNKNOWN)
    await add_conversation(database, DAY1, "no_question", GREETING)
    await add_conversation(database, DAY1, "routed_to_team", UNKNOWN, channel="sms")
    await add_conversation(database, DAY1 + timedelta(days=2), "routed_to_team", UNKNOWN)
    await add_conversation(database, DAY1 - timedelta(days=1), "resolved", QUESTION)
    await add_conversation(database, DAY1 + timedelta(days=3), "resolved", QUESTION)


async def test_rates_leave_out_conversations_without_a_question(database: Database) -> None:
    await seed_mix(database)
    async with database.session() as session:
        totals = await service.overview(session, date(2025, 3, 10), date(2025, 3, 12))
    assert (totals.conversations, totals.resolved, totals.routed_to_team, totals.unresolved, totals.no_question) == (
        6, 2, 2, 1, 1
    )  # fmt: skip
    assert totals.resolution_rate == 0.4  # 2 of the 5 with a question
    assert totals.routed_to_team_rate == 0.4


async def test_every_day_of_the_range_is_counted_empty_days_included(database: Database) -> None:
    await seed_mix(database)
    async with database.session() as session:
        series = await service.daily(session, date(2025, 3, 10), date(2025, 3, 12))
    assert [d.day for d in series.days] == [date(2025, 3, 10), date(2025, 3, 11), date(2025, 3, 12)]
    first, empty, third = series.days
    assert (first.conversations, first.resolved, first.routed_to_team, first.unresolved, first.no_question) == (
        5, 2, 1, 1, 1
    )  # fmt: skip
    assert first.resolution_rate == 0.5
    assert first.routed_to_team_rate == 0.25
    assert empty.conversations == 0 and empty.resolution_rate is None
    assert (third.conversations, third.routed_to_team, third.routed_to_team_rate) == (1, 1, 1.0)


async def test_a_channel_counts_only_its_own_conversations(database: Database) -> None:
    await seed_mix(database)
    async with database.session() as session:
        sms = await service.daily(session, date(2025, 3, 10), date(2025, 3, 12), "sms")
        webchat = await service.overview(session, date(2025, 3, 10), date(2025, 3, 12), "webchat")
    assert [d.conversations for d in sms.days] == [1, 0, 0]
    assert webchat.conversations == 5


async def test_a_conversation_counts_on_the_utc_day_it_started(database: Database) -> None:
    await add_conversation(database, datetime(2025, 3, 10, 23, 59, 59, tzinfo=UTC), "resolved", QUESTION)
    await add_conversation(database, datetime(2025, 3, 11, 0, 0, 0, tzinfo=UTC), "unresolved", UNKNOWN)
    async with database.session() as session:
        series = await service.daily(session, date(2025, 3, 10), date(2025, 3, 11))
        only_first = await service.overview(session, date(2025, 3, 10), date(2025, 3, 10))
    assert [(d.resolved, d.unresolved) for d in series.days] == [(1, 0), (0, 1)]
    assert only_first.conversations == 1


async def test_a_range_backwards_or_longer_than_a_year_is_refused(database: Database) -> None:
    async with database.session() as session:
        with pytest.raises(service.RangeError, match="before"):
            await service.daily(session, date(2025, 3, 10), date(2025, 3, 9))
        with pytest.raises(service.RangeError, match="366 days"):
            await service.daily(session, date(2024, 1, 1), date(2025, 1, 1))


async def test_the_list_behind_a_number_holds_exactly_its_conversations_with_the_first_question(
    database: Database,
) -> None:
    await seed_mix(database)
    greeted_then_asked = await add_conversation(
        database, DAY1, "resolved", [*GREETING, ("shopper", "how long does shipping take?", "answer")]
    )
    low, high = service.bounds(date(2025, 3, 10), date(2025, 3, 12))
    async with database.session() as session:
        resolved, total = await conversations.search(session, outcome="resolved", since=low, until=high)
        page_two, _ = await conversations.search(session, since=low, until=high, limit=4, offset=4)
        everything, all_total = await conversations.search(session, since=low, until=high, limit=4)
    assert total == 3
    assert {r.conversation.outcome for r in resolved} == {"resolved"}
    firsts = {r.conversation.id: r.first_question for r in resolved}
    assert firsts[greeted_then_asked] == "how long does shipping take?"  # the greeting is not a question
    assert all_total == 7
    assert len(everything) == 4 and len(page_two) == 3
    assert not {r.conversation.id for r in everything} & {r.conversation.id for r in page_two}
    assert [r.conversation.created_at for r in everything] == sorted(
        (r.conversation.created_at for r in everything), reverse=True
    )


async def test_an_unanswered_question_carries_the_teams_next_reply_before_the_next_unanswered_one(
    database: Database,
) -> None:
    replied = await add_conversation(database, DAY1, "routed_to_team", [
        ("shopper", "do you gift wrap?", "unknown"),
        ("ai", "Would you like to connect with a person?", None),
        ("system", "Passing this to our team.", None),
        ("agent", "Yes, gift wrap is $5 per item.", None),
        ("agent", "Anything else?", None),
    ])  # fmt: skip
    two = await add_conversation(database, DAY1, "routed_to_team", [
        ("shopper", "can you engrave bottles?", "unknown"),
        ("shopper", "what about gift wrap?", "unknown"),
        ("agent", "Gift wrap is $5; no engraving.", None),
    ])  # fmt: skip
    await add_conversation(database, DAY1, "resolved", QUESTION)
    await add_conversation(database, DAY1, "unresolved", UNKNOWN, channel="sms")
    await add_conversation(database, DAY1 + timedelta(days=5), "unresolved", UNKNOWN)
    low, high = service.bounds(date(2025, 3, 10), date(2025, 3, 10))
    async with database.session() as session:
        webchat = await conversations.unanswered_questions(session, low, high, "webchat")
        every_channel = await conversations.unanswered_questions(session, low, high)
    replies = {(q.conversation_id, q.text): q.reply for q in webchat}
    assert replies == {
        (replied, "do you gift wrap?"): "Yes, gift wrap is $5 per item.",
        (two, "can you engrave bottles?"): None,
        (two, "what about gift wrap?"): "Gift wrap is $5; no engraving.",
    }
    assert len(every_channel) == 4
