"""Admin API of the outbox: what is pending, delivered, dead or skipped, and a manual retry."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from sqlalchemy.ext.asyncio import AsyncSession

from frontdesk.deps import get_session
from frontdesk.outbox import service
from frontdesk.outbox.schemas import OutboxItemOut
from frontdesk.outbox.service import OutboxStatus
from frontdesk.params import RowId
from frontdesk.users.access import require_admin

router = APIRouter(tags=["outbox"], dependencies=[Depends(require_admin)])
Session = Annotated[AsyncSession, Depends(get_session)]


@router.get("/api/outbox", response_model=list[OutboxItemOut])
async def outbox(
    session: Session,
    status: Annotated[OutboxStatus | None, Query()] = None,
    target: Annotated[str | None, Query(max_length=16, description="zendesk, gorgias, builtin, sms or email")] = None,
) -> list[OutboxItemOut]:
    """What the worker has to deliver and how it went: target, kind, attempts, the last error, the next attempt and
    the ticket. `status=dead` lists what stopped retrying (POST /api/outbox/{id}/retry sends it again)."""
    rows = await service.rows(session, status, target=target)
    return [OutboxItemOut.model_validate(row) for row in rows]


@router.post("/api/outbox/{item_id}/retry", response_model=OutboxItemOut)
async def retry_outbox_item(item_id: RowId, session: Session, request: Request) -> OutboxItemOut:
    """Send a dead row again now, with a fresh retry window; 409 for one already delivered."""
    try:
        item = await service.retry_now(session, item_id, request.app.state.clock())
    except service.OutboxError as exc:
        await session.rollback()
        raise HTTPException(exc.status, str(exc)) from exc
    await session.commit()
    request.app.state.worker.wake.set()
    return OutboxItemOut.model_validate(item)
