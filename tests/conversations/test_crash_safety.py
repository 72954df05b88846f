"""Nothing lost to a crash: a shopper input stored just before the process died is answered after the restart (an
answer, an offer or a handoff), a resend of it answers instead of being dropped, and a click is either whole or not
taken at all. The subprocess tests kill a real `frontdesk serve` (SIGKILL, as `kill -9`) at the named crash points of
frontdesk/crashpoints.py, then start a new one on the same database."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from frontdesk.app import create_app
from frontdesk.channels.service import every_channel
from frontdesk.config import Settings
from frontdesk.conversations.turn import HANDOFF_YES, ON_ITS_WAY, ChatFlow
from frontdesk.db import Database, utcnow
from frontdesk.knowledge import service as knowledge_service
from frontdesk.knowledge.schemas import EntryIn, EntryKind
from frontdesk.knowledge.service import Knowledge
from frontdesk.realtime.bus import EventBus
from frontdesk.retrieval.embedders import Embedder
from frontdesk.transcripts import service as conversations
from frontdesk.transcripts.models import Message
from tests.channels.webchat.test_protocol import Frame, connect
from tests.server import ADMIN_HEADERS, running_server

QUESTION = "do you ship to canada?"
UNKNOWN = "can you recommend a campsite near bend oregon?"


def wait_until_dead(base: str) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{base}/healthz", timeout=0.5)
        except httpx.HTTPError:
            return
        time.sleep(0.1)
    raise AssertionError("the server was meant to crash and did not")


def shopper_and_ai(frames: list[Frame]) -> list[tuple[str, str]]:
    return [(f["author"], f["kind"]) for f in frames if f["type"] == "message"]


def stored(base: str, conversation_id: str) -> Frame:
    return httpx.get(f"{base}/api/conversations/{conversation_id}", headers=ADMIN_HEADERS).json()


async def test_a_message_stored_before_a_crash_is_answered_after_the_restart_and_its_resend_is_not_doubled(
    settings: Settings, tmp_path: Path
) -> None:
    with running_server(settings.database_url, tmp_path / "a.log", {"FRONTDESK_CRASH_AT": "message.stored"}) as base:
        async with connect(base) as (chat, welcome):
            await chat.send({"type": "message", "text": QUESTION, "client_id": "c-1"})
            await chat.dropped()
        wait_until_dead(base)
    with running_server(settings.database_url, tmp_path / "b.log") as base:
        async with connect(base, {"token": welcome["token"], "last_seq": 0}) as (chat, again):
            assert again["conversation_id"] == welcome["conversation_id"]
            # The widget resends what it never saw echoed: the same client_id, stored once, answered once.
            await chat.send({"type": "message", "text": QUESTION, "client_id": "c-1"})
            frames = await chat.frames(1.0)
        answers = [f["text"] for f in frames if f["type"] == "message" and f["author"] == "ai"]
        assert len(answers) == 1 and "Canada" in answers[0]
        messages = stored(base, welcome["conversation_id"])["messages"]
        assert (messages[0]["author"], messages[0]["text"]) == ("shopper", QUESTION)
        assert len([m for m in messages if m["author"] == "shopper"]) == 1


async def test_an_email_given_before_a_crash_hands_off_after_the_restart(settings: Settings, tmp_path: Path) -> None:
    with running_server(settings.database_url, tmp_path / "a.log", {"FRONTDESK_CRASH_AT": "email.stored"}) as base:
        async with connect(base) as (chat, welcome):
            await chat.send({"type": "message", "text": UNKNOWN})
            await chat.until(lambda f: f.get("kind") == "offer")
            await chat.send({"type": "action", "action": HANDOFF_YES})
            await chat.until(lambda f: f.get("kind") == "email_request")
            await chat.send({"type": "email", "email": "ana@example.com"})
            await chat.dropped()
        wait_until_dead(base)
    with running_server(settings.database_url, tmp_path / "b.log") as base:
        async with connect(base, {"token": welcome["token"], "last_seq": 0}) as (chat, again):
            assert again["status"] in ("handing_off", "with_team")
            frames = await chat.frames(0.5)
        assert ON_ITS_WAY in [f["text"] for f in frames if f["type"] == "message"]
        deadline = time.monotonic() + 10
        while (conversation := stored(base, welcome["conversation_id"]))["status"] != "with_team":
            assert time.monotonic() < deadline, conversation["status"]
            time.sleep(0.1)
        assert conversation["email"] == "ana@example.com"
        tickets = httpx.get(f"{base}/api/inbox/tickets", headers=ADMIN_HEADERS).json()
        assert [t["conversation_id"] for t in tickets].count(welcome["conversation_id"]) == 1


@pytest.mark.parametrize(
    ("point", "status_after"),
    [("action.written", "offered"), ("action.committed", "needs_email")],
)
async def test_a_click_cut_by_a_crash_is_either_whole_or_not_taken(
    settings: Settings, tmp_path: Path, point: str, status_after: str
) -> None:
    with running_server(settings.database_url, tmp_path / "a.log", {"FRONTDESK_CRASH_AT": point}) as base:
        async with connect(base) as (chat, welcome):
            await chat.send({"type": "message", "text": UNKNOWN})
            await chat.until(lambda f: f.get("kind") == "offer")
            await chat.send({"type": "action", "action": HANDOFF_YES})
            await chat.dropped()
        wait_until_dead(base)
    with running_server(settings.database_url, tmp_path / "b.log") as base:
        async with connect(base, {"token": welcome["token"], "last_seq": 0}) as (chat, again):
            assert again["status"] == status_after
            kinds = [kind for _, kind in shopper_and_ai(await chat.frames(0.5))]
            if status_after == "offered":  # not taken: the offer is still open, and a click now works
                assert "email_request" not in kinds
                await chat.send({"type": "action", "action": HANDOFF_YES})
                await chat.until(lambda f: f.get("kind") == "email_request")
            else:  # taken whole: its reply is there on reconnect
                assert kinds.count("email_request") == 1


@pytest.fixture
async def flow(database: Database, embedder: Embedder) -> ChatFlow:
    knowledge = Knowledge(embedder)
    async with database.session() as session:
        faq = EntryIn(kind=EntryKind.faq, title="Do you ship to Canada?", body="Yes, to Canada in 5-8 business days.")
        await knowledge_service.create_entry(session, knowledge, faq)
        await session.commit()
    channels = every_channel(database.sessions, utcnow)
    return ChatFlow(database.sessions, knowledge, EventBus(), utcnow, asyncio.Event(), channels=channels)


async def _left_unanswered(database: Database, text: str, client_id: str | None = None) -> str:
    """What a crash between a message's commit and its turn's commit leaves behind."""
    async with database.session() as session:
        conversation = await conversations.create(session, "webchat", conversations.new_visitor_token())
        await conversations.insert_message(
            session, conversation, "shopper", text, client_id=client_id, awaiting_turn=True
        )
        await session.commit()
        return conversation.id


async def _messages(database: Database, conversation_id: str) -> list[Message]:
    async with database.session() as session:
        rows = await session.scalars(
            select(Message).where(Message.conversation_id == conversation_id).order_by(Message.seq)
        )
        return list(rows.all())


async def test_a_resend_of_an_unanswered_message_answers_it_instead_of_being_dropped(
    database: Database, flow: ChatFlow
) -> None:
    conversation_id = await _left_unanswered(database, QUESTION, client_id="c-7")
    await flow.shopper_message(conversation_id, QUESTION, client_id="c-7")
    await flow.shopper_message(conversation_id, QUESTION, client_id="c-7")  # and again: answered already, dropped
    messages = await _messages(database, conversation_id)
    assert [(m.author, m.awaiting_turn) for m in messages] == [("shopper", False), ("ai", False)]
    assert "Canada" in messages[1].text


async def test_starting_the_service_answers_what_the_last_one_left_unanswered(
    database: Database, settings: Settings, flow: ChatFlow
) -> None:
    first = await _left_unanswered(database, QUESTION)
    second = await _left_unanswered(database, "hello")
    assert await flow.answer_awaiting() == 2
    assert await flow.answer_awaiting() == 0  # each once
    assert [m.author for m in await _messages(database, first)] == ["shopper", "ai"]
    assert [m.author for m in await _messages(database, second)] == ["shopper", "ai"]
    # And through the app's own start-up, as `frontdesk serve` does it.
    third = await _left_unanswered(database, QUESTION)
    app = create_app(settings.model_copy(update={"run_worker": False}))
    async with app.router.lifespan_context(app):
        pass
    assert [m.author for m in await _messages(database, third)] == ["shopper", "ai"]
