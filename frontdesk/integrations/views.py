"""Admin API of the integrations: connect, show and disconnect Zendesk, Gorgias and Twilio."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from sqlalchemy.ext.asyncio import AsyncSession

from frontdesk import credentials as stored
from frontdesk.channels.sms.sending import SMS_TARGET
from frontdesk.config import Settings
from frontdesk.deps import get_session, get_settings
from frontdesk.handoff import service as handoff
from frontdesk.integrations import service
from frontdesk.integrations.schemas import (
    GorgiasConnectIn,
    IntegrationOut,
    Kind,
    ReplySecretIn,
    TwilioConnectIn,
    ZendeskConnectIn,
)
from frontdesk.outbox import service as outbox
from frontdesk.users.access import require_admin
from frontdesk.vault import Vault

router = APIRouter(prefix="/api/integrations", tags=["integrations"], dependencies=[Depends(require_admin)])
Session = Annotated[AsyncSession, Depends(get_session)]
AppSettings = Annotated[Settings, Depends(get_settings)]


def _vault(request: Request) -> Vault:
    return request.app.state.vault


AppVault = Annotated[Vault, Depends(_vault)]
# The outbox target each integration delivers: a helpdesk's own name, and "sms" for Twilio.
DELIVERY_TARGETS = {Kind.zendesk: Kind.zendesk.value, Kind.gorgias: Kind.gorgias.value, Kind.twilio: SMS_TARGET}


async def shown(session: AsyncSession, kind: Kind) -> IntegrationOut:
    """The integration as the API and the console show it, with its last delivery."""
    integration = service.view(kind, await stored.get(session, kind.value))
    integration.last_delivery_at = await outbox.last_delivered_at(session, DELIVERY_TARGETS[kind])
    return integration


async def _connect(
    form: ZendeskConnectIn | GorgiasConnectIn, session: AsyncSession, vault: Vault, settings: Settings
) -> IntegrationOut:
    try:
        row = await service.connect(session, form, vault, settings)
    except service.IntegrationError as exc:
        await session.rollback()
        raise HTTPException(exc.status, exc.message) from exc
    return service.view(Kind(row.kind), row)


@router.post("/zendesk", response_model=IntegrationOut, status_code=status.HTTP_201_CREATED)
async def connect_zendesk(
    form: ZendeskConnectIn, session: Session, vault: AppVault, settings: AppSettings
) -> IntegrationOut:
    """Check the API token with Zendesk, save it encrypted, and set up the webhook and trigger for agents' replies."""
    return await _connect(form, session, vault, settings)


@router.post("/gorgias", response_model=IntegrationOut, status_code=status.HTTP_201_CREATED)
async def connect_gorgias(
    form: GorgiasConnectIn, session: Session, vault: AppVault, settings: AppSettings
) -> IntegrationOut:
    """Check the API key with Gorgias, save it encrypted, and set up the HTTP integration for new messages."""
    return await _connect(form, session, vault, settings)


@router.post("/twilio", response_model=IntegrationOut, status_code=status.HTTP_201_CREATED)
async def connect_twilio(
    form: TwilioConnectIn, session: Session, vault: AppVault, settings: AppSettings
) -> IntegrationOut:
    """Check the account SID and auth token with Twilio and save them encrypted; texts go from `from_number` or
    through `messaging_service_sid`. Point the number's incoming-message webhook at /channels/sms/twilio."""
    try:
        row = await service.connect_twilio(session, form, vault, settings)
    except service.IntegrationError as exc:
        await session.rollback()
        raise HTTPException(exc.status, exc.message) from exc
    return service.view(Kind.twilio, row)


@router.get("", response_model=list[IntegrationOut])
async def list_integrations(session: Session) -> list[IntegrationOut]:
    return [await shown(session, kind) for kind in Kind]


@router.get("/{kind}", response_model=IntegrationOut)
async def get_integration(kind: Kind, session: Session) -> IntegrationOut:
    return await shown(session, kind)


@router.put("/{kind}/reply-secret", response_model=IntegrationOut)
async def put_reply_secret(kind: Kind, form: ReplySecretIn, session: Session, vault: AppVault) -> IntegrationOut:
    """For a reply path set up by hand (docs/helpdesks.md): the secret that verifies the helpdesk's requests."""
    try:
        row = await service.set_reply_secret(session, kind, form.secret.get_secret_value(), vault)
    except service.IntegrationError as exc:
        await session.rollback()
        raise HTTPException(exc.status, exc.message) from exc
    await session.commit()
    return service.view(kind, row)


@router.delete("/{kind}", status_code=status.HTTP_204_NO_CONTENT)
async def disconnect(kind: Kind, session: Session) -> Response:
    method = (await handoff.get_settings(session)).method
    try:
        await service.disconnect(session, kind, method)
    except service.IntegrationError as exc:
        await session.rollback()
        raise HTTPException(exc.status, exc.message) from exc
    await session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
