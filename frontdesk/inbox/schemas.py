"""API shapes of the built-in inbox."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field, field_validator


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
    unread: int = 0  # shopper messages newer than what this agent last opened


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


class EarlierConversationOut(BaseModel):
    conversation_id: str
    channel: str
    status: str
    started_at: datetime
    in_inbox: bool  # False: an AI-only conversation, shown by the console's transcript page


class ConversationDetailOut(TicketOut):
    profile_id: str | None
    signed_in: bool
    outcome_reason: str
    messages: list[InboxMessageOut]
    notes: list[NoteOut]
    earlier: list[EarlierConversationOut]


class TextIn(BaseModel):
    text: str = Field(min_length=1, max_length=4000)


class AwayIn(BaseModel):
    away: bool


class AvailabilityOut(BaseModel):
    online: int
    within_office_hours: bool
    away: bool


def _reply_text(text: str | None) -> str | None:
    """A saved reply's text as stored: trimmed, without NUL (PostgreSQL refuses it); blank is refused."""
    if text is None:
        return None
    cleaned = text.replace("\x00", "").strip()
    if not cleaned:
        raise ValueError("a saved reply needs some text")
    return cleaned


class SavedReplyIn(BaseModel):
    name: str = Field(min_length=1, max_length=80, pattern=r"^[\w-]+$")
    text: str = Field(min_length=1, max_length=4000)

    _text = field_validator("text")(_reply_text)


class SavedReplyPatch(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=80, pattern=r"^[\w-]+$")
    text: str | None = Field(default=None, min_length=1, max_length=4000)

    _text = field_validator("text")(_reply_text)


class SavedReplyOut(BaseModel):
    id: int
    name: str
    text: str
