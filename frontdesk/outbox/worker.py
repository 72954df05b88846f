"""The outbox worker: claims due rows with a lease, runs each row's `Delivery` (registered by the app, by kind), and
retries what failed with backoff until its target is reachable or its retry window runs out (then the row is dead).
It knows no target: which kinds exist, and what sending one means, is the deliveries' business."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import os
import random
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx
from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.sql.elements import ColumnElement

from frontdesk.config import Settings
from frontdesk.outbox import service as outbox
from frontdesk.outbox.delivery import (
    Deliveries,
    DeliveryError,
    NotConfigured,
    RateLimited,
    RequestBudget,
    Waiting,
)
from frontdesk.outbox.models import OutboxItem
from frontdesk.outbox.service import OutboxStatus

log = logging.getLogger("frontdesk.worker")
LEASE = timedelta(seconds=60)
BASE_DELAY = 2.0
MAX_DELAY = 600.0
NOT_CONFIGURED_DELAY = 600.0  # SMTP missing from the settings: look again now and then, the rows wait for it
WAITING_DELAY = 60.0  # a ticket message whose ticket is not there yet; the handoff's delivery wakes it sooner
POLL_SECONDS = 5.0
BATCH = 20
PASS_LIMIT = 200  # claims in one pass; the run loop starts the next pass at once when a pass was full
# The request a delivery already took from its target's budget when the row was claimed (see deliver_due): the
# transport lets that one through without spending again. Set per delivery task, so concurrent ones never share it.
PREPAID: contextvars.ContextVar[list[bool] | None] = contextvars.ContextVar("frontdesk_outbox_prepaid", default=None)


def worker_name() -> str:
    """hostname-pid: which process holds a row's lease, as the admin sees it in GET /api/outbox."""
    return f"{socket.gethostname()}-{os.getpid()}"


class BudgetedTransport(httpx.AsyncBaseTransport):
    """What every helpdesk request goes through: it spends the target's budget, and (when set) shortens the
    connectors' timeout. The connection pool underneath belongs to the worker and outlives each connector."""

    def __init__(
        self,
        pool: httpx.AsyncBaseTransport,
        budget: RequestBudget | None,
        clock: Callable[[], datetime],
        timeout: float | None = None,
    ) -> None:
        self.pool = pool
        self.budget = budget
        self.clock = clock
        self.timeout = timeout

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        prepaid = PREPAID.get()
        if prepaid:
            prepaid.pop()
        elif self.budget is not None:
            self.budget.spend(self.clock())
        if self.timeout is not None:
            request.extensions = {**request.extensions, "timeout": httpx.Timeout(self.timeout).as_dict()}
        return await self.pool.handle_async_request(request)

    async def aclose(self) -> None:
        """The pool is the worker's: closed by `OutboxWorker.aclose`, not by each connector."""


@dataclass
class OutboxWorker:
    sessions: async_sessionmaker[AsyncSession]
    clock: Callable[[], datetime]
    wake: asyncio.Event
    deliveries: Deliveries
    settings: Settings = field(default_factory=Settings)
    worker_id: str = field(default_factory=worker_name)
    request_timeout: float | None = None  # None: the connectors' own (10 s)
    jitter: Callable[[], float] = random.random  # uniform in [0, 1): full jitter of the backoff
    pool: httpx.AsyncBaseTransport | None = None  # None: one httpx connection pool of the worker's own
    lease: timedelta = LEASE
    budgets: dict[str, RequestBudget] = field(init=False)
    full_pass: bool = field(init=False, default=False)  # the last pass stopped at PASS_LIMIT with more due

    def __post_init__(self) -> None:
        self.budgets = self.deliveries.budgets
        self.retry_window = timedelta(hours=self.settings.outbox_retry_hours)
        bind = self.sessions.kw.get("bind")
        # SKIP LOCKED where the database has it; SQLite has one writer at a time and takes the conditional UPDATE.
        self.skip_locked = bind is not None and bind.dialect.name == "postgresql"

    async def run(self) -> None:
        """Deliver what is due, then sleep until woken by a new row, the next poll, or a refilled budget."""
        while True:
            # Cleared before the pass, so a row committed during the pass wakes the next one at once.
            self.wake.clear()
            try:
                if await self.deliver_due() and self.full_pass:
                    continue  # more is due than one pass claims: go on without sleeping
            except Exception:  # the worker must outlive any one bad row or a database hiccup
                log.exception("outbox pass failed")
            # asyncio.timeout, not wait_for: Python 3.11's wait_for can swallow a cancel that arrives as the event is
            # set, and the app's shutdown then waits for this task forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._sleep_seconds()):
                    await self.wake.wait()

    async def aclose(self) -> None:
        if self.pool is not None:
            await self.pool.aclose()
            self.pool = None

    def _sleep_seconds(self) -> float:
        now = self.clock()
        waits = [w for w in (b.wait(now) for b in self.budgets.values()) if w > 0]
        return max(0.01, min([POLL_SECONDS, *waits]))  # a refill is due in tens of ms at a high rate limit

    def _held_back(self) -> list[str]:
        """Targets whose request budget is spent (or paused by a 429): their rows wait in the table, unclaimed."""
        now = self.clock()
        return [target for target, budget in self.budgets.items() if budget.wait(now) > 0]

    async def deliver_due(self) -> int:
        """One pass: claim due rows and deliver up to `settings.outbox_concurrency` at once, until none is left that
        this pass has not tried. A lease covers one delivery, never a batch; one conversation's rows go one at a time,
        in order (its ticket before the messages added to it). A row for a helpdesk takes its first request from the
        budget as it is claimed, so deliveries started together can never all spend the last token."""
        delivered = 0
        running: dict[asyncio.Task[int], str] = {}  # delivery -> its conversation
        tried: set[int] = set()
        self.full_pass = False
        try:
            while True:
                while len(running) < self.settings.outbox_concurrency and len(tried) < PASS_LIMIT:
                    claimed = await self._claim_next(busy=set(running.values()), tried=tried)
                    if claimed is None:
                        break
                    item_id, conversation_id, target = claimed
                    tried.add(item_id)
                    context = contextvars.copy_context()
                    budget = self.budgets.get(target)
                    if budget is not None:
                        budget.spend(self.clock())
                        context.run(PREPAID.set, [True])
                    task = asyncio.create_task(self._deliver(item_id), name=f"outbox-{item_id}", context=context)
                    running[task] = conversation_id
                if not running:
                    self.full_pass = len(tried) >= PASS_LIMIT
                    return delivered
                # Wake for a finished delivery, or for a spent budget refilling while deliveries are in flight.
                refill = [wait for budget in self.budgets.values() if (wait := budget.wait(self.clock())) > 0]
                done, _ = await asyncio.wait(
                    running, timeout=min(refill) if refill else None, return_when=asyncio.FIRST_COMPLETED
                )
                for task in done:
                    del running[task]
                    delivered += task.result()
        finally:
            for task in running:  # cancelled (shutdown): the leases lapse and another pass takes the rows again
                task.cancel()

    def _is_due(self, now: datetime) -> list[ColumnElement[bool]]:
        held_back = self._held_back()
        conditions: list[ColumnElement[bool]] = [
            OutboxItem.status == "pending",
            OutboxItem.next_attempt_at <= now,
            or_(OutboxItem.lease_until.is_(None), OutboxItem.lease_until < now),
        ]
        if held_back:
            conditions.append(OutboxItem.target.not_in(held_back))
        return conditions

    def _lease_values(self, now: datetime) -> dict[str, object]:
        return {
            "lease_until": now + self.lease,
            "leased_by": self.worker_id,
            "attempts": OutboxItem.attempts + 1,
            # A lease still set when a row is claimed again is a worker that died mid-delivery: what it sent is not
            # known, so the helpdesk is searched before any new create.
            "outcome_unknown": or_(OutboxItem.outcome_unknown, OutboxItem.lease_until.is_not(None)),
            "retry_until": func.coalesce(OutboxItem.retry_until, now + self.retry_window),
        }

    async def _due(self) -> list[int]:
        now = self.clock()
        async with self.sessions() as session:
            rows = await session.scalars(
                select(OutboxItem.id).where(*self._is_due(now)).order_by(OutboxItem.next_attempt_at).limit(BATCH)
            )
            return list(rows)

    async def _claim(self, item_id: int) -> bool:
        """Take a lease on the row; another worker (or process) that tries at the same time gets nothing."""
        now = self.clock()
        async with self.sessions() as session:
            result = await session.execute(
                update(OutboxItem)
                .where(OutboxItem.id == item_id, OutboxItem.status == "pending")
                .where(or_(OutboxItem.lease_until.is_(None), OutboxItem.lease_until < now))
                .values(**self._lease_values(now))
            )
            await session.commit()
            return result.rowcount == 1  # type: ignore[attr-defined]

    async def _claim_next(
        self, busy: set[str] | None = None, tried: set[int] | None = None
    ) -> tuple[int, str, str] | None:
        """Lease the next due row — not of a conversation in `busy`, not one in `tried` — and say which it is
        (id, conversation, target). PostgreSQL locks it with SKIP LOCKED, so workers never wait on each other's rows
        and never claim the same one; SQLite (one writer at a time) takes it with a conditional UPDATE."""
        now = self.clock()
        query = select(OutboxItem.id, OutboxItem.conversation_id, OutboxItem.target).where(*self._is_due(now))
        if busy:
            query = query.where(OutboxItem.conversation_id.not_in(busy))
        if tried:
            query = query.where(OutboxItem.id.not_in(tried))
        query = query.order_by(OutboxItem.next_attempt_at, OutboxItem.id)
        if self.skip_locked:
            async with self.sessions() as session:
                row = (await session.execute(query.limit(1).with_for_update(skip_locked=True))).first()
                if row is None:
                    return None
                lease = update(OutboxItem).where(OutboxItem.id == row[0]).values(**self._lease_values(now))
                await session.execute(lease)
                await session.commit()
                return int(row[0]), str(row[1]), str(row[2])
        async with self.sessions() as session:
            candidates = (await session.execute(query.limit(BATCH))).all()
        for item_id, conversation_id, target in candidates:
            if await self._claim(item_id):
                return int(item_id), str(conversation_id), str(target)
        return None

    async def _deliver(self, item_id: int) -> int:
        async with self.sessions() as session:
            row = (
                await session.execute(select(OutboxItem.target, OutboxItem.kind).where(OutboxItem.id == item_id))
            ).first()
        if row is None:
            return 0
        target, kind = row
        renewal = asyncio.create_task(self._keep_lease(item_id), name=f"outbox-lease-{item_id}")
        try:
            await self.deliveries.of(kind).deliver(item_id, self._transport(target))
        except Waiting as waiting:
            await self._wait(item_id, str(waiting))
            return 0
        except Exception as exc:
            await self._failed(item_id, exc)
            return 0
        finally:
            renewal.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewal
        return 1

    async def _keep_lease(self, item_id: int) -> None:
        """Renew the lease while a slow delivery runs, so no other worker takes the row from a live one."""
        while True:
            await asyncio.sleep(self.lease.total_seconds() / 3)
            async with self.sessions() as session:
                await session.execute(
                    update(OutboxItem)
                    .where(OutboxItem.id == item_id, OutboxItem.status == "pending")
                    .where(OutboxItem.leased_by == self.worker_id)
                    .values(lease_until=self.clock() + self.lease)
                )
                await session.commit()

    def _transport(self, target: str) -> BudgetedTransport:
        if self.pool is None:
            self.pool = httpx.AsyncHTTPTransport()
        return BudgetedTransport(self.pool, self.budgets.get(target), self.clock, self.request_timeout)

    async def _wait(self, item_id: int, reason: str) -> None:
        """Put a row that cannot go yet back, unleased; waiting is not an attempt and does not use up its window."""
        async with self.sessions() as session:
            item = await session.get(OutboxItem, item_id)
            if item is None or item.status != "pending":
                return
            item.attempts = max(item.attempts - 1, 0)
            item.next_attempt_at = self.clock() + timedelta(seconds=WAITING_DELAY)
            item.lease_until, item.last_error = None, reason
            await session.commit()

    async def _failed(self, item_id: int, error: Exception) -> None:
        """Schedule the next attempt, or give up: at once for what retrying cannot fix (refused credentials, a
        request the target rejects), and for anything else once the retry window has run out. A missing
        configuration (SMTP, a helpdesk not connected) waits for the admin without giving up."""
        now = self.clock()
        async with self.sessions() as session:
            item = await session.get(OutboxItem, item_id)
            if item is None or item.status != "pending":
                return
            item.lease_until = None
            item.last_error = f"{type(error).__name__}: {error}"[:2000]
            if isinstance(error, NotConfigured):
                item.last_error = str(error)
                item.next_attempt_at = now + timedelta(seconds=NOT_CONFIGURED_DELAY)
            elif isinstance(error, DeliveryError) and not error.retryable:
                outbox.finish(item, OutboxStatus.dead, now, error=item.last_error)
            else:
                if not isinstance(error, RateLimited):
                    # A timeout, a reset, a 5xx or a bug of ours: the helpdesk may have done it. Sticky, so every
                    # later attempt searches before creating.
                    item.outcome_unknown = True
                delay = self.jitter() * min(MAX_DELAY, BASE_DELAY * 2 ** max(item.attempts - 1, 0))
                retry_after = error.retry_after if isinstance(error, DeliveryError) else None
                if retry_after is not None:
                    delay = max(delay, retry_after)  # never earlier than the helpdesk asked
                    if isinstance(error, RateLimited) and item.target in self.budgets:
                        self.budgets[item.target].pause(now, retry_after)
                item.next_attempt_at = now + timedelta(seconds=delay)
                retry_until = item.retry_until
                if retry_until is not None and retry_until.tzinfo is None:
                    retry_until = retry_until.replace(tzinfo=now.tzinfo)  # SQLite hands datetimes back naive
                if retry_until is not None and now >= retry_until:
                    gave_up = f"gave up after {item.attempts} attempts: {item.last_error}"[:2000]
                    outbox.finish(item, OutboxStatus.dead, now, error=gave_up)
            status, kind, attempts = item.status, item.kind, item.attempts
            await session.commit()
        if status == "dead":
            log.error("outbox row %s (%s) is dead after %s attempts: %s", item_id, kind, attempts, error)
        else:
            log.warning("outbox row %s (%s) not delivered (attempt will be retried): %s", item_id, kind, error)
