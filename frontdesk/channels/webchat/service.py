"""The widget's settings and shoppers' identity verification."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from frontdesk.channels.webchat.models import WidgetSettings
from frontdesk.channels.webchat.schemas import WidgetSettingsIn
from frontdesk.realtime.state import MemoryState, SharedState
from frontdesk.vault import Vault

DEFAULTS = {
    "store_name": "Juniper & Pine",
    "greeting": "Hi! I'm the Juniper & Pine assistant. Ask me about orders, shipping, returns or our gear.",
    "colour": "#2f6f4f",
    "store_url": "https://juniperandpine.example",
}


async def get_settings(session: AsyncSession) -> WidgetSettings:
    settings = await session.get(WidgetSettings, 1)
    if settings is None:
        settings = WidgetSettings(id=1, **DEFAULTS)
        session.add(settings)
        await session.flush()
    return settings


async def store_url(session: AsyncSession) -> str | None:
    """The store's own site, from the widget's settings (Settings → Widget)."""
    return (await get_settings(session)).store_url


async def store_name(session: AsyncSession) -> str:
    """The store's name, from the widget's settings: emails to shoppers and the team are signed with it."""
    return (await get_settings(session)).store_name


async def update_settings(session: AsyncSession, change: WidgetSettingsIn) -> WidgetSettings:
    settings = await get_settings(session)
    for name, value in change.model_dump(exclude_unset=True, exclude_none=True).items():
        setattr(settings, name, value)
    await session.flush()
    return settings


async def rotate_identity_secret(session: AsyncSession, vault: Vault) -> str:
    """A new identity secret, stored encrypted; the old one stops verifying at once."""
    secret = secrets.token_hex(32)
    settings = await get_settings(session)
    settings.identity_secret_encrypted = vault.encrypt(secret)
    await session.flush()
    return secret


def user_hash(secret: str, email: str) -> str:
    """What the store's server computes for a signed-in shopper: hex HMAC-SHA256(identity secret, email)."""
    return hmac.new(secret.encode(), email.strip().encode(), hashlib.sha256).hexdigest()


class DemoIdentity:
    """What plays the store's server on the demo shop page (`frontdesk serve --demo`, `/?as=EMAIL`): it signs with a
    secret made for this process and kept in memory only, never with the store's identity secret, so a hash it gives
    out signs nobody in on any other process, and none at all once the demo stops."""

    def __init__(self) -> None:
        self._secret = secrets.token_hex(32)

    def user_hash(self, email: str) -> str:
        return user_hash(self._secret, email)

    def verifies(self, email: str, given_hash: str) -> bool:
        return hmac.compare_digest(self.user_hash(email), given_hash.strip().lower())


async def verified_email(
    session: AsyncSession, vault: Vault, email: str | None, given_hash: str | None, demo: DemoIdentity | None = None
) -> str | None:
    """The email when its hash is valid (made with the store's secret, or in demo mode with the demo's), else None:
    an invalid hash leaves the shopper anonymous."""
    if not email or not given_hash or len(email) > 320 or len(given_hash) > 128:
        return None
    if demo is not None and demo.verifies(email, given_hash):
        return email.strip().lower()
    settings = await get_settings(session)
    if not settings.identity_secret_encrypted:
        return None
    expected = user_hash(vault.decrypt(settings.identity_secret_encrypted), email)
    return email.strip().lower() if hmac.compare_digest(expected, given_hash.strip().lower()) else None


class Connections:
    """The open web chat connections of each conversation, on every serving process (kept in `realtime.state`): an
    agent's reply reaches a shopper with none by email instead."""

    def __init__(self, shared: SharedState | None = None) -> None:
        self._shared: SharedState = shared or MemoryState()

    async def opened(self, conversation_id: str) -> str:
        """The connection's handle, for `closed`."""
        handle = uuid.uuid4().hex
        await self._shared.join(f"connected:{conversation_id}", handle)
        return handle

    async def closed(self, conversation_id: str, handle: str) -> None:
        await self._shared.leave(f"connected:{conversation_id}", handle)

    async def is_connected(self, conversation_id: str) -> bool:
        return bool(await self._shared.members(f"connected:{conversation_id}"))


async def encrypted_secrets(session: AsyncSession) -> list[tuple[str, str]]:
    """What this domain keeps encrypted, as (what it is, token): the start-up key check opens each."""
    settings = await session.get(WidgetSettings, 1)
    if settings is None or not settings.identity_secret_encrypted:
        return []
    return [("the widget's identity secret", settings.identity_secret_encrypted)]
