"""Admin API of the handoff: PUT/GET /api/settings/handoff, and the outbox's state."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from frontdesk.deps import get_session, require_admin
from frontdesk.handoff import service
from frontdesk.handoff.models import OutboxItem
from frontdesk.handoff.office_hours import OfficeHoursError
from frontdesk.handoff.schemas import HandoffSettingsIn, HandoffSettingsOut

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


@router.get("/api/outbox")
async def outbox(session: Session, state: str | None = None) -> list[dict[str, object]]:
    """Handoffs and their delivery: pending, delivered or dead, with the last error."""
    query = select(OutboxItem).order_by(OutboxItem.id.desc()).limit(200)
    if state:
        query = query.where(OutboxItem.status == state)
    rows = (await session.scalars(query)).all()
    return [
        {"id": r.id, "conversation_id": r.conversation_id, "target": r.target, "status": r.status,
         "attempts": r.attempts, "ticket_ref": r.ticket_ref, "last_error": r.last_error}
        for r in rows
    ]  # fmt: skip
