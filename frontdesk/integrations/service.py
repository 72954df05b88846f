"""Connecting helpdesks: verify the credentials before saving anything, keep the secrets encrypted, set up the way
agents' replies come back, and build the Connector the outbox worker delivers through."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from frontdesk import credentials as stored
from frontdesk.channels.sms.twilio_client import TwilioClient
from frontdesk.config import Settings
from frontdesk.credentials import HelpdeskLogin, Integration, TwilioCredentials
from frontdesk.db import utcnow
from frontdesk.handoff.connectors import accounts
from frontdesk.handoff.connectors.base import AuthFailed, Connector, ConnectorError, NotFound, Rejected
from frontdesk.integrations.schemas import (
    HELPDESKS,
    MANUAL_STEPS_URL,
    AccountOut,
    GorgiasConnectIn,
    IntegrationOut,
    Kind,
    ReplyPathOut,
    TwilioConnectIn,
    ZendeskConnectIn,
)
from frontdesk.vault import Vault

log = logging.getLogger("frontdesk.integrations")
MAX_SECRET_CHARS = 500
TITLES = {Kind.zendesk: "Zendesk", Kind.gorgias: "Gorgias", Kind.twilio: "Twilio"}
SECRET_NAMES = {Kind.zendesk: "API token", Kind.gorgias: "API key"}


class IntegrationError(Exception):
    """A change refused; `status` is the HTTP status the API answers with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True)
class Credentials:
    """A connection form reduced to what every helpdesk needs: the account's label, a user, the secret."""

    kind: Kind
    label: str  # Zendesk subdomain or Gorgias domain
    email: str
    secret: str = field(repr=False)  # kept out of reprs, so out of tracebacks and logs

    @classmethod
    def of(cls, form: ZendeskConnectIn | GorgiasConnectIn) -> Credentials:
        if isinstance(form, ZendeskConnectIn):
            return cls(Kind.zendesk, form.subdomain, str(form.email), form.api_token.get_secret_value().strip())
        return cls(Kind.gorgias, form.domain, str(form.email), form.api_key.get_secret_value().strip())


def url_of(kind: Kind, label: str, settings: Settings) -> str:
    if kind is Kind.zendesk:
        return settings.zendesk_url_template.format(subdomain=label)
    return settings.gorgias_url_template.format(domain=label)


def new_connector(
    credentials: Credentials, settings: Settings, transport: httpx.AsyncBaseTransport | None = None
) -> Connector:
    c = credentials
    return accounts.new_connector(c.kind.value, HelpdeskLogin(c.label, c.email, c.secret), settings, transport)


def explain(credentials: Credentials, error: ConnectorError, settings: Settings) -> str:
    """What the admin should fix, in words about their account rather than HTTP."""
    title, host = TITLES[credentials.kind], urlsplit(url_of(credentials.kind, credentials.label, settings)).netloc
    if isinstance(error, AuthFailed):
        return f"{title} did not accept the email/{SECRET_NAMES[credentials.kind]}"
    if isinstance(error, NotFound):
        return f"no {title} account at {host}"
    if isinstance(error, Rejected):
        return f"{title} refused the check: {error.message}"
    return f"could not reach {title} at {host}: {error.message}"


def webhook_url(kind: Kind, settings: Settings) -> str:
    return f"{settings.public_url.rstrip('/')}/webhooks/{kind.value}"


async def connect(
    session: AsyncSession,
    form: ZendeskConnectIn | GorgiasConnectIn,
    vault: Vault,
    settings: Settings,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Integration:
    """Verify, then save (replacing an earlier connection of the same kind), then set up the reply path. A failed
    verification saves nothing; a failed reply path keeps the connection and records why, for the manual steps.
    No transaction is open while the helpdesk is called: SQLite has one connection for everyone."""
    credentials = Credentials.of(form)
    if not credentials.secret or len(credentials.secret) > MAX_SECRET_CHARS:
        name = SECRET_NAMES[credentials.kind]
        raise IntegrationError(f"the {name} must be 1 to {MAX_SECRET_CHARS} characters", status=422)
    connector = new_connector(credentials, settings, transport)
    try:
        try:
            account = await connector.verify()
        except ConnectorError as exc:
            log.info("%s not connected: %s", credentials.kind.value, exc.message)
            raise IntegrationError(explain(credentials, exc, settings)) from exc
        row = await session.scalar(select(Integration).where(Integration.kind == credentials.kind.value))
        if row is None:
            row = Integration(kind=credentials.kind.value)
            session.add(row)
        row.config = {
            "label": credentials.label,
            "email": credentials.email,
            "account": {"name": account.name, "email": account.email, "id": account.id},
        }
        row.secret = vault.encrypt(credentials.secret)
        row.reply_secret, row.reply_path = None, {"automatic": False, "error": "not set up yet"}
        row.status, row.connected_at, row.last_error = "connected", utcnow(), None
        await session.commit()
        try:
            reply = await connector.set_up_replies(webhook_url(credentials.kind, settings), secrets.token_urlsafe(32))
        except ConnectorError as exc:
            log.warning("%s connected, but replies need the manual steps: %s", credentials.kind.value, exc.message)
            row.reply_path = {"automatic": False, "error": exc.message}
        else:
            row.reply_secret = vault.encrypt(reply.secret) if reply.secret else None
            row.reply_path = {"automatic": reply.automatic, "error": None}
            row.config = {**row.config, "reply_details": dict(reply.details)}
        await session.commit()
        log.info("%s connected: %s", credentials.kind.value, credentials.label)
        return row
    finally:
        await connector.aclose()


async def connect_twilio(
    session: AsyncSession,
    form: TwilioConnectIn,
    vault: Vault,
    settings: Settings,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Integration:
    """Verify the account SID and auth token with Twilio, then save them (the token encrypted), replacing an earlier
    Twilio connection. A failed check saves nothing; no transaction is open while Twilio is called."""
    token = form.auth_token.get_secret_value().strip()
    if not token or len(token) > MAX_SECRET_CHARS:
        raise IntegrationError(f"the auth token must be 1 to {MAX_SECRET_CHARS} characters", status=422)
    sender = form.from_number or form.messaging_service_sid
    if sender is None or (form.from_number and form.messaging_service_sid):
        raise IntegrationError("give either from_number or messaging_service_sid (who texts come from)", status=422)
    client = TwilioClient(TwilioCredentials(form.account_sid, token, sender), settings.twilio_api_base, transport)
    try:
        account = await client.verify()
    except ConnectorError as exc:
        log.info("twilio not connected: %s", exc.message)
        raise IntegrationError(explain_twilio(form.account_sid, exc, settings)) from exc
    finally:
        await client.aclose()
    row = await stored.get(session, Kind.twilio.value)
    if row is None:
        row = Integration(kind=Kind.twilio.value)
        session.add(row)
    row.config = {
        "account_sid": form.account_sid,
        "sender": sender,
        "account": {"name": account.name, "email": account.email, "id": account.id},
    }
    row.secret = vault.encrypt(token)
    # Twilio signs its webhooks with the auth token itself: there is no separate reply secret.
    row.reply_secret, row.reply_path = None, {}
    row.status, row.connected_at, row.last_error = "connected", utcnow(), None
    await session.commit()
    log.info("twilio connected: %s sending from %s", form.account_sid, sender)
    return row


def explain_twilio(account_sid: str, error: ConnectorError, settings: Settings) -> str:
    if isinstance(error, AuthFailed):
        return "Twilio did not accept the account SID/auth token"
    if isinstance(error, NotFound):
        return f"no Twilio account {account_sid}"
    if isinstance(error, Rejected):
        return f"Twilio refused the check: {error.message}"
    return f"could not reach Twilio at {urlsplit(settings.twilio_api_base).netloc}: {error.message}"


async def set_reply_secret(session: AsyncSession, kind: Kind, secret: str, vault: Vault) -> Integration:
    """The reply path the admin set up by hand (docs/helpdesks.md): the signing secret Zendesk revealed, or the
    header value they gave the Gorgias HTTP integration."""
    if kind not in HELPDESKS:
        raise IntegrationError(f"{TITLES[kind]} signs its requests with the auth token: it has no reply secret")
    row = await stored.get(session, kind.value)
    if row is None:
        raise IntegrationError(f"{TITLES[kind]} is not connected", status=404)
    secret = secret.strip()
    if not secret or len(secret) > MAX_SECRET_CHARS:
        raise IntegrationError(f"the secret must be 1 to {MAX_SECRET_CHARS} characters", status=422)
    row.reply_secret = vault.encrypt(secret)
    row.reply_path = {"automatic": False, "manual": True, "error": None}
    await session.flush()
    return row


def view(kind: Kind, row: Integration | None) -> IntegrationOut:
    """What the console shows: never a secret, not even a part of one."""
    if row is None:
        return IntegrationOut(kind=kind, status="not_connected")
    config = row.config or {}
    account = config.get("account")
    if kind is Kind.twilio:
        return IntegrationOut(
            kind=kind,
            status=row.status,
            address=config.get("sender"),
            account=AccountOut(**account) if isinstance(account, dict) else None,
            connected_at=row.connected_at,
            last_error=row.last_error,
        )
    reply = row.reply_path or {}
    automatic = bool(reply.get("automatic"))
    suffix = ".zendesk.com" if kind is Kind.zendesk else ".gorgias.com"
    return IntegrationOut(
        kind=kind,
        status=row.status,
        address=f"{config['label']}{suffix}" if config.get("label") else None,
        email=config.get("email"),
        account=AccountOut(**account) if isinstance(account, dict) else None,
        connected_at=row.connected_at,
        last_error=row.last_error,
        reply_path=ReplyPathOut(
            automatic=automatic,
            ready=row.reply_secret is not None,
            error=None if automatic else reply.get("error"),
            manual_steps_url=None if automatic else MANUAL_STEPS_URL.format(kind=kind),
        ),
    )


async def disconnect(session: AsyncSession, kind: Kind, chosen_method: str) -> None:
    """Forget the credentials. Refused while the handoff uses this helpdesk: handoffs would have nowhere to go.
    What was created in the helpdesk (webhook, trigger, HTTP integration) stays there for the admin to remove."""
    if chosen_method == kind.value:
        raise IntegrationError(
            f"{TITLES[kind]} is the handoff method: choose another one (Settings → Handoff in the console, or "
            "PUT /api/settings/handoff) before disconnecting it",
            status=409,
        )
    result = await session.execute(delete(Integration).where(Integration.kind == kind.value))
    if not result.rowcount:  # type: ignore[attr-defined]
        raise IntegrationError(f"{TITLES[kind]} is not connected", status=404)
    log.info("%s disconnected", kind.value)


async def encrypted_secrets(session: AsyncSession) -> list[tuple[str, str]]:
    """What this domain keeps encrypted, as (what it is, token): the start-up key check opens each."""
    stored: list[tuple[str, str]] = []
    for row in await session.scalars(select(Integration).order_by(Integration.kind)):
        if row.secret:
            stored.append((f"the {row.kind} credentials", row.secret))
        if row.reply_secret:
            stored.append((f"the {row.kind} reply secret", row.reply_secret))
    return stored
