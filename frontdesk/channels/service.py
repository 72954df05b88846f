"""The channels a serving process or a worker offers, for the core to look up by a conversation's channel."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from frontdesk.channels.sms.channel import Sms
from frontdesk.channels.webchat.channel import WebChat
from frontdesk.channels.webchat.events import message_event
from frontdesk.channels.webchat.service import Connections
from frontdesk.config import Settings
from frontdesk.transcripts.channel import Channels
from frontdesk.vault import Vault


def every_channel(
    sessions: async_sessionmaker[AsyncSession],
    clock: Callable[[], datetime],
    settings: Settings | None = None,
    vault: Vault | None = None,
    connections: Connections | None = None,
) -> Channels:
    """Web chat (with this process's connections: None in a worker, which has none) and SMS."""
    channels = [WebChat(connections), Sms(sessions, vault, settings or Settings(), clock)]
    return Channels({channel.name: channel for channel in channels}, message_event)
