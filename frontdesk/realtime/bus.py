"""The event bus: what happens in a conversation reaches every connection that watches it.

In one process it is in memory; with several processes `realtime.redis_backend.RedisEventBus` carries the same
events through Redis pub/sub, to the same interface.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

Event = dict[str, Any]
QUEUE_LIMIT = 1000


class Subscription:
    """A subscriber's queue. If it overflows, `lost` is set: the subscriber must resynchronise from the database."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=QUEUE_LIMIT)
        self.lost = False

    def offer(self, event: Event) -> None:
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.lost = True

    async def next(self) -> Event:
        return await self.queue.get()


class EventBus:
    """Topic-based fan-out. A slow subscriber never blocks a publisher."""

    def __init__(self) -> None:
        self._subscribers: dict[str, set[Subscription]] = defaultdict(set)

    async def publish(self, topic: str, event: Event) -> None:
        for subscription in list(self._subscribers.get(topic, ())):
            subscription.offer(event)

    def lose_all(self) -> None:
        """Every subscriber may have missed events (the link to the other processes broke): all resynchronise."""
        for subscriptions in self._subscribers.values():
            for subscription in subscriptions:
                subscription.lost = True
                subscription.offer({"type": "resync"})  # wakes the subscriber, which reads what it missed

    @asynccontextmanager
    async def subscribe(self, topic: str) -> AsyncIterator[Subscription]:
        subscription = Subscription()
        self._subscribers[topic].add(subscription)
        try:
            yield subscription
        finally:
            self._subscribers[topic].discard(subscription)
            if not self._subscribers[topic]:
                del self._subscribers[topic]


def conversation_topic(conversation_id: str) -> str:
    return f"conversation:{conversation_id}"


INBOX_TOPIC = "inbox"
#: Knowledge entries changed: `{"ids": [...], "origin": ...}`; every process reloads them (knowledge.sync).
KNOWLEDGE_TOPIC = "knowledge"
