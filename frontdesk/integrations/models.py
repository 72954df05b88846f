"""One row per connected outside system; its secrets are stored encrypted with the app's Vault."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Integer, String, Text, func, text
from sqlalchemy.orm import Mapped, mapped_column

from frontdesk.db import Base, UTCDateTime, utcnow


class Integration(Base):
    __tablename__ = "integrations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), unique=True)  # zendesk | gorgias | twilio
    # What may be shown: subdomain or domain, the email, the verified account, what the reply path created there.
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, server_default=text("'{}'"))
    secret: Mapped[str] = mapped_column(Text)  # the API token or key, Fernet-encrypted
    reply_secret: Mapped[str | None] = mapped_column(Text)  # webhook signing secret or our header secret, encrypted
    # {"automatic": bool, "error": str | None}: whether replies come back without the admin's manual steps
    reply_path: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, server_default=text("'{}'"))
    status: Mapped[str] = mapped_column(String(16), default="connected", server_default="connected")
    connected_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, server_default=func.now())
    last_error: Mapped[str | None] = mapped_column(Text)
