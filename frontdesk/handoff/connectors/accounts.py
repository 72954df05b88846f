"""The Connector of a handoff target, built from the stored login of its account (`frontdesk.credentials`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from frontdesk import credentials
from frontdesk.config import Settings
from frontdesk.db import utcnow
from frontdesk.handoff.connectors.base import Connector, NotConnected
from frontdesk.handoff.connectors.builtin import NAME as BUILTIN
from frontdesk.handoff.connectors.builtin import BuiltinConnector
from frontdesk.handoff.connectors.gorgias import GorgiasConnector
from frontdesk.handoff.connectors.zendesk import ZendeskConnector
from frontdesk.vault import Vault

ZENDESK, GORGIAS = "zendesk", "gorgias"


def new_connector(
    kind: str, login: credentials.HelpdeskLogin, settings: Settings, transport: httpx.AsyncBaseTransport | None = None
) -> Connector:
    label, email, secret = login
    if kind == ZENDESK:
        return ZendeskConnector(label, email, secret, settings.zendesk_url_template, transport)
    return GorgiasConnector(label, email, secret, settings.gorgias_url_template, transport)


async def connector_for(
    session: AsyncSession,
    kind: str,
    vault: Vault,
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    transport: httpx.AsyncBaseTransport | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> Connector:
    """The Connector of a handoff target, for the outbox worker; the caller closes it (`aclose`). A helpdesk that is
    not connected raises NotConnected: its rows wait for the admin."""
    if kind == BUILTIN:
        return BuiltinConnector(sessions, clock)
    login = await credentials.helpdesk_login(session, kind, vault) if kind in (ZENDESK, GORGIAS) else None
    if login is None:
        raise NotConnected(kind)
    return new_connector(kind, login, settings, transport)
