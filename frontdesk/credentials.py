"""The outside accounts the store connected (Zendesk, Gorgias, Twilio): one `integrations` row each, its secrets
encrypted with the app's Vault. `integrations` checks and writes them; what calls an account (the connectors, the
SMS channel, the helpdesk webhooks) reads them here, so none of those imports `integrations`."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import JSON, Integer, String, Text, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from frontdesk.db import Base, UTCDateTime, utcnow
from frontdesk.vault import Vault

TWILIO = "twilio"


class Integration(Base):
    """One row per connected outside system; its secrets are stored encrypted with the app's Vault."""

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


class HelpdeskLogin(NamedTuple):
    """What a helpdesk connector signs in with: the account's label (Zendesk subdomain, Gorgias domain), the user."""

    label: str
    email: str
    secret: str

    def __repr__(self) -> str:  # the secret stays out of reprs, so out of tracebacks and logs
        return f"HelpdeskLogin(label={self.label!r}, email={self.email!r})"


class TwilioCredentials(NamedTuple):
    """What sending and signature checks need: the account, its auth token, and the sender (a phone number in
    E.164, or a Messaging Service SID "MG…"). A tuple, so `sid, token, sender = credentials` works."""

    account_sid: str
    auth_token: str
    sender: str

    def __repr__(self) -> str:  # the token stays out of reprs, so out of tracebacks and logs
        return f"TwilioCredentials(account_sid={self.account_sid!r}, sender={self.sender!r})"

    @property
    def uses_messaging_service(self) -> bool:
        return self.sender.startswith("MG")


async def get(session: AsyncSession, kind: str) -> Integration | None:
    return await session.scalar(select(Integration).where(Integration.kind == kind))


async def is_connected(session: AsyncSession, kind: str) -> bool:
    row = await get(session, kind)
    return row is not None and row.status == "connected"


async def helpdesk_login(session: AsyncSession, kind: str, vault: Vault) -> HelpdeskLogin | None:
    """The connected helpdesk's login; None when it is not connected."""
    row = await get(session, kind)
    if row is None or row.status != "connected" or kind == TWILIO:
        return None
    config = row.config or {}
    return HelpdeskLogin(str(config["label"]), str(config["email"]), vault.decrypt(row.secret))


async def twilio_credentials(session: AsyncSession, vault: Vault) -> TwilioCredentials | None:
    """The connected Twilio account (SID, auth token, sender), for sending and for checking Twilio's signatures;
    None when Twilio is not connected."""
    row = await get(session, TWILIO)
    if row is None or row.status != "connected":
        return None
    config = row.config or {}
    return TwilioCredentials(str(config["account_sid"]), vault.decrypt(row.secret), str(config["sender"]))


async def reply_secret(session: AsyncSession, kind: str, vault: Vault) -> bytes | None:
    """The secret that proves a reply came from the helpdesk (Zendesk's signing secret, Gorgias's header secret);
    None when the reply path was not set up automatically."""
    row = await get(session, kind)
    if row is None or row.reply_secret is None:
        return None
    return vault.decrypt(row.reply_secret).encode()
