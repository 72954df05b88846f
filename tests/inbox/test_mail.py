"""Email out of the built-in inbox: an agent's reply reaches a shopper who left by email, with a link that reopens the
chat; nobody available at a handoff → the team gets an alert. A real server and WebSockets (uvicorn in the test's
loop, so the test holds the app and its clock) and a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import uvicorn
import websockets
from fastapi import FastAPI
from sqlalchemy import select

from frontdesk.app import create_app
from frontdesk.config import Settings
from frontdesk.db import Database
from frontdesk.handoff.deliveries import outbox_worker
from frontdesk.inbox import emails
from frontdesk.inbox.mail import NOT_CONFIGURED
from frontdesk.inbox.models import InboxTicket
from frontdesk.inbox.service import Presence
from frontdesk.outbox.models import OutboxItem
from frontdesk.realtime.bus import EventBus
from frontdesk.transcripts import service as conversations
from frontdesk.transcripts.service import ResumeLinks
from frontdesk.users.models import User
from tests.channels.webchat.test_protocol import Chat, Frame, connect, texts
from tests.fakes.smtp import SmtpServer, text_of
from tests.server import TEST_SECRET_KEY, free_port

RESUME = re.compile(r"(http://\S+/chat\?resume=([A-Za-z0-9_.\-]+))")


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Shop:
    base: str
    app: FastAPI
    clock: Clock
    smtp: SmtpServer

    async def deliver(self) -> None:
        """One pass of the outbox worker (it does not run on its own here: the test decides when)."""
        await self.app.state.worker.deliver_due()

    async def outbox(self, conversation_id: str) -> dict[str, OutboxItem]:
        async with self.app.state.database.session() as session:
            rows = await session.scalars(select(OutboxItem).where(OutboxItem.conversation_id == conversation_id))
            return {row.kind: row for row in rows.all()}

    async def reply_email_row(self, conversation_id: str) -> OutboxItem:
        [row] = [row for kind, row in (await self.outbox(conversation_id)).items() if kind.startswith("reply_email:")]
        return row

    async def disconnected(self, conversation_id: str) -> None:
        """Wait until the server has seen the shopper's socket close (it learns it a moment after the client)."""
        connections = self.app.state.connections
        async with asyncio.timeout(5):
            while await connections.is_connected(conversation_id):
                await asyncio.sleep(0.01)


@asynccontextmanager
async def open_shop(settings: Settings, smtp_up: bool = True) -> AsyncIterator[Shop]:
    smtp = SmtpServer()
    if smtp_up:
        smtp.start()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    clock = Clock()
    configured = settings.model_copy(update={
        "public_url": base, "run_worker": False, "smtp_host": "127.0.0.1", "smtp_port": smtp.port,
        "smtp_security": "none", "mail_from": "Juniper & Pine <support@juniper.example>",
    })  # fmt: skip
    app = create_app(configured, clock)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    serving = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(90):  # the lifespan loads the embedder first
            while not server.started:
                if serving.done():
                    serving.result()
                await asyncio.sleep(0.05)
        yield Shop(base, app, clock, smtp)
    finally:
        server.should_exit = True
        await serving
        smtp.stop()


async def hand_off(chat: Chat, email: str = "ana@example.com") -> None:
    """Ask for a person, say yes, give an email; the test's worker pass delivers the handoff to the inbox."""
    await chat.send({"type": "message", "text": "I'd like to talk to a human about my order 4411"})
    await chat.until(lambda f: f.get("kind") == "offer")
    await chat.send({"type": "action", "action": "handoff_yes"})
    await chat.until(lambda f: f.get("kind") == "email_request")
    await chat.send({"type": "email", "email": email})
    await chat.until(lambda f: f.get("status") == "handing_off")


async def handed_off(shop: Shop, chat: Chat) -> None:
    await hand_off(chat)
    await shop.deliver()
    await chat.until(lambda f: f.get("status") == "with_team")


def resume_link(text: str) -> tuple[str, str]:
    found = RESUME.search(text)
    assert found, f"no resume link in {text!r}"
    return found.group(1), found.group(2)


async def test_reply_to_a_shopper_who_left_arrives_by_email_and_its_link_reopens_the_whole_chat(
    settings: Settings,
) -> None:
    async with open_shop(settings) as shop:
        async with connect(shop.base) as (chat, welcome):
            await handed_off(shop, chat)
        conversation_id = welcome["conversation_id"]
        await shop.disconnected(conversation_id)

        await shop.app.state.team.reply(conversation_id, "Sam", "It ships <tomorrow> & arrives Friday.")
        await shop.deliver()

        [email] = shop.smtp.messages
        assert email["To"] == "ana@example.com"
        assert email["Subject"] == "Re: your chat with Juniper & Pine"
        assert "support@juniper.example" in email["From"]
        plain = text_of(email)
        assert "It ships <tomorrow> & arrives Friday." in plain
        assert "It ships &lt;tomorrow&gt; &amp; arrives Friday." in text_of(email, "html")
        link, value = resume_link(plain)
        assert link.startswith(f"{shop.base}/chat?resume=")
        assert (await shop.reply_email_row(conversation_id)).status == "delivered"

        async with httpx.AsyncClient() as http:
            page = await http.get(link)
        assert page.status_code == 200
        assert "Juniper &amp; Pine" in page.text
        assert 'data-layout="page"' in page.text
        assert page.headers["referrer-policy"] == "no-referrer"

        # Another browser (no token) follows the link: the whole conversation, the agent's reply included.
        async with connect(shop.base, {"resume": value, "last_seq": 99}) as (chat, resumed):
            assert resumed["conversation_id"] == conversation_id
            assert resumed["status"] == "with_team"
            assert resumed["token"] != welcome["token"]
            frames = await chat.until(lambda f: f.get("author") == "agent")
            transcript = texts(frames)
            assert transcript[0] == "I'd like to talk to a human about my order 4411"
            assert transcript[-1] == "It ships <tomorrow> & arrives Friday."
            seqs = [f["seq"] for f in frames if f["type"] == "message"]
            assert seqs == list(range(1, len(seqs) + 1))
        # The new token opens the conversation from now on, and the first browser's token still does.
        for token in (resumed["token"], welcome["token"]):
            async with connect(shop.base, {"token": token, "last_seq": seqs[-1]}) as (chat, again):
                assert again["conversation_id"] == conversation_id


async def test_altered_or_expired_resume_link_starts_a_new_empty_conversation(settings: Settings) -> None:
    async with open_shop(settings) as shop:
        async with connect(shop.base) as (chat, first):
            await chat.send({"type": "message", "text": "my secret order number is 4411"})
            await chat.until(lambda f: f.get("author") == "ai")
        async with connect(shop.base) as (_, second):
            pass
        links: ResumeLinks = shop.app.state.resume_links
        valid = links.value(first["conversation_id"], shop.clock())
        _, expires, signature = valid.split(".")
        swapped = f"{second['conversation_id']}.{expires}.{signature}"  # someone else's id under this signature
        flipped = valid[:-1] + ("A" if valid[-1] != "A" else "B")
        later = f"{first['conversation_id']}.{int(expires) + 86400}.{signature}"
        for bad in (swapped, flipped, later, "conv_x", ""):
            async with connect(shop.base, {"resume": bad, "token": first["token"]}) as (chat, welcome):
                frames = await chat.frames(0.3)
            assert welcome["conversation_id"] not in (first["conversation_id"], second["conversation_id"])
            assert not [f for f in frames if f["type"] == "message"]
        shop.clock.now += timedelta(days=14, seconds=1)
        url = shop.base.replace("http://", "ws://") + "/ws/webchat"
        async with websockets_hello(url, {"type": "hello", "resume": valid}) as frames:
            assert [f.get("code") for f in frames if f["type"] == "error"] == ["bad_resume_link"]
            [welcome] = [f for f in frames if f["type"] == "welcome"]
            assert welcome["conversation_id"] != first["conversation_id"]
            assert "4411" not in str(frames)


@asynccontextmanager
async def websockets_hello(url: str, hello: Frame) -> AsyncIterator[list[Frame]]:
    """Everything the server answers a hello with, the `error` frames that come before the `welcome` included."""
    async with websockets.connect(url) as socket:
        await socket.send(json.dumps(hello))
        chat = Chat(socket)
        frames = await chat.until(lambda f: f["type"] == "welcome")
        frames += await chat.frames(0.3)
        yield frames


async def test_reply_while_the_shopper_is_connected_sends_no_email(settings: Settings) -> None:
    async with open_shop(settings) as shop, connect(shop.base) as (chat, welcome):
        await handed_off(shop, chat)
        await shop.app.state.team.reply(welcome["conversation_id"], "Sam", "Hi, Sam here.")
        frames = await chat.until(lambda f: f.get("author") == "agent")
        assert texts(frames, "agent") == ["Hi, Sam here."]
        await shop.deliver()
        assert list(await shop.outbox(welcome["conversation_id"])) == ["handoff"]
        assert shop.smtp.messages == []


async def test_reply_waits_in_the_outbox_while_smtp_is_down_and_is_sent_once_it_is_up(settings: Settings) -> None:
    async with open_shop(settings, smtp_up=False) as shop:
        async with connect(shop.base) as (chat, welcome):
            await handed_off(shop, chat)
        conversation_id = welcome["conversation_id"]
        await shop.disconnected(conversation_id)
        await shop.app.state.team.reply(conversation_id, "Sam", "Your refund went out today.")
        await shop.deliver()
        row = await shop.reply_email_row(conversation_id)
        assert row.status == "pending"
        assert row.last_error and "Connect" in row.last_error
        await shop.deliver()  # not due yet: nothing is tried before the backoff is over
        assert (await shop.reply_email_row(conversation_id)).attempts == 1

        shop.smtp.start()
        shop.clock.now += timedelta(minutes=11)
        await shop.deliver()
        row = await shop.reply_email_row(conversation_id)
        assert row.status == "delivered"
        [email] = shop.smtp.messages
        assert "Your refund went out today." in text_of(email)


async def test_handoff_with_no_agent_available_alerts_every_active_team_member(settings: Settings) -> None:
    async with open_shop(settings) as shop:
        async with shop.app.state.database.session() as session:
            session.add_all([
                User(email="owner@juniper.example", name="Owner", role="admin", password_hash="x"),
                User(email="sam@juniper.example", name="Sam", role="agent", password_hash="x"),
                User(email="gone@juniper.example", name="Gone", role="agent", password_hash="x", active=False),
            ])  # fmt: skip
            await session.commit()
        async with connect(shop.base) as (chat, welcome):
            await handed_off(shop, chat)
            conversation_id = welcome["conversation_id"]
            await shop.deliver()  # the alert queued with the handoff
            await shop.deliver()
        [alert] = shop.smtp.messages
        assert alert["Subject"].startswith("New handoff waiting: asked for a person")
        assert alert["To"] == "owner@juniper.example, sam@juniper.example"
        body = text_of(alert)
        assert "I'd like to talk to a human about my order 4411" in body
        assert "ana@example.com" in body
        assert f"{shop.base}/inbox#{conversation_id}" in body
        async with shop.app.state.database.session() as session:
            ticket = await session.scalar(select(InboxTicket).where(InboxTicket.conversation_id == conversation_id))
            assert ticket is not None and ticket.team_alerted_at is not None

        # With an agent in the inbox, a handoff alerts nobody.
        presence: Presence = shop.app.state.presence
        await presence.arrive(2)
        async with connect(shop.base) as (chat, welcome):
            await handed_off(shop, chat)
            await shop.deliver()
        assert list(await shop.outbox(welcome["conversation_id"])) == ["handoff"]
        assert len(shop.smtp.messages) == 1


async def test_email_waits_with_a_clear_error_while_smtp_is_not_configured(database: Database) -> None:
    clock = Clock()
    async with database.session() as session:
        conversation = await conversations.create(session, "webchat", conversations.new_visitor_token())
        conversation.email = "ana@example.com"
        await conversations.insert_message(session, conversation, "agent", "Hi, Sam here.")
        await emails.enqueue_email(session, conversation.id, emails.reply_email_kind(1), clock())
        await session.commit()
        conversation_id = conversation.id
    worker = outbox_worker(database.sessions, EventBus(), Presence(), clock, asyncio.Event())
    assert await worker.deliver_due() == 0
    async with database.session() as session:
        row = await session.scalar(select(OutboxItem).where(OutboxItem.conversation_id == conversation_id))
        assert row is not None
        assert (row.status, row.last_error) == ("pending", NOT_CONFIGURED)
    clock.now += timedelta(minutes=5)
    assert await worker.deliver_due() == 0  # retried slowly, not hammered
    async with database.session() as session:
        row = await session.scalar(select(OutboxItem).where(OutboxItem.conversation_id == conversation_id))
        assert row is not None and row.attempts == 1


async def test_a_team_alert_without_smtp_is_skipped_not_retried_forever(database: Database) -> None:
    clock = Clock()
    async with database.session() as session:
        conversation = await conversations.create(session, "webchat", conversations.new_visitor_token())
        await emails.enqueue_email(session, conversation.id, emails.TEAM_ALERT, clock())
        await session.commit()
        conversation_id = conversation.id
    worker = outbox_worker(database.sessions, EventBus(), Presence(), clock, asyncio.Event())
    await worker.deliver_due()
    async with database.session() as session:
        row = await session.scalar(select(OutboxItem).where(OutboxItem.conversation_id == conversation_id))
        assert row is not None
        assert (row.status, row.last_error) == ("skipped", f"not sent: {NOT_CONFIGURED}")
    clock.now += timedelta(hours=1)
    assert await worker.deliver_due() == 0  # nothing left to try
    async with database.session() as session:
        row = await session.scalar(select(OutboxItem).where(OutboxItem.conversation_id == conversation_id))
        assert row is not None and (row.status, row.attempts) == ("skipped", 1)  # tried once, when it was due


def test_resume_link_holds_for_fourteen_days_and_only_for_its_key() -> None:
    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    links = ResumeLinks.from_secret_key(TEST_SECRET_KEY, "https://chat.example/")
    value = links.value("conv_0123456789abcdef", now)
    assert links.link("conv_0123456789abcdef", now) == f"https://chat.example/chat?resume={value}"
    assert links.conversation_id(value, now + timedelta(days=13, hours=23)) == "conv_0123456789abcdef"
    assert links.conversation_id(value, now + timedelta(days=14)) is None
    other_key = ResumeLinks.from_secret_key(TEST_SECRET_KEY[::-1], "https://chat.example")
    assert other_key.conversation_id(value, now) is None
    assert links.conversation_id(value + "é", now) is None
