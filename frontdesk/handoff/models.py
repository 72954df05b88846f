"""Handoff settings (one row per store) and the outbox of handoffs waiting to be delivered."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from frontdesk.db import Base, Timestamped, utcnow


class HandoffSettings(Timestamped, Base):
    __tablename__ = "handoff_settings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, default=1)
    method: Mapped[str] = mapped_column(String(16), default="builtin")
    custom_message: Mapped[str] = mapped_column(Text, default="")
    offer_text: Mapped[str] = mapped_column(Text)
    yes_text: Mapped[str] = mapped_column(String(80))
    no_text: Mapped[str] = mapped_column(String(80))
    email_prompt: Mapped[str] = mapped_column(Text)
    auto_response: Mapped[str] = mapped_column(Text)
    office_hours_message: Mapped[str] = mapped_column(Text)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    # {"mon": [["09:00", "17:00"]], ...}; a weekday that is missing or empty is closed.
    office_hours: Mapped[dict[str, list[list[str]]]] = mapped_column(JSON, default=dict)
    holidays: Mapped[list[str]] = mapped_column(JSON, default=list)


class OutboxItem(Base):
    """A handoff to deliver, written in the same transaction as the status change that accepted it."""

    __tablename__ = "outbox"
    __table_args__ = (UniqueConstraint("conversation_id", "kind", name="uq_outbox_conversation_kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), default="handoff")
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), index=True)
    target: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    ticket_ref: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
