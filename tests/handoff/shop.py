"""One store wired to the fake helpdesks (real HTTP servers): the chat flow that accepts handoffs and outbox workers
that deliver them, for the tests of the deliveries (tests/handoff) and of the worker's loop (tests/outbox)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from frontdesk.channels.service import every_channel
from frontdesk.config import Settings
from frontdesk.conversations.turn import HANDOFF_YES, ChatFlow
from frontdesk.credentials import Integration
from frontdesk.db import Database
from frontdesk.handoff import service as handoff
from frontdesk.handoff.deliveries import outbox_worker
from frontdesk.handoff.schemas import HandoffSettingsIn, Method
from frontdesk.inbox.service import Presence
from frontdesk.knowledge.service import Knowledge
from frontdesk.outbox.models import OutboxItem
from frontdesk.outbox.worker import OutboxWorker
from frontdesk.realtime.bus import EventBus
from frontdesk.retrieval.embedders import Embedder
from frontdesk.transcripts import service as conversations
from frontdesk.transcripts.models import Conversation, Message
from frontdesk.vault import Vault
from tests.fakes.gorgias import GorgiasFake
from tests.fakes.zendesk import ZendeskFake
from tests.server import TEST_SECRET_KEY

ZENDESK_TOKEN, GORGIAS_KEY = "zd-test-token", "gg-test-key"
HELPDESK_EMAIL = "agent@juniper.example"
QUESTION = "Where is my order #1042? It was due on Monday."


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Shop:
    """One store wired to a fake helpdesk: the chat flow that accepts handoffs and workers that deliver them."""

    database: Database
    settings: Settings
    clock: Clock
    flow: ChatFlow
    vault: Vault

    def worker(self, name: str = "worker-1", database: Database | None = None) -> OutboxWorker:
        return outbox_worker(
            (database or self.database).sessions, EventBus(), Presence(), self.clock, asyncio.Event(),
            vault=self.vault, settings=self.settings, worker_id=name, request_timeout=0.5, jitter=lambda: 0.5,
            channels=self.flow.channels,
        )  # fmt: skip

    async def connect(self, kind: str, secret: str) -> None:
        """The integration as the console saves it (connecting itself is tested with the integrations)."""
        async with self.database.session() as session:
            row = await session.scalar(select(Integration).where(Integration.kind == kind))
            if row is None:
                row = Integration(kind=kind, config={"label": "juniper", "email": HELPDESK_EMAIL})
                session.add(row)
            row.secret, row.status = self.vault.encrypt(secret), "connected"
            await handoff.update_settings(session, HandoffSettingsIn(method=Method(kind)))
            await session.commit()

    async def hand_off(self, email: str = "ana@example.com", channel: str = "webchat") -> str:
        """A shopper asks what the store cannot answer, says Yes and leaves an email: the handoff is queued."""
        async with self.database.session() as session:
            conversation = await conversations.create(session, channel, conversations.new_visitor_token())
            await session.commit()
            conversation_id = conversation.id
        await self.flow.shopper_message(conversation_id, QUESTION)
        await self.flow.action(conversation_id, HANDOFF_YES)
        await self.flow.email(conversation_id, email)
        assert (await self.conversation(conversation_id)).status == "handing_off"
        return conversation_id

    async def conversation(self, conversation_id: str) -> Conversation:
        async with self.database.session() as session:
            return await conversations.get(session, conversation_id)

    async def messages(self, conversation_id: str) -> list[Message]:
        async with self.database.session() as session:
            return await conversations.messages_after(session, conversation_id, 0)

    async def row(self, conversation_id: str, kind: str = "handoff") -> OutboxItem:
        async with self.database.session() as session:
            item = await session.scalar(
                select(OutboxItem).where(OutboxItem.conversation_id == conversation_id, OutboxItem.kind == kind)
            )
            assert item is not None
            return item

    async def pending(self) -> int:
        async with self.database.session() as session:
            return len((await session.scalars(select(OutboxItem.id).where(OutboxItem.status == "pending"))).all())


def due_at(item: OutboxItem) -> datetime:
    at = item.next_attempt_at
    return at if at.tzinfo else at.replace(tzinfo=UTC)  # SQLite hands datetimes back naive


@pytest.fixture
def fake_zendesk() -> Iterator[ZendeskFake]:
    # A "timeout" holds the request this long; the worker gives up after 0.5 s.
    with ZendeskFake(api_token=ZENDESK_TOKEN, email=HELPDESK_EMAIL, timeout_hold=3.0) as fake:
        yield fake


@pytest.fixture
def fake_gorgias() -> Iterator[GorgiasFake]:
    with GorgiasFake(api_key=GORGIAS_KEY, email=HELPDESK_EMAIL) as fake:
        yield fake


@pytest.fixture
async def shop(
    database: Database, settings: Settings, embedder: Embedder, fake_zendesk: ZendeskFake, fake_gorgias: GorgiasFake
) -> AsyncIterator[Shop]:
    settings = settings.model_copy(
        update={
            "zendesk_url_template": fake_zendesk.url_template,
            "gorgias_url_template": fake_gorgias.url_template,
            "public_url": "https://support.shop.example",
            "run_worker": False,
        }
    )
    clock = Clock()
    channels = every_channel(database.sessions, clock, settings)
    flow = ChatFlow(database.sessions, Knowledge(embedder), EventBus(), clock, asyncio.Event(), channels=channels)
    yield Shop(database, settings, clock, flow, Vault(TEST_SECRET_KEY))
