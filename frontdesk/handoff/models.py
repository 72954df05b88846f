"""Handoff settings (one row per store) and the helpdesk comments the relay has taken."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from frontdesk.db import Base, Timestamped, UTCDateTime, utcnow


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


class RelayedComment(Base):
    """A helpdesk delivery the relay has taken care of (Zendesk comment, Gorgias message). Inserted in the same
    transaction as the agent message it became, so a redelivery (helpdesks retry, and may deliver twice) finds the row
    and changes nothing. `seq` is the message it became; NULL when it was recorded without a message."""

    __tablename__ = "relayed_comments"
    __table_args__ = (UniqueConstraint("source", "external_id", name="uq_relayed_comments_source_external_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(16))  # zendesk | gorgias
    external_id: Mapped[str] = mapped_column(String(64))  # the helpdesk's comment or message id
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int | None] = mapped_column(Integer)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
