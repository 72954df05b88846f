"""GET /api/metrics/overview, /daily and /gaps: the dashboard's numbers for scripts."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from sqlalchemy.ext.asyncio import AsyncSession

from frontdesk.config import Settings
from frontdesk.deps import get_session, get_settings, now_of
from frontdesk.knowledge.service import Knowledge
from frontdesk.knowledge.views import get_knowledge
from frontdesk.metrics import service
from frontdesk.metrics.schemas import Daily, Gaps, Overview, Team
from frontdesk.users.access import require_admin

router = APIRouter(prefix="/api/metrics", tags=["metrics"], dependencies=[Depends(require_admin)])
Session = Annotated[AsyncSession, Depends(get_session)]
Start = Annotated[date | None, Query(alias="from", description="First day, UTC (YYYY-MM-DD)")]
End = Annotated[date | None, Query(alias="to", description="Last day, UTC, inclusive")]


def served_channel(
    request: Request, channel: Annotated[str | None, Query(description="One channel's conversations only")] = None
) -> str | None:
    """The `channel` filter: one of the channels this process serves (the app's registry), or all of them."""
    if channel is not None and channel not in request.app.state.channels.names():
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"there is no channel {channel!r}")
    return channel


Channel = Annotated[str | None, Depends(served_channel)]


def default_range(request: Request, start: date | None, end: date | None) -> tuple[date, date]:
    """The range asked for; a missing end is today (UTC), a missing start the 30 days up to the end."""
    last = end or now_of(request).date()
    return start or last - timedelta(days=service.DEFAULT_DAYS - 1), last


def _unprocessable(error: service.RangeError) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(error))


@router.get("/overview", response_model=Overview)
async def overview(session: Session, channel: Channel, start: Start = None, end: End = None) -> Overview:
    """Conversations per outcome, and the resolution and routed-to-team rates; without a range, all of them."""
    if start and end and end < start:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "to is before from")
    return await service.overview(session, start, end, channel)


@router.get("/daily", response_model=Daily)
async def daily(session: Session, request: Request, channel: Channel, start: Start = None, end: End = None) -> Daily:
    """The same numbers per UTC day (every day of the range, up to 366; the last 30 days by default)."""
    first, last = default_range(request, start, end)
    try:
        return await service.daily(session, first, last, channel)
    except service.RangeError as exc:
        raise _unprocessable(exc) from exc


@router.get("/team", response_model=Team)
async def team(session: Session, request: Request, channel: Channel, start: Start = None, end: End = None) -> Team:
    """CSAT, median first response and median time to close of the conversations handed to the built-in inbox,
    for the whole team and per agent (the last 30 days by default)."""
    first, last = default_range(request, start, end)
    try:
        return await service.team(session, first, last, channel)
    except service.RangeError as exc:
        raise _unprocessable(exc) from exc


@router.get("/gaps", response_model=Gaps)
async def gaps(
    session: Session,
    request: Request,
    knowledge: Annotated[Knowledge, Depends(get_knowledge)],
    settings: Annotated[Settings, Depends(get_settings)],
    channel: Channel,
    start: Start = None,
    end: End = None,
) -> Gaps:
    """The questions the agent could not answer, grouped by meaning, most asked first; groups the knowledge answers
    now come last with `now_answered`. The last 30 days by default."""
    first, last = default_range(request, start, end)
    try:
        return await service.knowledge_gaps(
            session, knowledge, first, last, channel, settings.answer_threshold, settings.max_question_chars
        )
    except service.RangeError as exc:
        raise _unprocessable(exc) from exc
