"""The knowledge table: FAQ entries, articles and products, one row each."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import JSON, Integer, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from frontdesk.db import Base, Timestamped


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
