"""Admin API of the handoff: PUT/GET /api/settings/handoff and the custom message's preview."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status
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
)
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
