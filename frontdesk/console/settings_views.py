"""The console's settings pages (handoff, widget) and its integrations page. The pages show the saved state; their
scripts change it through the admin API (/api/settings/handoff, /api/settings/widget, /api/integrations, /api/outbox).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from zoneinfo import available_timezones

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse
from sqlalchemy.ext.asyncio import AsyncSession

from frontdesk.channels.webchat import service as webchat
from frontdesk.channels.webchat.views import widget_out
from frontdesk.config import Settings
from frontdesk.console.pages import console_page
from frontdesk.deps import get_session, get_settings
from frontdesk.handoff import service as handoff
from frontdesk.handoff.office_hours import WEEKDAYS
from frontdesk.handoff.schemas import HandoffSettingsOut
from frontdesk.integrations import service as integrations
from frontdesk.integrations.schemas import HELPDESKS, Kind
from frontdesk.integrations.views import DELIVERY_TARGETS, shown
from frontdesk.outbox import service as outbox
from frontdesk.outbox.schemas import OutboxItemOut

pages = APIRouter(prefix="/console", include_in_schema=False)
Session = Annotated[AsyncSession, Depends(get_session)]
AppSettings = Annotated[Settings, Depends(get_settings)]
DAY_NAMES = dict(
    zip(WEEKDAYS, ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"), strict=True)
)
# The time zones an admin may pick: the canonical Area/City names (not the legacy aliases such as "US/Pacific").
TIMEZONES = sorted(
    name for name in available_timezones() if "/" in name and not name.startswith(("Etc/", "SystemV/", "US/"))
)


@dataclass(frozen=True)
class ConnectField:
    """One field of a connection form; `name` is the API's."""

    name: str
    label: str
    hint: str
    type: str = "text"
    required: bool = True
    placeholder: str = ""


CONNECT_FIELDS = {
    Kind.zendesk.value: [
        ConnectField("subdomain", "Zendesk subdomain", "The part before .zendesk.com; the whole address works too.",
                     placeholder="juniper"),
        ConnectField("email", "Email", "The Zendesk agent or admin the token belongs to. An admin lets frontdesk set "
                     "up the way replies come back by itself.", type="email"),
        ConnectField("api_token", "API token", "Admin Center → Apps and integrations → APIs → Zendesk API. Stored "
                     "encrypted and never shown again.", type="password"),
    ],
    Kind.gorgias.value: [
        ConnectField("domain", "Gorgias domain", "The part before .gorgias.com, as in your REST API base URL.",
                     placeholder="juniper"),
        ConnectField("email", "Email", "The Gorgias user the API key belongs to (an admin, to create the HTTP "
                     "integration).", type="email"),
        ConnectField("api_key", "API key", "Settings → REST API. Stored encrypted and never shown again.",
                     type="password"),
    ],
    Kind.twilio.value: [
        ConnectField("account_sid", "Account SID", "AC followed by 32 characters, on the Twilio console's account "
                     "page.", placeholder="AC…"),
        ConnectField("auth_token", "Auth token", "Stored encrypted and never shown again.", type="password"),
        ConnectField("from_number", "Send from phone number", "Your Twilio number, e.g. +14155550123. Give this or a "
                     "Messaging Service SID.", type="tel", required=False),
        ConnectField("messaging_service_sid", "Or Messaging Service SID", "MG followed by 32 characters.",
                     required=False, placeholder="MG…"),
    ],
}  # fmt: skip


@pages.get("/settings/handoff", response_class=HTMLResponse)
async def handoff_page(request: Request, session: Session, settings: AppSettings) -> Response:
    saved = HandoffSettingsOut.model_validate(await handoff.get_settings(session))
    helpdesks = {kind.value: await shown(session, kind) for kind in HELPDESKS}
    await session.commit()
    timezones = TIMEZONES if saved.timezone in TIMEZONES else sorted([*TIMEZONES, saved.timezone])
    state: dict[str, Any] = {
        "method": saved.method.value,
        "integrations": {kind: integration.model_dump(mode="json") for kind, integration in helpdesks.items()},
    }
    return console_page(
        request,
        "console/settings_handoff.html",
        "Handoff",
        {
            "saved": saved,
            "helpdesks": helpdesks,
            "state": state,
            "days": DAY_NAMES,
            "timezones": ["UTC", *timezones],
            "webhooks": _webhooks(settings),
            "connect_fields": CONNECT_FIELDS,
        },
    )


@pages.get("/settings/widget", response_class=HTMLResponse)
async def widget_page(request: Request, session: Session, settings: AppSettings) -> Response:
    widget = widget_out(await webchat.get_settings(session))
    await session.commit()
    return console_page(
        request,
        "console/settings_widget.html",
        "Widget",
        {"widget": widget, "widget_url": f"{settings.public_url.rstrip('/')}/widget.js"},
    )


@pages.get("/integrations", response_class=HTMLResponse)
async def integrations_page(request: Request, session: Session, settings: AppSettings) -> Response:
    cards = []
    for kind in Kind:
        dead = await outbox.rows(session, "dead", target=DELIVERY_TARGETS[kind])
        cards.append({
            "kind": kind.value,
            "title": integrations.TITLES[kind],
            "integration": await shown(session, kind),
            "dead": [OutboxItemOut.model_validate(row) for row in dead],
        })  # fmt: skip
    method = (await handoff.get_settings(session)).method
    await session.commit()
    return console_page(
        request,
        "console/integrations.html",
        "Integrations",
        {
            "cards": cards,
            "method": method,
            "webhooks": _webhooks(settings),
            "connect_fields": CONNECT_FIELDS,
            "email": {
                "configured": bool(settings.smtp_host),
                "host": settings.smtp_host,
                "port": settings.smtp_port,
                "sender": settings.mail_from,
            },
        },
    )


def _webhooks(settings: Settings) -> dict[str, str]:
    """Where each helpdesk sends agents' replies: what the manual steps of a reply path need."""
    return {kind.value: integrations.webhook_url(kind, settings) for kind in HELPDESKS}
