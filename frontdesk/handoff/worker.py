"""The outbox worker: delivers accepted handoffs to their target, once, retrying until it is reachable."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from frontdesk.conversations import service as conversations
from frontdesk.conversations.models import Message
from frontdesk.conversations.state import Status, Transition
from frontdesk.handoff import service as handoff
from frontdesk.handoff.flow import message_event
from frontdesk.handoff.models import OutboxItem
from frontdesk.inbox import service as inbox
from frontdesk.realtime.bus import INBOX_TOPIC, EventBus, conversation_topic

log = logging.getLogger("frontdesk.worker")
LEASE = timedelta(seconds=60)
BASE_DELAY = 2.0
MAX_DELAY = 600.0
POLL_SECONDS = 5.0
BATCH = 20
TEAM_JOINS = "A person from our team will join this chat shortly."


@dataclass
class OutboxWorker:
    sessions: async_sessionmaker[AsyncSession]
    bus: EventBus
    presence: inbox.Presence
    clock: Callable[[], datetime]
    wake: asyncio.Event

    async def run(self) -> None:
        """Deliver what is due, then sleep until woken by a new handoff or the next poll."""
        while True:
            # Cleared before the pass, so a handoff accepted during the pass wakes the next one at once.
            self.wake.clear()
            try:
                await self.deliver_due()
            except Exception:  # the worker must outlive any one bad row or a database hiccup
                log.exception("outbox pass failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), POLL_SECONDS)

    async def deliver_due(self) -> int:
        delivered = 0
        for item_id in await self._due():
            if await self._claim(item_id):
                delivered += await self._deliver(item_id)
        return delivered

    async def _due(self) -> list[int]:
        now = self.clock()
        async with self.sessions() as session:
            rows = await session.scalars(
                select(OutboxItem.id)
                .where(OutboxItem.status == "pending", OutboxItem.next_attempt_at <= now)
                .where(or_(OutboxItem.lease_until.is_(None), OutboxItem.lease_until < now))
                .order_by(OutboxItem.next_attempt_at)
                .limit(BATCH)
            )
            return list(rows.all())

    async def _claim(self, item_id: int) -> bool:
        """Take a lease on the row; another worker (or process) that tries at the same time gets nothing."""
        now = self.clock()
        async with self.sessions() as session:
            result = await session.execute(
                update(OutboxItem)
                .where(OutboxItem.id == item_id, OutboxItem.status == "pending")
                .where(or_(OutboxItem.lease_until.is_(None), OutboxItem.lease_until < now))
                .values(lease_until=now + LEASE, attempts=OutboxItem.attempts + 1)
            )
            await session.commit()
            return result.rowcount == 1  # type: ignore[attr-defined]

    async def _deliver(self, item_id: int) -> int:
        try:
            out, status = await conversations.retrying(self.sessions, lambda s: self._deliver_in(s, item_id))
        except Exception as exc:
            await self._failed(item_id, exc)
            return 0
        if out:
            conversation_id = out[0].conversation_id
            for message in out:
                await self.bus.publish(conversation_topic(conversation_id), message_event(message))
            await self.bus.publish(conversation_topic(conversation_id), {"type": "status", "status": status})
            await self.bus.publish(INBOX_TOPIC, {"type": "conversation", "conversation_id": conversation_id,
                                                 "status": status})  # fmt: skip
        return 1

    async def _deliver_in(self, session: AsyncSession, item_id: int) -> tuple[list[Message], str]:
        item = await session.get(OutboxItem, item_id)
        if item is None or item.status != "pending":
            return [], ""
        conversation = await conversations.get(session, item.conversation_id)
        reason = conversation.handoff_reason or "handoff"
        if item.target != "builtin":
            raise RuntimeError(f"no connector for {item.target!r} yet")
        ticket = await inbox.open_ticket(session, conversation.id, reason)
        item.status, item.ticket_ref, item.delivered_at, item.lease_until = "delivered", ticket.ref, self.clock(), None
        conversation.ticket_ref = ticket.ref
        await conversations.transition(
            session, conversation, Transition.ticket_created, f"ticket {ticket.ref}", "worker"
        )
        settings = await handoff.get_settings(session)
        now = self.clock()
        if not handoff.team_is_open(settings, now):
            text = settings.office_hours_message
        elif self.presence.online:
            text = TEAM_JOINS
        else:
            text = settings.auto_response
        ticket.auto_response_on = now.date().isoformat() if text != TEAM_JOINS else None
        message = await conversations.insert_message(session, conversation, "system", text, kind="notice")
        return [message], Status.with_team.value

    async def _failed(self, item_id: int, error: Exception) -> None:
        async with self.sessions() as session:
            item = await session.get(OutboxItem, item_id)
            if item is None:
                return
            delay = min(MAX_DELAY, BASE_DELAY * 2 ** max(item.attempts - 1, 0)) * random.uniform(0.5, 1.0)
            item.next_attempt_at = self.clock() + timedelta(seconds=delay)
            item.lease_until = None
            item.last_error = f"{type(error).__name__}: {error}"[:2000]
            await session.commit()
        log.warning("handoff %s not delivered (attempt will be retried): %s", item_id, error)
