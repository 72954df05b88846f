"""GET /api/metrics/overview."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, status
from sqlalchemy.ext.asyncio import AsyncSession

from frontdesk.deps import get_session, require_admin
from frontdesk.metrics import service
from frontdesk.metrics.schemas import Overview

router = APIRouter(prefix="/api/metrics", tags=["metrics"], dependencies=[Depends(require_admin)])


@router.get("/overview", response_model=Overview)
async def overview(
    session: Annotated[AsyncSession, Depends(get_session)],
    start: Annotated[date | None, Query(alias="from", description="First day, UTC (YYYY-MM-DD)")] = None,
    end: Annotated[date | None, Query(alias="to", description="Last day, UTC, inclusive")] = None,
    channel: Literal["webchat", "sms"] | None = None,
) -> Overview:
    if start and end and end < start:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "to is before from")
    return await service.overview(session, start, end, channel)
