"""Conversations, their messages and status events, and shopper profiles."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint, false
from sqlalchemy import text as sql
from sqlalchemy.orm import Mapped, mapped_column

from frontdesk.db import Base, Timestamped, UTCDateTime, utcnow


class Profile(Timestamped, Base):
    """A shopper, as far as the store knows them: linked by email, phone or the store's own customer id."""

    __tablename__ = "profiles"
    # One verified and one unverified profile at most per email: a typed email never joins the verified one.
    __table_args__ = (UniqueConstraint("email", "verified", name="uq_profiles_email_verified"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(32), unique=True)
    name: Mapped[str | None] = mapped_column(String(200))
    customer_id: Mapped[str | None] = mapped_column(String(200), unique=True)
    # The store's server vouched for the email (a signed-in web chat), or the phone is the one that texted; False for
    # an email the shopper typed, which anyone could type.
    verified: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class Conversation(Timestamped, Base):
    __tablename__ = "conversations"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    visitor_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    profile_id: Mapped[str | None] = mapped_column(ForeignKey("profiles.id"))
    email: Mapped[str | None] = mapped_column(String(320))
    signed_in: Mapped[bool] = mapped_column(Boolean, default=False)
    handoff_reason: Mapped[str | None] = mapped_column(String(200))
    handoff_method: Mapped[str | None] = mapped_column(String(16))
    handoff_declined: Mapped[bool] = mapped_column(Boolean, default=False)
    ticket_ref: Mapped[str | None] = mapped_column(String(200))
    outcome: Mapped[str] = mapped_column(String(16), default="no_question", index=True)
    # Running counts the outcome is derived from, so it never needs the whole transcript.
    questions: Mapped[int] = mapped_column(Integer, default=0)
    answered: Mapped[int] = mapped_column(Integer, default=0)
    small_talk: Mapped[bool] = mapped_column(Boolean, default=False)
    last_decision: Mapped[str | None] = mapped_column(String(16))
    last_question: Mapped[str | None] = mapped_column(Text)
    # AI answers the shopper rated "didn't help": not answers, for the outcome; and whether that moved the outcome.
    rated_unhelpful: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    feedback_changed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The shopper's rating of the team (1 to 5), asked once the team closed the conversation.
    csat_score: Mapped[int | None] = mapped_column(Integer)
    csat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome_reason: Mapped[str] = mapped_column(String(300), default="no question asked yet")
    last_seq: Mapped[int] = mapped_column(Integer, default=0)
    last_activity_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Optimistic lock: two processes changing the same conversation at once cannot both win.
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


AWAITING = sql("awaiting_turn")


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("conversation_id", "seq", name="uq_messages_conversation_seq"),
        UniqueConstraint("conversation_id", "client_id", name="uq_messages_conversation_client_id"),
        # Only the few awaiting their turn are indexed: what a restart looks for.
        Index("ix_messages_awaiting_turn", "awaiting_turn", sqlite_where=AWAITING, postgresql_where=AWAITING),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    author: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16), default="text")
    text: Mapped[str] = mapped_column(Text)
    meta: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    client_id: Mapped[str | None] = mapped_column(String(64))
    # A shopper input stored but whose turn (the answer, offer, email check or handoff) is not committed yet: true
    # from the message's own transaction until the one that commits its turn, so a crash in between is answered
    # after the restart, and a resend of it answers instead of being dropped.
    awaiting_turn: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # indexed: the knowledge-gaps report reads the newest unanswered questions of a date range
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class ConversationEvent(Base):
    """One status change, with why and by whom: the audit trail of the state machine."""

    __tablename__ = "conversation_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(300))
    actor: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class VisitorToken(Base):
    """A further token that opens a conversation, e.g. from the link in a reply sent by email. The first token is
    `Conversation.visitor_token_hash`; both are stored hashed."""

    __tablename__ = "visitor_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
