"""The widget's look and the identity-verification secret (encrypted at rest)."""

from __future__ import annotations

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from frontdesk.db import Base, Timestamped


class WidgetSettings(Timestamped, Base):
    __tablename__ = "widget_settings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, default=1)
    store_name: Mapped[str] = mapped_column(String(120))
    greeting: Mapped[str] = mapped_column(Text)
    colour: Mapped[str] = mapped_column(String(7))
    # The store's own site: a product's link in the knowledge is often relative to it ("/products/basin-tent").
    store_url: Mapped[str | None] = mapped_column(String(2000))
    identity_secret_encrypted: Mapped[str | None] = mapped_column(Text)
