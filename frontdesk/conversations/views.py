"""Admin API of conversations: one conversation with its messages, and its transcript as a ticket would carry it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status
from sqlalchemy.ext.asyncio import AsyncSession

from frontdesk.conversations.schemas import ConversationOut, MessageOut, TranscriptOut
from frontdesk.deps import get_session
from frontdesk.transcripts import service
from frontdesk.users.access import require_admin

router = APIRouter(prefix="/api/conversations", tags=["conversations"], dependencies=[Depends(require_admin)])
Session = Annotated[AsyncSession, Depends(get_session)]


@router.get("/{conversation_id}", response_model=ConversationOut)
async def get_conversation(conversation_id: str, session: Session) -> ConversationOut:
    try:
        conversation = await service.get(session, conversation_id)
    except service.ConversationNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    messages = await service.messages_after(session, conversation_id, 0)
    return ConversationOut(
        id=conversation.id,
        channel=conversation.channel,
        status=conversation.status,
        email=conversation.email,
        profile_id=conversation.profile_id,
        signed_in=conversation.signed_in,
        handoff_method=conversation.handoff_method,
        handoff_reason=conversation.handoff_reason,
        ticket_ref=conversation.ticket_ref,
        outcome=conversation.outcome,
        outcome_reason=conversation.outcome_reason,
        csat_score=conversation.csat_score,
        created_at=conversation.created_at,
        messages=[MessageOut(seq=m.seq, author=m.author, kind=m.kind, text=m.text, at=m.created_at) for m in messages],
    )


@router.get("/{conversation_id}/transcript", response_model=TranscriptOut)
async def get_transcript(conversation_id: str, session: Session, request: Request) -> TranscriptOut:
    try:
        ticket = await service.ticket_content(session, conversation_id, request.app.state.settings.public_url)
    except service.ConversationNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    return TranscriptOut(subject=ticket.subject, text=ticket.text, html=ticket.html)
