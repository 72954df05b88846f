"""The knowledge tables: FAQ entries, articles and products, one row each; and the questions labelled with their
right move, which sharpen the store's answer threshold."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, LargeBinary, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from frontdesk.db import Base, Timestamped, UTCDateTime, utcnow


class Entry(Timestamped, Base):
    __tablename__ = "knowledge_entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), index=True)
    ref: Mapped[str | None] = mapped_column(String(200), unique=True)
    title: Mapped[str] = mapped_column(String(500))
    alternates: Mapped[list[str]] = mapped_column(JSON, default=list)
    body: Mapped[str] = mapped_column(Text, default="")
    url: Mapped[str | None] = mapped_column(String(2000))
    price: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    availability: Mapped[str | None] = mapped_column(String(32))
    source: Mapped[str | None] = mapped_column(String(500))


class Label(Base):
    """A shopper question whose right move is known: answer it (`covered`, from `entry_id`) or hand it off. Each
    comes from the team or the shopper: a handed-off question added as a phrasing of an FAQ, or made into a new
    entry; an AI answer rated helpful or not. It keeps what the engine said of the question when it was asked."""

    __tablename__ = "knowledge_labels"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # one label per shopper question: a later one (the shopper changing their rating) replaces it
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), unique=True)
    text: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(16))  # phrasing, new_entry, helpful, not_helpful
    covered: Mapped[bool] = mapped_column(Boolean)
    entry_id: Mapped[int | None] = mapped_column(ForeignKey("knowledge_entries.id", ondelete="SET NULL"))
    confidence: Mapped[float] = mapped_column(Float)  # the engine's, when the question was asked
    first_was_right: Mapped[bool] = mapped_column(Boolean)  # the engine's first entry then was the one that answers
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class TextVector(Base):
    """A text's vector as one embedder made it, kept so that a start, another process or an edit that leaves a text
    alone reads it instead of embedding it again. Keyed by the embedder's version and the text's SHA-256: a text
    changed, or an embedder changed, is simply another key."""

    __tablename__ = "knowledge_vectors"

    embedder: Mapped[str] = mapped_column(String(200), primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    vector: Mapped[bytes] = mapped_column(LargeBinary)  # float16, little-endian
