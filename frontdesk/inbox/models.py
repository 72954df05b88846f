"""The built-in inbox: handed-off conversations waiting for, or handled by, the store's team."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from frontdesk.db import Base, utcnow


class InboxTicket(Base):
    __tablename__ = "inbox_tickets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), unique=True)
    state: Mapped[str] = mapped_column(String(16), default="open", index=True)
    reason: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    auto_response_on: Mapped[str | None] = mapped_column(String(10))  # the day (ISO) it was last sent

    @property
    def ref(self) -> str:
        return f"inbox-{self.id}"
