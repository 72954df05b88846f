"""SMS messages sent and received through Twilio, our own opt-out list, and which conversation a phone is in."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from frontdesk.db import Base, UTCDateTime, utcnow


class SmsMessage(Base):
    """One text, either way. Inbound rows are stored by the webhook under Twilio's MessageSid, whose uniqueness makes
    a redelivered webhook a no-op; outbound rows carry the SID Twilio answered with, which status callbacks name.
    Status: queued, sending, sent, delivered, undelivered, failed (outbound) or received (inbound)."""

    __tablename__ = "sms_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # NULL for an inbound text that belongs to no conversation (a STOP from a number that never wrote before).
    conversation_id: Mapped[str | None] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int | None] = mapped_column(Integer)  # the conversation message this text is or became
    direction: Mapped[str] = mapped_column(String(3))  # in | out
    message_sid: Mapped[str] = mapped_column(String(64), unique=True)
    from_number: Mapped[str] = mapped_column(String(32))  # E.164; for a Messaging Service send, the service SID
    to_number: Mapped[str] = mapped_column(String(32))  # E.164
    body: Mapped[str] = mapped_column(Text, default="", server_default="")
    status: Mapped[str] = mapped_column(String(16), default="queued", server_default="queued")
    error_code: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow, server_default=func.now()
    )


class SmsSuppression(Base):
    """A number that opted out (STOP and its synonyms, or Twilio's error 21610): nothing is ever sent to it until
    it opts back in (START)."""

    __tablename__ = "sms_suppressions"

    phone: Mapped[str] = mapped_column(String(32), primary_key=True)  # E.164
    since: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, server_default=func.now())
    keyword: Mapped[str] = mapped_column(String(16))  # the word the shopper sent, or "21610" when Twilio refused


class SmsThread(Base):
    """The shopper's current conversation: where an inbound text from this phone goes."""

    __tablename__ = "sms_threads"

    phone: Mapped[str] = mapped_column(String(32), primary_key=True)  # E.164
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), index=True)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow, server_default=func.now()
    )
