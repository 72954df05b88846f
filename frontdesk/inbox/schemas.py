"""API shapes of the built-in inbox."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class LastMessage(BaseModel):
    author: str
    text: str
    at: datetime


class TicketOut(BaseModel):
    conversation_id: str
    ref: str
    state: str
    status: str
    reason: str
    channel: str
    email: str | None
    phone: str | None
    assignee_id: int | None
    assignee: str | None
    opened_at: datetime
    closed_at: datetime | None
    last_message: LastMessage | None


class QueueOut(BaseModel):
    queue: str
    counts: dict[str, int]
    tickets: list[TicketOut]


class InboxMessageOut(BaseModel):
    seq: int
    author: str
    kind: str
    text: str
    at: datetime
    agent: str | None = None
    confidence: float | None = None


class NoteOut(BaseModel):
    id: int
    author: str
    text: str
    at: datetime


class ConversationDetailOut(TicketOut):
    profile_id: str | None
    signed_in: bool
    outcome_reason: str
    messages: list[InboxMessageOut]
    notes: list[NoteOut]


class TextIn(BaseModel):
    text: str = Field(min_length=1, max_length=4000)


class AwayIn(BaseModel):
    away: bool


class AvailabilityOut(BaseModel):
    online: int
    within_office_hours: bool
    away: bool
