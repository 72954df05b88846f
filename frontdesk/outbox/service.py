"""Writing outbox rows, and the one place their status changes: pending → delivered | skipped | dead, and back to
pending when a row is queued again or retried by hand. A change from any other status is refused, so a row delivered
by one worker cannot be marked dead by another whose lease ran out."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from frontdesk.outbox.models import OutboxItem


class OutboxStatus(StrEnum):
    pending = "pending"
    delivered = "delivered"
    skipped = "skipped"  # finished without sending: nothing (left) to send, or the recipient must not get it
    dead = "dead"  # retrying stopped: not retryable, or the retry window ran out


STATUSES = tuple(status.value for status in OutboxStatus)
FINISHED = frozenset({OutboxStatus.delivered, OutboxStatus.skipped, OutboxStatus.dead})


class StatusRefused(Exception):
    """A status change that does not apply to the row's current status."""


class OutboxError(Exception):
    """An outbox change refused; `status` is the HTTP status the API answers with."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def finish(
    item: OutboxItem, status: OutboxStatus, now: datetime, *, ticket_ref: str | None = None, error: str | None = None
) -> None:
    """A pending row leaves pending: delivered (with what the target answered: a ticket, a message SID), skipped or
    dead (with why). Its lease ends with it."""
    if status not in FINISHED:
        raise StatusRefused(f"{status.value} does not finish an outbox row")
    if item.status != OutboxStatus.pending:
        raise StatusRefused(f"outbox row {item.id} is {item.status}, not pending: it cannot become {status.value}")
    item.status, item.lease_until = status.value, None
    if ticket_ref is not None:
        item.ticket_ref = ticket_ref
    if status is OutboxStatus.dead:
        item.last_error = error
    else:
        item.delivered_at, item.last_error = now, error


def reopen(item: OutboxItem, now: datetime) -> None:
    """A finished row pending again, due now (queued again, or retried by hand); a pending one stays as it is."""
    if item.status != OutboxStatus.pending:
        item.status, item.lease_until = OutboxStatus.pending.value, None
    item.next_attempt_at = now


async def enqueue(
    session: AsyncSession, conversation_id: str, kind: str, target: str, now: datetime, *, again: bool = True
) -> OutboxItem:
    """The conversation's row of `kind`, in the caller's transaction (one per conversation and kind). Queued again, an
    existing row is sent again with a fresh start (`again`), or left as it is (a text is never sent twice)."""
    item = await session.scalar(
        select(OutboxItem).where(OutboxItem.conversation_id == conversation_id, OutboxItem.kind == kind)
    )
    if item is None:
        item = OutboxItem(kind=kind, conversation_id=conversation_id, target=target, next_attempt_at=now)
        session.add(item)
        await session.flush()
        # Stable for the row's life, so every retry of its create is the same request to the helpdesk.
        item.idempotency_key = f"fd-{item.id}-{conversation_id}"
    elif again:
        item.target = target
        reopen(item, now)
        item.lease_until = None
        item.attempts, item.last_error, item.retry_until, item.outcome_unknown = 0, None, None, False
    await session.flush()
    return item


async def rows(
    session: AsyncSession, status: str | None = None, limit: int = 200, target: str | None = None
) -> list[OutboxItem]:
    """The newest rows first, optionally of one status (pending, delivered, dead, skipped) and one target."""
    query = select(OutboxItem).order_by(OutboxItem.id.desc()).limit(limit)
    if status:
        query = query.where(OutboxItem.status == status)
    if target:
        query = query.where(OutboxItem.target == target)
    return list((await session.scalars(query)).all())


async def last_delivered_at(session: AsyncSession, target: str) -> datetime | None:
    """When something last reached `target` (a helpdesk, "sms", "email"); None when nothing has yet."""
    at: datetime | None = await session.scalar(
        select(func.max(OutboxItem.delivered_at)).where(
            OutboxItem.target == target, OutboxItem.status == OutboxStatus.delivered.value
        )
    )
    return at


async def retry_now(session: AsyncSession, item_id: int, now: datetime) -> OutboxItem:
    """Put a row that stopped (dead or waiting) back to pending, due now, with a fresh retry window. The row keeps
    its idempotency key and what is known of earlier attempts, so a retry still cannot make a second ticket."""
    item = await session.get(OutboxItem, item_id)
    if item is None:
        raise OutboxError(f"no outbox row {item_id}", 404)
    if item.status in (OutboxStatus.delivered, OutboxStatus.skipped):
        raise OutboxError(f"outbox row {item_id} is already {item.status}: there is nothing to retry", 409)
    # A pending row keeps its lease: a worker may be delivering it right now.
    reopen(item, now)
    item.retry_until = None
    await session.flush()
    return item


async def figures(session: AsyncSession) -> tuple[dict[tuple[str, str, str], int], datetime | None]:
    """Rows by (status, target, kind: handoff or other), and when the oldest pending row was written (/metrics)."""
    kind = case((OutboxItem.kind == "handoff", "handoff"), else_="other")
    counts = await session.execute(
        select(OutboxItem.status, OutboxItem.target, kind, func.count()).group_by(OutboxItem.status,
                                                                                  OutboxItem.target, kind)
    )  # fmt: skip
    oldest = await session.scalar(select(func.min(OutboxItem.created_at)).where(OutboxItem.status == "pending"))
    return {(s, t, k): n for s, t, k, n in counts.all()}, oldest
