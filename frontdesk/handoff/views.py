"""Admin API of the handoff: PUT/GET /api/settings/handoff, the outbox's state and a manual retry."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from sqlalchemy.ext.asyncio import AsyncSession

from frontdesk import rich_text
from frontdesk.deps import get_session
from frontdesk.handoff import service
from frontdesk.handoff.office_hours import OfficeHoursError
from frontdesk.handoff.schemas import (
    CustomMessagePreviewIn,
    CustomMessagePreviewOut,
    HandoffSettingsIn,
    HandoffSettingsOut,
    OutboxItemOut,
    OutboxStatus,
)
from frontdesk.params import RowId
from frontdesk.users.access import require_admin

router = APIRouter(tags=["handoff"], dependencies=[Depends(require_admin)])
Session = Annotated[AsyncSession, Depends(get_session)]


@router.get("/api/settings/handoff", response_model=HandoffSettingsOut)
async def get_handoff_settings(session: Session) -> HandoffSettingsOut:
    settings = await service.get_settings(session)
    await session.commit()
    return HandoffSettingsOut.model_validate(settings)


@router.put("/api/settings/handoff", response_model=HandoffSettingsOut)
async def put_handoff_settings(change: HandoffSettingsIn, session: Session) -> HandoffSettingsOut:
    """Choose what happens when the agent cannot answer: builtin, zendesk, gorgias, or none (a custom message)."""
    try:
        settings = await service.update_settings(session, change)
    except service.HandoffSettingsError as exc:
        await session.rollback()
        code = status.HTTP_409_CONFLICT if exc.conflict else status.HTTP_422_UNPROCESSABLE_CONTENT
        raise HTTPException(code, str(exc)) from exc
    except OfficeHoursError as exc:
        await session.rollback()
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    await session.commit()
    return HandoffSettingsOut.model_validate(settings)


@router.post("/api/settings/handoff/preview", response_model=CustomMessagePreviewOut)
async def preview_custom_message(message: CustomMessagePreviewIn) -> CustomMessagePreviewOut:
    """The custom message as saving it would store it (HTML removed, unsafe links reduced to their text); nothing is
    saved. The console's live preview renders this the way the widget does."""
    return CustomMessagePreviewOut(custom_message=rich_text.sanitise(message.custom_message))


@router.get("/api/outbox", response_model=list[OutboxItemOut])
async def outbox(
    session: Session,
    status: Annotated[OutboxStatus | None, Query()] = None,
    target: Annotated[str | None, Query(max_length=16, description="zendesk, gorgias, builtin, sms or email")] = None,
) -> list[OutboxItemOut]:
    """What the worker has to deliver and how it went: target, kind, attempts, the last error, the next attempt and
    the ticket. `status=dead` lists what stopped retrying (POST /api/outbox/{id}/retry sends it again)."""
    rows = await service.outbox_rows(session, status, target=target)
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
