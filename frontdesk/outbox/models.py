"""The outbox table: one row per conversation and kind of delivery."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from frontdesk.db import Base, UTCDateTime, utcnow


class OutboxItem(Base):
    """Something to deliver (a handoff, a later shopper message for its ticket, an email), written in the same
    transaction as the change that caused it. Status: pending → delivered (or skipped), or dead once retrying stops
    (not retryable, or the retry window ran out); a manual retry puts a dead row back to pending."""

    __tablename__ = "outbox"
    __table_args__ = (UniqueConstraint("conversation_id", "kind", name="uq_outbox_conversation_kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), default="handoff")
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), index=True)
    target: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    ticket_ref: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Sent with every create of this row's ticket, so a retry is recognised by the helpdesk as the same request.
    idempotency_key: Mapped[str | None] = mapped_column(String(120))
    # Which worker process (hostname-pid) holds or last held the lease: who to look at when a row is stuck.
    leased_by: Mapped[str | None] = mapped_column(String(120))
    # An attempt may have reached the helpdesk without us hearing the answer (timeout, reset, 5xx, a crash): later
    # attempts look for the ticket before creating one. Never cleared while the row is pending.
    outcome_unknown: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # A handoff's transcript ends at this message (the notice that it is on its way): every attempt sends the same
    # ticket, so a replayed Idempotency-Key matches, and later shopper messages go to the ticket as their own rows.
    transcript_seq: Mapped[int | None] = mapped_column(Integer)
    # After this moment a failure makes the row dead; set by the first attempt, cleared by a manual retry.
    retry_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
