"""Knowledge changes across serving processes: an entry changed through one is answered by every other within a
second.

The process that commits a change publishes the changed ids on the event bus (`KNOWLEDGE_TOPIC`); every other
process reads those entries again from the database and patches its own index (`Knowledge.store` / `drop`, with the
vectors the changing process kept: only that entry's rows change, no rebuild, no embedding). The event carries ids
only, never content: whatever reaches the bus, the database stays the one source of what an entry says."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from frontdesk.knowledge.models import Entry
from frontdesk.knowledge.service import EntryView, Knowledge
from frontdesk.realtime.bus import KNOWLEDGE_TOPIC, Event, Subscription

log = logging.getLogger("frontdesk.knowledge")

#: Ids in one change event; a large import is announced in several.
IDS_PER_EVENT = 500


class Bus(Protocol):
    async def publish(self, topic: str, event: Event) -> None: ...

    def subscribe(self, topic: str) -> AbstractAsyncContextManager[Subscription]: ...


class KnowledgeSync:
    def __init__(self, knowledge: Knowledge, bus: Bus, sessions: Callable[[], AsyncSession], origin: str) -> None:
        self.knowledge = knowledge
        self.bus = bus
        self.sessions = sessions
        self.origin = origin
        self._sending: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        ready = asyncio.Event()
        self._task = asyncio.create_task(self._follow(ready), name="knowledge-sync")
        await ready.wait()
        self.knowledge.changed = self._announce

    async def aclose(self) -> None:
        self.knowledge.changed = None
        for task in [*self._sending, *([self._task] if self._task else [])]:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _announce(self, ids: list[int]) -> None:
        for start in range(0, len(ids), IDS_PER_EVENT):
            event = {"ids": ids[start : start + IDS_PER_EVENT], "origin": self.origin}
            task = asyncio.get_running_loop().create_task(self.bus.publish(KNOWLEDGE_TOPIC, event))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

    async def _follow(self, ready: asyncio.Event) -> None:
        async with self.bus.subscribe(KNOWLEDGE_TOPIC) as subscription:
            ready.set()
            while True:
                event = await subscription.next()
                if subscription.lost:  # missed changes: read everything again
                    subscription.lost = False
                    await self.reload(None)
                    continue
                ids = changed_ids(event)
                if ids and event.get("origin") != self.origin:
                    try:
                        await self.reload(ids)
                    except Exception:
                        log.exception("could not reload knowledge entries %s changed by another process", ids[:10])

    async def reload(self, ids: list[int] | None) -> None:
        """Read the entries again from the database (`None`: all of them) and patch the index."""
        async with self.sessions() as session:
            query = select(Entry) if ids is None else select(Entry).where(Entry.id.in_(ids))
            found = {e.id: EntryView.of(e) for e in (await session.scalars(query)).all()}
            gone = (set(self.knowledge.entries) - set(found)) if ids is None else set(ids) - set(found)
            for entry_id in gone:
                if entry_id in self.knowledge.entries:
                    self.knowledge.drop(entry_id, announce=False)
            changed = [v for v in found.values() if self.knowledge.entries.get(v.id) != v]
            # the vectors the changing process kept are read, not made again
            await self.knowledge.store(session, changed, announce=False)


def changed_ids(event: dict[str, Any]) -> list[int]:
    """The ids of a change event, or [] for anything else (a forged or malformed event reloads nothing)."""
    ids = event.get("ids")
    if not isinstance(ids, list) or len(ids) > IDS_PER_EVENT:
        return []
    return [i for i in ids if isinstance(i, int) and not isinstance(i, bool) and 0 < i < 2**63]
