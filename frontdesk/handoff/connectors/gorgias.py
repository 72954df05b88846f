"""Gorgias behind the Connector interface: a web chat handoff becomes an email ticket (the team answers by email), an
SMS handoff an SMS ticket; an HTTP integration carrying our secret header sends new messages back."""

from __future__ import annotations

from typing import Any

import httpx

from frontdesk.handoff.connectors.base import (
    TIMEOUT,
    Account,
    HelpdeskHttp,
    NotFound,
    Rejected,
    ReplyPath,
    TicketRef,
    TicketRequest,
    Unavailable,
)
from frontdesk.outbox.delivery import RequestBudget

NAME = "gorgias"
SECRET_HEADER = "X-Frontdesk-Secret"
INTEGRATION_NAME = "frontdesk: ticket messages"


class GorgiasConnector:
    name = NAME

    def __init__(
        self,
        domain: str,
        email: str,
        api_key: str,
        url_template: str = "https://{domain}.gorgias.com",
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: httpx.Timeout = TIMEOUT,
    ) -> None:
        self.domain = domain
        self.email = email
        base = url_template.format(domain=domain).rstrip("/") + "/api/"
        self.http = HelpdeskHttp("Gorgias", base, httpx.BasicAuth(email, api_key), transport, timeout)

    async def verify(self) -> Account:
        data = await self.http.call("GET", "account") or {}
        name = str(data.get("name") or data.get("domain") or self.domain)
        return Account(name=name, email=self.email, id=str(data.get("id") or data.get("domain") or self.domain))

    async def create_ticket(
        self, request: TicketRequest, idempotency_key: str, *, search_first: bool = False
    ) -> TicketRef:
        # Gorgias takes no idempotency key, so the external_id lookup is the only guard against a second ticket:
        # done on every attempt, whatever `search_first` says (one GET per handoff).
        found = await self.find_ticket(request.conversation_id)
        if found is not None:
            return found
        customer_id = None if request.email else await self._customer_by_phone(request)
        data = await self.http.call("POST", "tickets", json_body=ticket_body(request, customer_id)) or {}
        if data.get("id") is None:
            raise Unavailable("Gorgias created no ticket id in its answer")
        return TicketRef(str(data["id"]), NAME)

    async def _customer_by_phone(self, request: TicketRequest) -> int:
        """A Gorgias customer for a shopper known only by phone (SMS): a ticket needs a customer with an email or
        an id, so one is made with the number as its phone channel (Gorgias's guide to SMS channels does this)."""
        if not request.phone:
            raise Rejected("Gorgias needs the shopper's email or phone number for a ticket")
        customer = {
            "name": request.name or request.phone,
            "channels": [{"type": "phone", "address": request.phone, "preferred": True}],
        }
        data = await self.http.call("POST", "customers", json_body=customer) or {}
        if not isinstance(data.get("id"), int):
            raise Unavailable("Gorgias created no customer id in its answer")
        return int(data["id"])

    async def find_ticket(self, conversation_id: str) -> TicketRef | None:
        data = await self.http.call("GET", "tickets", params={"external_id": conversation_id, "limit": "30"}) or {}
        for ticket in data.get("data") or []:
            # Filtered here too: a server that ignored the parameter would list every ticket.
            if str(ticket.get("external_id")) == conversation_id and ticket.get("id") is not None:
                return TicketRef(str(ticket["id"]), NAME)
        return None

    async def find_message(self, ticket_ref: TicketRef, text: str) -> str | None:
        """After an attempt whose outcome is unknown: is the shopper's message on the ticket already? Neither helpdesk
        takes an idempotency key for a comment, so the ticket is read instead (a shopper who wrote the very same text
        twice in a row would see it once: the lesser harm, next to a message sent twice on every timeout). The id of
        the comment or message that holds it ("" when the helpdesk gave it none), or None when it is not there."""
        data = await self.http.call("GET", f"tickets/{ticket_ref.id}") or {}
        found = [m for m in data.get("messages") or [] if not m.get("from_agent") and m.get("body_text") == text]
        return None if not found else "" if found[-1].get("id") is None else str(found[-1]["id"])

    async def add_message(self, ticket_ref: TicketRef, text: str, request: TicketRequest) -> str | None:
        # Gorgias may have merged our ticket into the customer's open one: look it up again before writing to it.
        ticket_id = ticket_ref.id
        try:
            ticket = await self.http.call("GET", f"tickets/{ticket_id}") or {}
        except NotFound:
            found = await self.find_ticket(request.conversation_id)
            if found is None:
                raise Rejected(f"Gorgias ticket {ticket_id} is gone and no ticket has this conversation") from None
            ticket_id = found.id
            ticket = await self.http.call("GET", f"tickets/{ticket_id}") or {}
        # The sender is the ticket's customer: for a shopper known only by phone, its id is all that names them.
        customer = ticket.get("customer") if isinstance(ticket.get("customer"), dict) else {}
        customer_id = None if request.email else customer.get("id")
        body = message_body(request, text, text, customer_id=customer_id if isinstance(customer_id, int) else None)
        data = await self.http.call("POST", f"tickets/{ticket_id}/messages", json_body=body)
        message_id = data.get("id") if isinstance(data, dict) else None
        return None if message_id is None else str(message_id)

    async def set_up_replies(self, webhook_url: str, secret: str) -> ReplyPath:
        """Gorgias signs nothing: the integration sends our generated secret in a header the relay compares."""
        integration = {
            "name": INTEGRATION_NAME,
            "type": "http",
            "http": {
                "url": webhook_url,
                "method": "POST",
                "request_content_type": "application/json",
                "response_content_type": "application/json",
                "headers": {SECRET_HEADER: secret},
                "form": "{{context}}",
                "triggers": {"ticket-message-created": True},
            },
        }
        data = await self.http.call("POST", "integrations", json_body=integration) or {}
        if data.get("id") is None:
            raise Unavailable("Gorgias created no integration id in its answer")
        return ReplyPath(True, secret, {"integration_id": str(data["id"])})

    async def aclose(self) -> None:
        await self.http.aclose()


def request_budget(rate_per_20s: int, in_flight: int) -> RequestBudget:
    """Gorgias's leaky bucket drains its calls in 20 s: a burst under the bucket (leaving room for the `in_flight`
    further requests of deliveries under way) and a refill under the drain rate can never overflow it."""
    burst = max(1, min(rate_per_20s // 2, rate_per_20s - in_flight))
    return RequestBudget(burst, 0.95 * rate_per_20s / 20)


def _channel(request: TicketRequest) -> str:
    # Web chat goes in as email: the team's replies reach the shopper through the store's Gorgias email integration.
    return "sms" if request.channel == "sms" else "email"


def _contact(request: TicketRequest) -> dict[str, str]:
    contact: dict[str, str] = {}
    if request.email:
        contact["email"] = request.email
    if request.name:
        contact["name"] = request.name
    elif not request.email and request.phone:
        contact["name"] = request.phone
    return contact


def message_body(
    request: TicketRequest, text: str, html: str, subject: str | None = None, customer_id: int | None = None
) -> dict[str, Any]:
    channel = _channel(request)
    sender_address = request.email if channel == "email" else request.phone
    message: dict[str, Any] = {
        "channel": channel,
        "via": "api",
        "from_agent": False,
        "sender": {"id": customer_id} if customer_id is not None else _contact(request),
        "body_text": text,
        "body_html": html,
    }
    if sender_address:
        message["source"] = {"type": channel, "from": {"address": sender_address}}
    if subject:
        message["subject"] = subject
    return message


def ticket_body(request: TicketRequest, customer_id: int | None = None) -> dict[str, Any]:
    """The ticket; `customer_id` names a customer made beforehand (a shopper known only by phone)."""
    tags = list(dict.fromkeys([*request.tags, request.channel]))
    return {
        "customer": {"id": customer_id} if customer_id is not None else _contact(request),
        "channel": _channel(request),
        "via": "api",
        "from_agent": False,
        "external_id": request.conversation_id,
        "subject": request.subject,
        "tags": [{"name": tag} for tag in tags],
        "messages": [message_body(request, request.text, request.html, request.subject, customer_id)],
    }
