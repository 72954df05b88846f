"""The dashboard's numbers: outcomes over a date range and channel, traceable to the conversations behind them."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from frontdesk.conversations.models import Conversation
from frontdesk.metrics.outcomes import Outcome
from frontdesk.metrics.schemas import Overview


def _bounds(start: date | None, end: date | None) -> tuple[datetime | None, datetime | None]:
    low = datetime.combine(start, time.min) if start else None
    high = datetime.combine(end + timedelta(days=1), time.min) if end else None
    return low, high


async def overview(
    session: AsyncSession, start: date | None = None, end: date | None = None, channel: str | None = None
) -> Overview:
    """Counts per outcome of the conversations started between `start` and `end` (inclusive days, UTC)."""
    query = select(Conversation.outcome, func.count()).group_by(Conversation.outcome)
    low, high = _bounds(start, end)
    if low:
        query = query.where(Conversation.created_at >= low)
    if high:
        query = query.where(Conversation.created_at < high)
    if channel:
        query = query.where(Conversation.channel == channel)
    counts = {outcome: 0 for outcome in Outcome}
    for outcome, count in (await session.execute(query)).all():
        counts[Outcome(outcome)] = count
    total = sum(counts.values())
    with_question = total - counts[Outcome.no_question]
    return Overview(
        conversations=total,
        resolved=counts[Outcome.resolved],
        routed_to_team=counts[Outcome.routed_to_team],
        unresolved=counts[Outcome.unresolved],
        no_question=counts[Outcome.no_question],
        resolution_rate=round(counts[Outcome.resolved] / with_question, 4) if with_question else None,
        routed_to_team_rate=round(counts[Outcome.routed_to_team] / with_question, 4) if with_question else None,
    )
