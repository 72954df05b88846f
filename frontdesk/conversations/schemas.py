"""API shapes of conversations."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class MessageOut(BaseModel):
    seq: int
    author: str
    kind: str
    text: str
    at: datetime


class ConversationOut(BaseModel):
    id: str
    channel: str
    status: str
    email: str | None
    profile_id: str | None
    signed_in: bool
    handoff_method: str | None
    handoff_reason: str | None
    ticket_ref: str | None
    outcome: str
    outcome_reason: str
    csat_score: int | None = Field(default=None, description="The shopper's rating of the team, 1 to 5, if given")
    created_at: datetime
    messages: list[MessageOut]


class TranscriptOut(BaseModel):
    subject: str
    text: str
    html: str
