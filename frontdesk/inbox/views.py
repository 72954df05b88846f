"""Inbox API (the agents' pages come with their own issue): handed-off conversations waiting for the team."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends
from sqlalchemy.ext.asyncio import AsyncSession

from frontdesk.deps import get_session, require_api_token
from frontdesk.inbox import service

router = APIRouter(prefix="/api/inbox", tags=["inbox"], dependencies=[Depends(require_api_token)])


@router.get("/tickets")
async def tickets(
    session: Annotated[AsyncSession, Depends(get_session)], state: Literal["open", "closed"] | None = "open"
) -> list[dict[str, object]]:
    rows = await service.list_tickets(session, state)
    return [
        {"ref": t.ref, "conversation_id": t.conversation_id, "state": t.state, "reason": t.reason,
         "created_at": t.created_at}
        for t in rows
    ]  # fmt: skip
