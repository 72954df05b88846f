"""The outbox worker: delivers accepted handoffs to their target (the built-in inbox, Zendesk or Gorgias) exactly
once, adds the shopper's later messages to the ticket, and sends the inbox's emails (an agent's reply to a shopper
who left, an alert to the team), retrying each until its target is reachable or its retry window runs out."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import os
import random
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage

import httpx
from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.sql.elements import ColumnElement

from frontdesk.config import Settings
from frontdesk.conversations import service as conversations
from frontdesk.conversations.channel import Channels, Continuation
from frontdesk.conversations.models import Conversation, Message
from frontdesk.conversations.state import Status, Transition, can
from frontdesk.conversations.transcript import iso
from frontdesk.handoff import service as handoff
from frontdesk.handoff.connectors import accounts
from frontdesk.handoff.connectors.base import (
    Connector,
    ConnectorError,
    NotConnected,
    RateLimited,
    TicketRef,
    TicketRequest,
)
from frontdesk.handoff.connectors.builtin import BuiltinConnector
from frontdesk.handoff.flow import message_event
from frontdesk.inbox import mail
from frontdesk.inbox import service as inbox
from frontdesk.inbox.models import InboxTicket
from frontdesk.outbox import service as outbox
from frontdesk.outbox.models import OutboxItem
from frontdesk.outbox.service import OutboxStatus
from frontdesk.realtime.bus import INBOX_TOPIC, EventBus, conversation_topic
from frontdesk.users import service as users
from frontdesk.vault import Vault

log = logging.getLogger("frontdesk.worker")
LEASE = timedelta(seconds=60)
BASE_DELAY = 2.0
MAX_DELAY = 600.0
NOT_CONFIGURED_DELAY = 600.0  # SMTP missing from the settings: look again now and then, the rows wait for it
WAITING_DELAY = 60.0  # a ticket message whose ticket is not there yet; the handoff's delivery wakes it sooner
POLL_SECONDS = 5.0
BATCH = 20
PASS_LIMIT = 200  # claims in one pass; the run loop starts the next pass at once when a pass was full
# Requests one delivery may still make once the budget said yes (search, create; get, add): kept out of the rate.
REQUESTS_PER_DELIVERY = 3
# The request a delivery already took from its target's budget when the row was claimed (see deliver_due): the
# transport lets that one through without spending again. Set per delivery task, so concurrent ones never share it.
PREPAID: contextvars.ContextVar[list[bool] | None] = contextvars.ContextVar("frontdesk_outbox_prepaid", default=None)
TEAM_JOINS = "A person from our team will join this chat shortly."
FOLLOW_UP_HERE = "A person from our team will follow up here."
REPLY_BY_EMAIL = "Our team will reply by email to {address}."


def worker_name() -> str:
    """hostname-pid: which process holds a row's lease, as the admin sees it in GET /api/outbox."""
    return f"{socket.gethostname()}-{os.getpid()}"


class RequestBudget:
    """A token bucket of helpdesk requests for one target in this worker: at most `capacity` at once, refilled at
    `per_second`. A 429 pauses it until the helpdesk's Retry-After. Tokens may go a few below zero (a delivery that
    started with one left makes its two or three requests); the rates leave room for that."""

    def __init__(self, capacity: float, per_second: float) -> None:
        self.capacity = capacity
        self.per_second = per_second
        self.tokens = capacity
        self._at: datetime | None = None
        self.paused_until: datetime | None = None

    def _refill(self, now: datetime) -> None:
        if self._at is not None and now > self._at:
            self.tokens = min(self.capacity, self.tokens + (now - self._at).total_seconds() * self.per_second)
        if self._at is None or now > self._at:
            self._at = now

    def wait(self, now: datetime) -> float:
        """Seconds until a request may go (0: now)."""
        if self.paused_until is not None and now < self.paused_until:
            return (self.paused_until - now).total_seconds()
        self._refill(now)
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.per_second

    def spend(self, now: datetime) -> None:
        self._refill(now)
        self.tokens -= 1

    def pause(self, now: datetime, seconds: float) -> None:
        until = now + timedelta(seconds=seconds)
        self.paused_until = max(until, self.paused_until) if self.paused_until else until
        self.tokens = min(self.tokens, 0.0)


def budgets_from(settings: Settings) -> dict[str, RequestBudget]:
    """Budgets that keep each worker process under the plan's limit. Zendesk counts requests per clock minute: the
    burst plus a minute's refill plus the further requests of the deliveries in flight stay within it. Gorgias's
    leaky bucket drains its 40 calls in 20 s: a burst under the bucket and a refill under the drain rate can never
    overflow it."""
    in_flight = (REQUESTS_PER_DELIVERY - 1) * settings.outbox_concurrency  # the first is paid when claimed
    zendesk = settings.zendesk_rate_per_minute
    zendesk_burst = max(1, zendesk // 20)
    zendesk_rate = max(zendesk - zendesk_burst - in_flight, 1) / 60
    gorgias = settings.gorgias_rate_per_20s
    gorgias_burst = max(1, min(gorgias // 2, gorgias - in_flight))
    return {
        "zendesk": RequestBudget(zendesk_burst, zendesk_rate),
        "gorgias": RequestBudget(gorgias_burst, 0.95 * gorgias / 20),
    }


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


class Waiting(Exception):
    """A row that cannot go yet (a ticket message before its ticket exists, or behind an earlier message)."""


@dataclass
class Delivered:
    """What a delivery committed, for the events published after it."""

    conversation_id: str
    messages: list[Message] = field(default_factory=list)
    statuses: list[str] = field(default_factory=list)
    alert: bool = False


@dataclass
class OutboxWorker:
    sessions: async_sessionmaker[AsyncSession]
    bus: EventBus
    presence: inbox.Presence
    clock: Callable[[], datetime]
    wake: asyncio.Event
    mailer: mail.Mailer | None = None  # None: email is not configured
    links: conversations.ResumeLinks | None = None
    vault: Vault | None = None  # None: helpdesk credentials cannot be read, so zendesk/gorgias rows wait
    settings: Settings = field(default_factory=Settings)
    worker_id: str = field(default_factory=worker_name)
    request_timeout: float | None = None  # None: the connectors' own (10 s)
    jitter: Callable[[], float] = random.random  # uniform in [0, 1): full jitter of the backoff
    pool: httpx.AsyncBaseTransport | None = None  # None: one httpx connection pool of the worker's own
    lease: timedelta = LEASE
    # How each channel carries the notices of a handoff, and sends its own rows (SMS: texts); handed in by the app.
    channels: Channels = field(default_factory=Channels)
    # The store's name as emails sign it (a setting of the web chat's, handed in so the core names no channel).
    store_name: Callable[[AsyncSession], Awaitable[str]] | None = None
    budgets: dict[str, RequestBudget] = field(init=False)
    full_pass: bool = field(init=False, default=False)  # the last pass stopped at PASS_LIMIT with more due

    def __post_init__(self) -> None:
        self.budgets = budgets_from(self.settings)
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
            if target == handoff.EMAIL_TARGET:
                await self._send_email(item_id)
                return 1
            if (delivery := self.channels.delivery(target, self._transport(target))) is not None:
                await delivery.deliver(item_id)
                return 1
            if handoff.ticket_message_seq(kind) is not None:
                done = await self._add_message(item_id)
            else:
                done = await self._hand_off(item_id)
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
        if done is not None:
            await self._publish(done)
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

    async def _publish(self, done: Delivered) -> None:
        if done.alert:
            self.wake.set()  # the team alert is committed: the next pass sends it
        if done.statuses:
            self.wake.set()  # the ticket exists: the shopper's waiting messages may go now
        topic = conversation_topic(done.conversation_id)
        for message in done.messages:
            await self.bus.publish(topic, message_event(message))
        for status in done.statuses:
            await self.bus.publish(topic, {"type": "status", "status": status})
            await self.bus.publish(INBOX_TOPIC, {"type": "conversation", "conversation_id": done.conversation_id,
                                                 "status": status})  # fmt: skip

    def _transport(self, target: str) -> BudgetedTransport:
        if self.pool is None:
            self.pool = httpx.AsyncHTTPTransport()
        return BudgetedTransport(self.pool, self.budgets.get(target), self.clock, self.request_timeout)

    async def _connector(self, session: AsyncSession, target: str) -> Connector:
        if target == "builtin":
            return BuiltinConnector(self.sessions, self.clock)
        if self.vault is None:
            raise NotConnected(target)
        return await accounts.connector_for(
            session, target, self.vault, self.settings, self.sessions, transport=self._transport(target)
        )

    async def _request(self, session: AsyncSession, conversation: Conversation, upto_seq: int | None) -> TicketRequest:
        """The ticket as every target receives it: the transcript up to the handoff, and who the shopper is."""
        content = await conversations.ticket_content(session, conversation.id, self.settings.public_url, upto_seq)
        profile = await conversations.profile_of(session, conversation)
        return TicketRequest(
            conversation_id=conversation.id,
            subject=content.subject,
            text=content.text,
            html=content.html,
            email=conversation.email or (profile.email if profile else None),
            phone=profile.phone if profile else None,
            name=profile.name if profile else None,
            profile_id=conversation.profile_id,
            channel=conversation.channel,
            reason=conversation.handoff_reason or "handoff",
            link=f"{self.settings.public_url.rstrip('/')}/console/conversations/{conversation.id}",
        )

    async def _hand_off(self, item_id: int) -> Delivered | None:
        """Create the ticket with no database connection held (SQLite has one, and a helpdesk can take seconds),
        then record it, the status change and the shopper's notice in one transaction."""
        async with self.sessions() as session:
            item = await session.get(OutboxItem, item_id)
            if item is None or item.status != "pending":
                return None
            conversation = await conversations.get(session, item.conversation_id)
            request = await self._request(session, conversation, item.transcript_seq)
            key = item.idempotency_key or f"fd-{item.id}-{item.conversation_id}"
            search_first = item.outcome_unknown
            connector = await self._connector(session, item.target)
            await session.commit()
        try:
            ref = await connector.create_ticket(request, key, search_first=search_first)
        finally:
            await connector.aclose()
        return await conversations.retrying(self.sessions, lambda s: self._record_ticket(s, item_id, ref))

    async def _record_ticket(self, session: AsyncSession, item_id: int, ref: TicketRef) -> Delivered | None:
        item = await session.get(OutboxItem, item_id)
        if item is None or item.status != "pending":
            return None  # another worker, whose lease this one outlived, recorded the same ticket already
        now = self.clock()
        outbox.finish(item, OutboxStatus.delivered, now, ticket_ref=str(ref))
        conversation = await conversations.get(session, item.conversation_id)
        done = Delivered(conversation.id)
        # The shopper's messages queued while the ticket did not exist may go now, in seq order.
        await session.execute(
            update(OutboxItem)
            .where(OutboxItem.conversation_id == conversation.id, OutboxItem.status == "pending")
            .where(OutboxItem.kind.like(f"{handoff.TICKET_MESSAGE}:%"))
            .values(next_attempt_at=now)
        )
        if not can(conversation, Transition.ticket_created):
            return done  # closed (or taken back) meanwhile: the ticket is recorded, the conversation stays as it is
        await conversations.ticket_created(session, conversation, str(ref))
        done.statuses.append(Status.with_team.value)
        channel = self.channels.of(conversation)
        if item.target == "builtin":
            await self._builtin_notice(session, conversation, done)
        elif channel.after_handoff(item.target) is Continuation.by_email and conversation.email:
            # The helpdesk answers by email (Gorgias, for web chat; DESIGN: "the chat ends"): the shopper is told
            # where, and the conversation is closed here, so nothing more waits for an answer in the chat.
            text = REPLY_BY_EMAIL.format(address=conversation.email)
            done.messages.append(
                await conversations.insert_message(session, conversation, "system", text, kind="notice")
            )
            await conversations.transition(session, conversation, Transition.close, "continues by email", "worker")
            done.statuses.append(Status.closed.value)
        else:
            text = FOLLOW_UP_HERE
            done.messages.append(
                await conversations.insert_message(session, conversation, "system", text, kind="notice")
            )
        if await channel.deliver(session, conversation, done.messages, now):
            self.wake.set()  # set during a pass: the next pass starts at once and sends them
        return done

    async def _builtin_notice(self, session: AsyncSession, conversation: Conversation, done: Delivered) -> None:
        """Who will answer in the built-in inbox: a person now, the auto-response, or the office-hours message; and
        an email alert to the team when nobody can take it."""
        ticket = await inbox.open_ticket(
            session, conversation.id, conversation.handoff_reason or "handoff", self.clock()
        )
        settings = await handoff.get_settings(session)
        now = self.clock()
        text = handoff.team_notice(settings, now, await self.presence.online() > 0) or TEAM_JOINS
        ticket.auto_response_on = now.date().isoformat() if text != TEAM_JOINS else None
        done.messages.append(await conversations.insert_message(session, conversation, "system", text, kind="notice"))
        done.alert = text != TEAM_JOINS and bool(await users.team_emails(session))
        if done.alert:
            await handoff.enqueue_email(session, conversation.id, handoff.TEAM_ALERT, now)

    async def _add_message(self, item_id: int) -> None:
        """A shopper's later message onto the conversation's ticket, once the ticket exists and the messages before
        it are there."""
        async with self.sessions() as session:
            item = await session.get(OutboxItem, item_id)
            if item is None or item.status != "pending":
                return None
            seq = handoff.ticket_message_seq(item.kind)
            ticket = await session.scalar(
                select(OutboxItem).where(
                    OutboxItem.conversation_id == item.conversation_id, OutboxItem.kind == handoff.HANDOFF
                )
            )
            if ticket is None or ticket.status != "delivered" or not ticket.ticket_ref:
                raise Waiting("waiting for the ticket to be created")
            earlier = await session.scalars(
                select(OutboxItem.kind).where(
                    OutboxItem.conversation_id == item.conversation_id,
                    OutboxItem.status == "pending",
                    OutboxItem.kind.like(f"{handoff.TICKET_MESSAGE}:%"),
                )
            )
            if any((handoff.ticket_message_seq(kind) or 0) < (seq or 0) for kind in earlier.all()):
                raise Waiting("waiting for the shopper's earlier messages to reach the ticket")
            message = await session.scalar(
                select(Message).where(Message.conversation_id == item.conversation_id, Message.seq == seq)
            )
            conversation = await conversations.get(session, item.conversation_id)
            ref = TicketRef(ticket.ticket_ref.partition("-")[2], ticket.target)
            request = await self._request_of_contact(session, conversation)
            connector = await self._connector(session, item.target)
            outcome_unknown = item.outcome_unknown
            await session.commit()
        comment_id: str | None = None
        try:
            if message is not None:
                if outcome_unknown:
                    comment_id = await connector.find_message(ref, message.text)
                if comment_id is None:
                    comment_id = await connector.add_message(ref, message.text, request)
        finally:
            await connector.aclose()
        async with self.sessions() as session:
            item = await session.get(OutboxItem, item_id)
            if item is not None and item.status == "pending":
                if message is None:
                    outbox.finish(item, OutboxStatus.skipped, self.clock(), error=f"message {seq} is gone")
                else:
                    outbox.finish(item, OutboxStatus.delivered, self.clock(), ticket_ref=str(ref))
                if comment_id:
                    # The helpdesk's trigger sends this comment back as if an agent wrote it: the relay knows it by id.
                    await handoff.record_own_comment(
                        session, item.target, comment_id, item.conversation_id, self.clock()
                    )
            await session.commit()
        return None

    async def _request_of_contact(self, session: AsyncSession, conversation: Conversation) -> TicketRequest:
        """Who writes a later message (the helpdesks need the shopper, not the transcript)."""
        profile = await conversations.profile_of(session, conversation)
        return TicketRequest(
            conversation_id=conversation.id, subject="", text="", html="",
            email=conversation.email or (profile.email if profile else None),
            phone=profile.phone if profile else None, name=profile.name if profile else None,
            profile_id=conversation.profile_id, channel=conversation.channel,
            reason=conversation.handoff_reason or "handoff", link="",
        )  # fmt: skip

    async def _send_email(self, item_id: int) -> None:
        """Compose in one session, send with no database connection held (SMTP can take seconds), then record it.
        A crash between sending and recording sends the email again: twice is better than never."""
        configured = self.mailer is not None and bool(self.mailer.host)
        async with self.sessions() as session:
            item = await session.get(OutboxItem, item_id)
            if item is None or item.status != "pending":
                return
            kind, conversation_id = item.kind, item.conversation_id
            if not configured and kind == handoff.TEAM_ALERT:
                # An alert is about now: sent hours later, when SMTP is set up, it would only mislead. A reply to a
                # shopper waits instead (below), and goes out once email is set up.
                outbox.finish(item, OutboxStatus.skipped, self.clock(), error=f"not sent: {mail.NOT_CONFIGURED}")
                await session.commit()
                return
            if not configured:
                raise mail.EmailNotConfigured(mail.NOT_CONFIGURED)
            composed = await self._compose(session, kind, conversation_id)
            await session.commit()
        if isinstance(composed, EmailMessage):
            assert self.mailer is not None
            await self.mailer.send(composed)
        now = self.clock()
        async with self.sessions() as session:
            item = await session.get(OutboxItem, item_id)
            if item is None or item.status != OutboxStatus.pending:
                return  # another worker, whose lease this one outlived, recorded it already
            if not isinstance(composed, EmailMessage):
                outbox.finish(item, OutboxStatus.skipped, now, error=f"not sent: {composed}")
            else:
                outbox.finish(item, OutboxStatus.delivered, now)
                if kind == handoff.TEAM_ALERT:
                    alerted = update(InboxTicket).where(InboxTicket.conversation_id == conversation_id)
                    await session.execute(alerted.values(team_alerted_at=now))
            await session.commit()

    async def _compose(self, session: AsyncSession, kind: str, conversation_id: str) -> EmailMessage | str:
        """The email of an outbox row, or why there is nothing (left) to send."""
        if self.links is None or self.store_name is None:
            raise RuntimeError(
                "the worker needs the resume links (and the public URL) and the store's name to send email"
            )
        conversation = await conversations.get(session, conversation_id)
        store = await self.store_name(session)
        now = self.clock()
        if kind == handoff.TEAM_ALERT:
            ticket = await session.scalar(select(InboxTicket).where(InboxTicket.conversation_id == conversation_id))
            if ticket is None or ticket.state != "open":
                return "the conversation is no longer waiting in the inbox"
            if ticket.assignee_id is not None:
                return "an agent took the conversation before the alert went out"
            recipients = await users.team_emails(session)
            if not recipients:
                return "no active agent or admin to alert"
            first = await session.scalar(
                select(Message.text)
                .where(Message.conversation_id == conversation_id, Message.author == "shopper", Message.kind == "text")
                .order_by(Message.seq)
                .limit(1)
            )
            summary = mail.HandoffSummary(conversation_id, ticket.reason, first, conversation.email)
            return mail.team_alert(store, recipients, summary, f"{self.links.public_url}/inbox#{conversation_id}")
        if kind == handoff.TRANSCRIPT:
            if not conversation.email:
                return "the shopper left no email address"
            messages = await conversations.messages_after(session, conversation_id, 0)
            lines = [mail.ChatLine(iso(m.created_at), _seen_as(m), m.text) for m in messages if m.kind != "csat"]
            return mail.transcript_email(store, conversation.email, lines)
        prefix, _, seq = kind.partition(":")
        if prefix != handoff.REPLY_EMAIL or not seq.isdigit():
            raise RuntimeError(f"no email of the kind {kind!r}")
        if not conversation.email:
            return "the shopper left no email address"
        reply = await session.scalar(
            select(Message).where(Message.conversation_id == conversation_id, Message.seq == int(seq))
        )
        if reply is None:
            return f"message {seq} is gone"
        return mail.reply_email(store, conversation.email, reply.text, self.links.link(conversation_id, now))

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
        request the helpdesk rejects), and for anything else once the retry window has run out. A missing
        configuration (SMTP, a helpdesk not connected) waits for the admin without giving up."""
        now = self.clock()
        async with self.sessions() as session:
            item = await session.get(OutboxItem, item_id)
            if item is None or item.status != "pending":
                return
            item.lease_until = None
            item.last_error = f"{type(error).__name__}: {error}"[:2000]
            if isinstance(error, mail.EmailNotConfigured | NotConnected):
                item.last_error = str(error)
                item.next_attempt_at = now + timedelta(seconds=NOT_CONFIGURED_DELAY)
            elif isinstance(error, ConnectorError) and not error.retryable:
                outbox.finish(item, OutboxStatus.dead, now, error=item.last_error)
            else:
                if not isinstance(error, RateLimited):
                    # A timeout, a reset, a 5xx or a bug of ours: the helpdesk may have done it. Sticky, so every
                    # later attempt searches before creating.
                    item.outcome_unknown = True
                delay = self.jitter() * min(MAX_DELAY, BASE_DELAY * 2 ** max(item.attempts - 1, 0))
                retry_after = error.retry_after if isinstance(error, ConnectorError) else None
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


def _seen_as(message: Message) -> str:
    """Who said a message, as the shopper saw it in the chat."""
    if message.author == "agent":
        agent = (message.meta or {}).get("agent")
        return f"{agent} (our team)" if isinstance(agent, str) and agent else "Our team"
    return {"shopper": "You", "ai": "Assistant"}.get(message.author, "Notice")
