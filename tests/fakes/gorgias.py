"""A fake Gorgias REST API on 127.0.0.1, written from /work/shared/contracts/gorgias.md.

It serves ``/api/...`` for every account domain (``url_template`` has no ``{domain}``), checks HTTP Basic
``email:api_key``, validates ticket and message payloads (400 with an ``error``), limits calls with Gorgias's leaky
bucket (40 per 20 s by default; header ``X-Gorgias-Account-Api-Call-Limit: 10/40``, 429 with ``Retry-after``), and
fails on demand (see ``_http``). Ticket look-up by ``GET /api/tickets?external_id=`` follows Gorgias's list-tickets
filter; ``merge_ticket`` plays Gorgias folding an API ticket into the customer's open one.

Replies come back through ``send_agent_message``, which POSTs to the registered HTTP integration's URL, with its
custom headers, the JSON its ``{{context}}`` body is taken to render::

    {"event": {"type": "ticket-message-created"},
     "ticket": {"id": 7, "external_id": "conv_8f2c", "channel": "sms", "customer": {"id": 3, "email": "…"}},
     "message": {"id": 41, "ticket_id": 7, "channel": "sms", "via": "helpdesk", "from_agent": true, "public": true,
                 "sender": {"id": 1, "email": "agent@juniper.example"}, "body_text": "…", "body_html": "<p>…</p>",
                 "created_datetime": "2026-01-02T10:01:03.000000"}}

Not confirmed in Gorgias's documentation, so chosen here: errors answer ``{"error": {"msg": "...", "data":
{field: [...]}}}``; ``GET /api/account`` answers the account's domain. Header names travel in lower case.
"""

from __future__ import annotations

import copy
import html
import json
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from tests.fakes._http import Clock, Counter, FakeHttpServer, FaultRates, LeakyBucket, basic_credentials

Errors = dict[str, list[str]]
MAX_MESSAGES = 500


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")


def _error(msg: str, data: Errors | None = None, status: int = 400) -> JSONResponse:
    body: dict[str, Any] = {"msg": msg}
    if data:
        body["data"] = data
    return JSONResponse({"error": body}, status_code=status)


@dataclass
class GorgiasMessage:
    id: int
    ticket_id: int
    channel: str
    via: str
    from_agent: bool
    sender: dict[str, Any]
    body_text: str | None
    body_html: str | None
    subject: str | None
    source: dict[str, Any] | None
    created_datetime: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "ticket_id": self.ticket_id,
            "channel": self.channel,
            "via": self.via,
            "from_agent": self.from_agent,
            "public": True,
            "sender": dict(self.sender),
            "subject": self.subject,
            "body_text": self.body_text,
            "body_html": self.body_html,
            "source": self.source,
            "created_datetime": self.created_datetime,
        }


@dataclass
class GorgiasTicket:
    id: int
    external_id: str | None
    customer: dict[str, Any]
    channel: str
    via: str
    subject: str | None
    tags: list[str]
    created_datetime: str
    status: str = "open"
    messages: list[GorgiasMessage] = field(default_factory=list)
    submitted: dict[str, Any] = field(default_factory=dict)  # the ticket as the client sent it

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "uri": f"/api/tickets/{self.id}/",
            "external_id": self.external_id,
            "customer": dict(self.customer),
            "channel": self.channel,
            "via": self.via,
            "subject": self.subject,
            "status": self.status,
            "tags": [{"name": name} for name in self.tags],
            "messages": [m.to_json() for m in self.messages],
            "messages_count": len(self.messages),
            "created_datetime": self.created_datetime,
        }


@dataclass
class GorgiasIntegration:
    id: int
    name: str
    url: str
    method: str
    headers: dict[str, str]
    triggers: dict[str, bool]
    form: Any
    created_datetime: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "type": "http",
            "http": {
                "url": self.url,
                "method": self.method,
                "headers": dict(self.headers),
                "form": self.form,
                "request_content_type": "application/json",
                "response_content_type": "application/json",
                "triggers": dict(self.triggers),
            },
            "created_datetime": self.created_datetime,
        }


class _Rejected(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


async def _json_body(request: Request) -> Any:
    try:
        return json.loads(await request.body())
    except ValueError as exc:
        raise _Rejected(_error(f"Invalid JSON: {exc}")) from exc


def _message_errors(message: Any, prefix: str) -> Errors:
    if not isinstance(message, dict):
        return {prefix: ["Must be an object."]}
    errors: Errors = {}
    for name in ("channel", "via"):
        if not isinstance(message.get(name), str) or not message[name]:
            errors[f"{prefix}.{name}"] = ["Missing data for required field."]
    if not isinstance(message.get("from_agent"), bool):
        errors[f"{prefix}.from_agent"] = ["Missing data for required field."]
    sender = message.get("sender")
    if not (isinstance(sender, dict) and (isinstance(sender.get("email"), str) or isinstance(sender.get("id"), int))):
        errors[f"{prefix}.sender"] = ["Missing data for required field: give an email or an id."]
    texts = [message.get("body_text"), message.get("body_html")]
    if not any(isinstance(t, str) and t.strip() for t in texts):
        errors[f"{prefix}.body_text"] = ["A message needs body_text or body_html."]
    if message.get("source") is not None and not isinstance(message["source"], dict):
        errors[f"{prefix}.source"] = ["Must be an object."]
    return errors


class GorgiasFake(FakeHttpServer):
    """Tickets, messages and HTTP integrations in memory; read them from tests with the snapshot accessors."""

    def __init__(
        self,
        *,
        domain: str = "juniper",
        email: str = "agent@juniper.example",
        api_key: str = "gg-test-key",
        bucket_capacity: int | None = 40,
        bucket_window: float = 20.0,
        port: int | None = None,
        faults: FaultRates | None = None,
        seed: int = 0,
        timeout_hold: float = 30.0,
        slow_delay: float = 2.0,
        clock: Clock = time.monotonic,
    ) -> None:
        self.domain = domain
        self.email = email
        self.api_key = api_key
        self._bucket = LeakyBucket(bucket_capacity, bucket_window) if bucket_capacity is not None else None
        self._ticket_ids = Counter(1)
        self._message_ids = Counter(1001)
        self._customer_ids = Counter(2)
        self._integration_ids = Counter(501)
        self.agent = {"id": 1, "email": email, "name": "Juniper Agent"}
        self._customers: dict[str, dict[str, Any]] = {}  # by lower-cased email
        self._customers_by_id: dict[int, dict[str, Any]] = {}
        self._tickets: dict[int, GorgiasTicket] = {}
        self._integrations: dict[int, GorgiasIntegration] = {}
        super().__init__(
            port=port, faults=faults, seed=seed, timeout_hold=timeout_hold, slow_delay=slow_delay, clock=clock
        )

    # -- what tests read

    @property
    def tickets(self) -> list[GorgiasTicket]:
        with self._lock:
            return copy.deepcopy(sorted(self._tickets.values(), key=lambda t: t.id))

    @property
    def ticket_count(self) -> int:
        with self._lock:
            return len(self._tickets)

    def ticket(self, ticket_id: int) -> GorgiasTicket:
        with self._lock:
            return copy.deepcopy(self._tickets[ticket_id])

    def tickets_with_external_id(self, external_id: str) -> list[GorgiasTicket]:
        with self._lock:
            found = [t for t in self._tickets.values() if t.external_id == external_id]
            return copy.deepcopy(sorted(found, key=lambda t: t.id))

    def ticket_by_external_id(self, external_id: str) -> GorgiasTicket | None:
        """The one ticket for ``external_id``; a duplicate is a failed test, since Gorgias would keep both."""
        found = self.tickets_with_external_id(external_id)
        assert len(found) <= 1, f"{len(found)} tickets with external_id {external_id!r}: {[t.id for t in found]}"
        return found[0] if found else None

    @property
    def integrations(self) -> list[GorgiasIntegration]:
        with self._lock:
            return copy.deepcopy(list(self._integrations.values()))

    def merge_ticket(self, ticket_id: int, into_ticket_id: int) -> None:
        """Gorgias folds a ticket into the customer's open one: its messages move and its id answers 404."""
        with self._lock:
            merged = self._tickets.pop(ticket_id)
            target = self._tickets[into_ticket_id]
            for message in merged.messages:
                message.ticket_id = target.id
                target.messages.append(message)

    # -- replies back to frontdesk

    def agent_message_request(
        self, ticket_id: int, body: str, integration_headers: dict[str, str] | None = None
    ) -> tuple[str, str, dict[str, str], bytes]:
        """(method, url, headers, body) of the call an agent's message causes; the message is added to the ticket."""
        with self._lock:
            ticket = self._tickets[ticket_id]
            integration = next(
                (i for i in reversed(self._integrations.values()) if i.triggers.get("ticket-message-created")), None
            )
            if integration is None:
                raise LookupError("no HTTP integration with the ticket-message-created trigger is registered")
            message = GorgiasMessage(
                id=self._message_ids.take(),
                ticket_id=ticket.id,
                channel=ticket.channel,
                via="helpdesk",
                from_agent=True,
                sender={"id": self.agent["id"], "email": self.agent["email"]},
                body_text=body,
                body_html=f"<p>{html.escape(body)}</p>",
                subject=None,
                source=None,
                created_datetime=_now_iso(),
            )
            ticket.messages.append(message)
            context = {
                "event": {"type": "ticket-message-created"},
                "ticket": {
                    "id": ticket.id,
                    "external_id": ticket.external_id,
                    "channel": ticket.channel,
                    "customer": dict(ticket.customer),
                },
                "message": message.to_json(),
            }
            headers = {"Content-Type": "application/json"}
            headers |= integration.headers if integration_headers is None else integration_headers
            return integration.method, integration.url, headers, json.dumps(context).encode()

    def send_agent_message(
        self, ticket_id: int, body: str, integration_headers: dict[str, str] | None = None
    ) -> httpx.Response:
        """An agent answers on the ticket and Gorgias calls the HTTP integration; returns frontdesk's answer.

        ``integration_headers`` replaces the registered custom headers (to send a wrong secret, say)."""
        method, url, headers, raw = self.agent_message_request(ticket_id, body, integration_headers)
        with httpx.Client(timeout=10) as client:
            return client.request(method, url, headers=headers, content=raw)

    async def asend_agent_message(
        self, ticket_id: int, body: str, integration_headers: dict[str, str] | None = None
    ) -> httpx.Response:
        """``send_agent_message`` for asyncio tests, which must not block their event loop."""
        method, url, headers, raw = self.agent_message_request(ticket_id, body, integration_headers)
        async with httpx.AsyncClient(timeout=10) as client:
            return await client.request(method, url, headers=headers, content=raw)

    # -- the API

    def build_app(self) -> ASGIApp:
        routes = [
            Route("/api/account", self._api(self._account), methods=["GET"]),
            Route("/api/customers", self._api(self._create_customer), methods=["POST"]),
            Route("/api/tickets", self._api(self._create_ticket), methods=["POST"]),
            Route("/api/tickets", self._api(self._list_tickets), methods=["GET"]),
            Route("/api/tickets/{ticket_id:int}", self._api(self._show_ticket), methods=["GET"]),
            Route("/api/tickets/{ticket_id:int}/messages", self._api(self._add_message), methods=["POST"]),
            Route("/api/integrations", self._api(self._create_integration), methods=["POST"]),
        ]
        return Starlette(routes=routes)

    def server_error_response(self) -> Response:
        return _error("Internal server error", status=500)

    def rate_limited_response(self, retry_after: int) -> Response:
        response = _error("Too many requests", status=429)
        response.headers["Retry-after"] = str(retry_after)
        if self._bucket is not None:
            response.headers["X-Gorgias-Account-Api-Call-Limit"] = f"{self._bucket.capacity}/{self._bucket.capacity}"
        return response

    def _api(self, handler: Any) -> Any:
        async def endpoint(request: Request) -> Response:
            if basic_credentials(request) != (self.email, self.api_key):
                return _error("Unauthorized: check the account email and the API key", status=401)
            headers: dict[str, str] = {}
            if self._bucket is not None:
                with self._lock:
                    allowed, level, retry_after = self._bucket.take(self.clock())
                if not allowed:
                    return self.rate_limited_response(retry_after)
                headers["X-Gorgias-Account-Api-Call-Limit"] = f"{level}/{self._bucket.capacity}"
            try:
                response: Response = await handler(request)
            except _Rejected as rejected:
                response = rejected.response
            response.headers.update(headers)
            return response

        return endpoint

    async def _account(self, request: Request) -> Response:
        return JSONResponse({"domain": self.domain, "status": {"status": "active"}, "created_datetime": _now_iso()})

    async def _create_ticket(self, request: Request) -> Response:
        payload = await _json_body(request)
        if not isinstance(payload, dict):
            return _error("Invalid ticket", {"ticket": ["Must be an object."]})
        errors: Errors = {}
        customer = payload.get("customer")
        if isinstance(customer, dict) and isinstance(customer.get("id"), int):
            if customer["id"] not in self._customers_by_id:
                errors["customer.id"] = [f"No customer with the id {customer['id']}."]
        elif not (isinstance(customer, dict) and isinstance(customer.get("email"), str) and "@" in customer["email"]):
            errors["customer.email"] = ["Missing data for required field."]
        messages = payload.get("messages")
        if not isinstance(messages, list) or not 1 <= len(messages) <= MAX_MESSAGES:
            errors["messages"] = [f"A ticket needs 1 to {MAX_MESSAGES} messages."]
        else:
            for index, message in enumerate(messages):
                errors |= _message_errors(message, f"messages.{index}")
        for name in ("external_id", "subject", "channel", "via"):
            if payload.get(name) is not None and not isinstance(payload[name], str):
                errors[name] = ["Not a valid string."]
        tags = payload.get("tags")
        if tags is not None and not (
            isinstance(tags, list) and all(isinstance(t, dict) and isinstance(t.get("name"), str) for t in tags)
        ):
            errors["tags"] = ["Each tag needs a name."]
        if errors:
            return _error("Failed to create the ticket: invalid data", errors)
        assert isinstance(customer, dict) and isinstance(messages, list)
        with self._lock:
            ticket = GorgiasTicket(
                id=self._ticket_ids.take(),
                external_id=payload.get("external_id"),
                customer=self._customer_for(customer),
                channel=payload.get("channel") or messages[0]["channel"],
                via=payload.get("via") or "api",
                subject=payload.get("subject"),
                tags=[t["name"] for t in tags or []],
                created_datetime=_now_iso(),
                submitted=copy.deepcopy(payload),
            )
            ticket.messages.extend(self._message(ticket.id, m) for m in messages)
            self._tickets[ticket.id] = ticket
            return JSONResponse(ticket.to_json(), status_code=201)

    def _customer_for(self, customer: dict[str, Any]) -> dict[str, Any]:
        if isinstance(customer.get("id"), int):
            return dict(self._customers_by_id[customer["id"]])
        email = customer["email"].lower()
        known = self._customers.get(email)
        if known is None:
            known = {"id": self._customer_ids.take(), "email": customer["email"], "name": customer.get("name")}
            self._customers[email] = known
            self._customers_by_id[known["id"]] = known
        return dict(known)

    async def _create_customer(self, request: Request) -> Response:
        """A customer known by email or by a channel (a phone number for SMS), as a ticket of theirs needs one."""
        payload = await _json_body(request)
        if not isinstance(payload, dict):
            return _error("Invalid customer", {"customer": ["Must be an object."]})
        errors: Errors = {}
        email = payload.get("email")
        if email is not None and not (isinstance(email, str) and "@" in email):
            errors["email"] = ["Not a valid email address."]
        channels = payload.get("channels", [])
        if not isinstance(channels, list) or not all(
            isinstance(c, dict) and c.get("type") in ("email", "phone") and isinstance(c.get("address"), str)
            and c["address"] for c in channels
        ):  # fmt: skip
            errors["channels"] = ["Each channel needs a type (email or phone) and an address."]
        if not email and not channels:
            errors["email"] = ["A customer needs an email or a channel."]
        if errors:
            return _error("Failed to create the customer: invalid data", errors)
        with self._lock:
            if email and email.lower() in self._customers:
                return _error("A customer with this email already exists", status=409)
            customer = {"id": self._customer_ids.take(), "email": email, "name": payload.get("name"),
                        "channels": copy.deepcopy(channels)}  # fmt: skip
            self._customers_by_id[customer["id"]] = customer
            if email:
                self._customers[email.lower()] = customer
            return JSONResponse(dict(customer), status_code=201)

    def customer(self, customer_id: int) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._customers_by_id[customer_id])

    def _message(self, ticket_id: int, message: dict[str, Any]) -> GorgiasMessage:
        body_html = message.get("body_html")
        body_text = message.get("body_text")
        if body_text is None and body_html is not None:
            body_text = html.unescape(re.sub(r"<[^>]+>", "", body_html)).strip()
        return GorgiasMessage(
            id=self._message_ids.take(),
            ticket_id=ticket_id,
            channel=message["channel"],
            via=message["via"],
            from_agent=message["from_agent"],
            sender=dict(message["sender"]),
            body_text=body_text,
            body_html=body_html,
            subject=message.get("subject"),
            source=copy.deepcopy(message.get("source")),
            created_datetime=_now_iso(),
        )

    async def _list_tickets(self, request: Request) -> Response:
        external_id = request.query_params.get("external_id")
        customer_id = request.query_params.get("customer_id")
        try:
            limit = min(100, max(1, int(request.query_params.get("limit", "30"))))
        except ValueError:
            return _error("Invalid query", {"limit": ["Not a valid integer."]})
        with self._lock:
            found = [
                t.to_json()
                for t in sorted(self._tickets.values(), key=lambda t: t.id, reverse=True)
                if (external_id is None or t.external_id == external_id)
                and (customer_id is None or str(t.customer["id"]) == customer_id)
            ][:limit]
        uri = f"/api/tickets?{request.url.query}" if request.url.query else "/api/tickets"
        return JSONResponse(
            {"object": "list", "uri": uri, "data": found, "meta": {"prev_cursor": None, "next_cursor": None}}
        )

    async def _show_ticket(self, request: Request) -> Response:
        with self._lock:
            ticket = self._tickets.get(request.path_params["ticket_id"])
            if ticket is None:
                return _error("Resource not found", status=404)
            return JSONResponse(ticket.to_json())

    async def _add_message(self, request: Request) -> Response:
        payload = await _json_body(request)
        errors = _message_errors(payload, "message")
        with self._lock:
            ticket = self._tickets.get(request.path_params["ticket_id"])
            if ticket is None:
                return _error("Resource not found", status=404)
            if errors:
                return _error("Failed to create the message: invalid data", errors)
            message = self._message(ticket.id, payload)
            ticket.messages.append(message)
            return JSONResponse(message.to_json(), status_code=201)

    async def _create_integration(self, request: Request) -> Response:
        payload = await _json_body(request)
        errors: Errors = {}
        if not isinstance(payload, dict):
            return _error("Invalid integration", {"integration": ["Must be an object."]})
        if payload.get("type") != "http":
            errors["type"] = ["Only 'http' integrations can be created here."]
        if not isinstance(payload.get("name"), str) or not payload["name"].strip():
            errors["name"] = ["Missing data for required field."]
        http = payload.get("http")
        if not isinstance(http, dict):
            errors["http"] = ["Missing data for required field."]
        else:
            if not isinstance(http.get("url"), str) or not re.match(r"https?://[^\s/]+", http["url"]):
                errors["http.url"] = ["Not a valid URL."]
            if http.get("method", "GET") not in ("GET", "POST", "PUT", "PATCH", "DELETE"):
                errors["http.method"] = ["Not a valid HTTP method."]
            headers = http.get("headers", {})
            if not (isinstance(headers, dict) and all(isinstance(v, str) for v in headers.values())):
                errors["http.headers"] = ["Headers must map names to text."]
            triggers = http.get("triggers")
            if not (isinstance(triggers, dict) and any(triggers.values())):
                errors["http.triggers"] = ["Turn on at least one trigger."]
        if errors:
            return _error("Failed to create the integration: invalid data", errors)
        assert isinstance(http, dict)
        with self._lock:
            integration = GorgiasIntegration(
                id=self._integration_ids.take(),
                name=payload["name"],
                url=http["url"],
                method=http.get("method", "GET"),
                headers=dict(http.get("headers", {})),
                triggers={k: bool(v) for k, v in http["triggers"].items()},
                form=copy.deepcopy(http.get("form")),
                created_datetime=_now_iso(),
            )
            self._integrations[integration.id] = integration
            return JSONResponse(integration.to_json(), status_code=201)
