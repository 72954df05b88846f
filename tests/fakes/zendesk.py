"""A fake Zendesk Support API on 127.0.0.1, written from /work/shared/contracts/zendesk.md.

It serves ``/api/v2/...`` for every subdomain (``url_template`` has no ``{subdomain}``), checks API-token auth
(Basic ``{email}/token:{api_token}``), validates ticket payloads (422 ``RecordInvalid`` naming the field), honours
``Idempotency-Key`` on ticket creation, limits requests per clock minute, and fails on demand (see ``_http``). End
users are made by an inline ``requester`` (matched by email) or by ``POST /api/v2/users/create_or_update.json``
(matched by ``external_id``, then email; 201 when created, 200 when updated), which is how a shopper known only by
phone becomes a ticket's ``requester_id``.

A ticket update (``PUT /api/v2/tickets/{id}.json``) answers ``{"ticket": ..., "audit": {"events": [...]}}`` as
Zendesk does: the audit's ``Comment`` event carries the new comment's ``id``, its ``author_id`` and its ``via``
channel (``api`` for comments made through the API, ``web`` for an agent's in Zendesk).

Agent replies come back to frontdesk through ``send_agent_reply``, which POSTs to the registered webhook the JSON a
trigger notification is expected to render (frontdesk's trigger template must produce this shape)::

    {"ticket": {"id": 123, "external_id": "conv_8f2c"},
     "comment": {"id": 10001, "body": "It ships today.", "is_public": true,
                 "author": {"id": 1, "name": "Juniper Agent", "role": "agent"}}}

signed like Zendesk signs webhooks: ``X-Zendesk-Webhook-Signature`` = base64(HMAC-SHA256(signing secret,
timestamp + raw body)), no separator, the secret's text used as the key; ``X-Zendesk-Webhook-Signature-Timestamp``
= ``2026-01-02T10:01:03Z``. Delivering the same comment again (``comment_id=``) repeats its comment id, as
Zendesk's retried deliveries do; with the id of a comment frontdesk added itself it is what the trigger sends when
frontdesk's own update fires it (the token's user is an agent, so "updater is agent" holds).

Not confirmed in Zendesk's documentation, so chosen here: a reused idempotency key with a different body answers
``idempotency_conflict_status`` (409 unless told otherwise) with ``{"error": "IdempotentRequestError", ...}``; keys
live ``idempotency_ttl`` seconds (2 h); webhook payload errors answer 400 ``{"errors": [{"code", "title", "detail",
"source": {"pointer"}}]}``; a ticket must name a requester (frontdesk always does); a user's phone must be E.164.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import html
import json
import re
import secrets
import shlex
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from tests.fakes._http import Clock, Counter, FakeHttpServer, FaultRates, FixedWindowLimit, basic_credentials

Details = dict[str, list[dict[str, str]]]


def webhook_signature(secret: str, timestamp: str, body: bytes) -> str:
    """Zendesk's webhook signature: base64(HMAC-SHA256(secret, timestamp + body))."""
    digest = hmac.new(secret.encode(), timestamp.encode() + body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class ZendeskUser:
    id: int
    name: str
    email: str | None
    role: str  # "end-user", "agent" or "admin"
    phone: str | None = None
    external_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "email": self.email,
            "phone": self.phone,
            "external_id": self.external_id,
            "role": self.role,
        }


@dataclass
class ZendeskComment:
    id: int
    author_id: int
    body: str
    html_body: str | None
    public: bool
    created_at: str
    via: str = "web"  # the channel it came by: "web" (an agent in Zendesk), "api" (frontdesk's requests)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": "Comment",
            "author_id": self.author_id,
            "body": self.body,
            "html_body": self.html_body if self.html_body is not None else f"<p>{html.escape(self.body)}</p>",
            "plain_body": self.body,
            "public": self.public,
            "via": {"channel": self.via, "source": {"from": {}, "to": {}, "rel": None}},
            "created_at": self.created_at,
        }


@dataclass
class ZendeskTicket:
    id: int
    external_id: str | None
    subject: str | None
    requester_id: int
    tags: list[str]
    custom_fields: list[dict[str, Any]]
    created_at: str
    created_clock: float  # on the fake's clock, for the search index lag
    status: str = "new"
    comments: list[ZendeskComment] = field(default_factory=list)
    submitted: dict[str, Any] = field(default_factory=dict)  # the "ticket" object as the client sent it

    def to_json(self, base_url: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "url": f"{base_url}/api/v2/tickets/{self.id}.json",
            "external_id": self.external_id,
            "subject": self.subject,
            "raw_subject": self.subject,
            "description": self.comments[0].body if self.comments else "",
            "status": self.status,
            "requester_id": self.requester_id,
            "tags": list(self.tags),
            "custom_fields": list(self.custom_fields),
            "created_at": self.created_at,
            "updated_at": self.comments[-1].created_at if self.comments else self.created_at,
        }


@dataclass
class ZendeskWebhook:
    id: str
    name: str
    endpoint: str
    http_method: str
    request_format: str
    status: str
    subscriptions: list[str]
    signing_secret: str
    created_at: str
    submitted: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "endpoint": self.endpoint,
            "http_method": self.http_method,
            "request_format": self.request_format,
            "status": self.status,
            "subscriptions": list(self.subscriptions),
            "created_at": self.created_at,
        }


@dataclass
class ZendeskTrigger:
    id: int
    title: str
    conditions: dict[str, Any]
    actions: list[dict[str, Any]]
    active: bool
    created_at: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "active": self.active,
            "conditions": self.conditions,
            "actions": self.actions,
            "created_at": self.created_at,
        }


@dataclass
class AgentReply:
    """One delivery of an agent's comment to frontdesk, as sent."""

    url: str
    headers: dict[str, str]
    body: bytes
    comment_id: int


@dataclass
class _Replay:
    fingerprint: str
    status: int
    body: bytes
    at: float


class _Rejected(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


def _error(description: str, kind: str = "InvalidValue") -> dict[str, str]:
    return {"description": description, "error": kind}


def _record_invalid(details: Details) -> JSONResponse:
    body = {"error": "RecordInvalid", "description": "Record validation errors", "details": details}
    return JSONResponse(body, status_code=422)


def _not_found() -> JSONResponse:
    return JSONResponse({"error": "RecordNotFound", "description": "Not found"}, status_code=404)


def _plain_text(html_body: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", html_body)).strip()


async def _json_body(request: Request) -> Any:
    try:
        return json.loads(await request.body())
    except ValueError as exc:
        raise _Rejected(PlainTextResponse(f"Bad Request: the body is not JSON ({exc})", status_code=400)) from exc


class ZendeskFake(FakeHttpServer):
    """Tickets, comments, users, webhooks and triggers in memory; read them from tests with the snapshot accessors."""

    def __init__(
        self,
        *,
        subdomain: str = "juniper",
        email: str = "agent@juniper.example",
        api_token: str = "zd-test-token",
        oauth_token: str | None = None,
        rate_per_minute: int | None = 200,
        anonymous_on_bad_credentials: bool = False,
        idempotency_conflict_status: int = 409,
        idempotency_ttl: float = 2 * 3600,
        max_comments: int = 5000,
        search_lag: float = 0.0,
        port: int | None = None,
        faults: FaultRates | None = None,
        seed: int = 0,
        timeout_hold: float = 30.0,
        slow_delay: float = 2.0,
        clock: Clock = time.monotonic,
    ) -> None:
        self.subdomain = subdomain
        self.email = email
        self.api_token = api_token
        self.oauth_token = oauth_token
        self.rate_per_minute = rate_per_minute
        # Contract: an anonymous user (id null) from users/me means refused credentials; some accounts answer 401.
        self.anonymous_on_bad_credentials = anonymous_on_bad_credentials
        self.idempotency_conflict_status = idempotency_conflict_status
        self.idempotency_ttl = idempotency_ttl
        self.max_comments = max_comments
        # Zendesk's search index trails writes; a client that searches right after creating must not rely on it.
        self.search_lag = search_lag
        self.account_id = 4242
        self.default_signing_secret = base64.b64encode(secrets.token_bytes(32)).decode()
        self._limit = FixedWindowLimit(rate_per_minute) if rate_per_minute is not None else None
        self._ticket_ids = Counter(1)
        self._comment_ids = Counter(10001)
        self._audit_ids = Counter(50001)
        self._user_ids = Counter(2)
        self._trigger_ids = Counter(360000001)
        self.agent = ZendeskUser(1, "Juniper Agent", email, "admin")
        self._users: dict[int, ZendeskUser] = {self.agent.id: self.agent}
        self._users_by_email: dict[str, ZendeskUser] = {email.lower(): self.agent}
        self._users_by_external_id: dict[str, ZendeskUser] = {}
        self._tickets: dict[int, ZendeskTicket] = {}
        self._webhooks: dict[str, ZendeskWebhook] = {}
        self._triggers: dict[int, ZendeskTrigger] = {}
        self._idempotency: dict[str, _Replay] = {}
        self._deliveries: list[AgentReply] = []
        super().__init__(
            port=port, faults=faults, seed=seed, timeout_hold=timeout_hold, slow_delay=slow_delay, clock=clock
        )

    # -- what tests read

    @property
    def tickets(self) -> list[ZendeskTicket]:
        with self._lock:
            return copy.deepcopy(sorted(self._tickets.values(), key=lambda t: t.id))

    @property
    def ticket_count(self) -> int:
        with self._lock:
            return len(self._tickets)

    def ticket(self, ticket_id: int) -> ZendeskTicket:
        with self._lock:
            return copy.deepcopy(self._tickets[ticket_id])

    def tickets_with_external_id(self, external_id: str) -> list[ZendeskTicket]:
        with self._lock:
            found = [t for t in self._tickets.values() if t.external_id == external_id]
            return copy.deepcopy(sorted(found, key=lambda t: t.id))

    def ticket_by_external_id(self, external_id: str) -> ZendeskTicket | None:
        """The one ticket for ``external_id``; a duplicate is a failed test, since Zendesk would keep both."""
        found = self.tickets_with_external_id(external_id)
        assert len(found) <= 1, f"{len(found)} tickets with external_id {external_id!r}: {[t.id for t in found]}"
        return found[0] if found else None

    @property
    def users(self) -> list[ZendeskUser]:
        with self._lock:
            return copy.deepcopy(sorted(self._users.values(), key=lambda u: u.id))

    def user(self, user_id: int) -> ZendeskUser:
        with self._lock:
            return copy.deepcopy(self._users[user_id])

    def user_by_external_id(self, external_id: str) -> ZendeskUser | None:
        with self._lock:
            user = self._users_by_external_id.get(external_id)
            return copy.deepcopy(user) if user is not None else None

    @property
    def webhooks(self) -> list[ZendeskWebhook]:
        with self._lock:
            return copy.deepcopy(list(self._webhooks.values()))

    @property
    def triggers(self) -> list[ZendeskTrigger]:
        with self._lock:
            return copy.deepcopy(list(self._triggers.values()))

    @property
    def deliveries(self) -> list[AgentReply]:
        with self._lock:
            return list(self._deliveries)

    # -- agent replies back to frontdesk

    def agent_reply_request(
        self,
        ticket_id: int,
        body: str,
        public: bool = True,
        webhook_url: str | None = None,
        tamper: bool = False,
        timestamp: str | datetime | None = None,
        comment_id: int | None = None,
    ) -> tuple[str, str, dict[str, str], bytes]:
        """(method, url, headers, body) of the webhook call an agent's comment causes; the comment is added to the
        ticket, unless ``comment_id`` names one to deliver again."""
        with self._lock:
            ticket = self._tickets[ticket_id]
            if comment_id is None:
                comment = ZendeskComment(self._comment_ids.take(), self.agent.id, body, None, public, _now_iso())
                ticket.comments.append(comment)
            else:
                comment = next(c for c in ticket.comments if c.id == comment_id)
            webhook = next((w for w in reversed(self._webhooks.values()) if w.status == "active"), None)
            if webhook is None and webhook_url is None:
                raise LookupError("no active webhook is registered and no webhook_url was given")
            payload = {
                "ticket": {"id": ticket.id, "external_id": ticket.external_id},
                "comment": {
                    "id": comment.id,
                    "body": comment.body,
                    "is_public": comment.public,
                    "author": {"id": self.agent.id, "name": self.agent.name, "role": "agent"},
                },
            }
        secret = webhook.signing_secret if webhook is not None else self.default_signing_secret
        if timestamp is None:
            stamp = _now_iso()
        elif isinstance(timestamp, datetime):
            stamp = timestamp.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        else:
            stamp = timestamp
        raw = json.dumps(payload).encode()
        signature = webhook_signature(secret, stamp, raw)
        if tamper:
            payload["comment"]["body"] = f"{comment.body} (altered in transit)"  # type: ignore[index]
            raw = json.dumps(payload).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Zendesk-Account-Id": str(self.account_id),
            "X-Zendesk-Webhook-Id": webhook.id if webhook is not None else "unregistered",
            "X-Zendesk-Webhook-Invocation-Id": str(secrets.randbelow(10**10)),
            "X-Zendesk-Webhook-Signature": signature,
            "X-Zendesk-Webhook-Signature-Timestamp": stamp,
        }
        url = webhook_url or (webhook.endpoint if webhook is not None else "")
        method = webhook.http_method if webhook is not None else "POST"
        with self._lock:
            self._deliveries.append(AgentReply(url, headers, raw, comment.id))
        return method, url, headers, raw

    def send_agent_reply(
        self,
        ticket_id: int,
        body: str,
        public: bool = True,
        webhook_url: str | None = None,
        tamper: bool = False,
        timestamp: str | datetime | None = None,
        comment_id: int | None = None,
    ) -> httpx.Response:
        """An agent comments on the ticket and Zendesk notifies the webhook; returns frontdesk's answer."""
        method, url, headers, raw = self.agent_reply_request(
            ticket_id, body, public, webhook_url, tamper, timestamp, comment_id
        )
        with httpx.Client(timeout=10) as client:
            return client.request(method, url, headers=headers, content=raw)

    async def asend_agent_reply(
        self,
        ticket_id: int,
        body: str,
        public: bool = True,
        webhook_url: str | None = None,
        tamper: bool = False,
        timestamp: str | datetime | None = None,
        comment_id: int | None = None,
    ) -> httpx.Response:
        """``send_agent_reply`` for asyncio tests, which must not block their event loop."""
        method, url, headers, raw = self.agent_reply_request(
            ticket_id, body, public, webhook_url, tamper, timestamp, comment_id
        )
        async with httpx.AsyncClient(timeout=10) as client:
            return await client.request(method, url, headers=headers, content=raw)

    # -- the API

    def build_app(self) -> ASGIApp:
        routes = [
            Route("/api/v2/users/me.json", self._api(self._me, me=True), methods=["GET"]),
            Route("/api/v2/users/create_or_update.json", self._api(self._create_or_update_user), methods=["POST"]),
            Route("/api/v2/tickets.json", self._api(self._create_ticket), methods=["POST"]),
            Route("/api/v2/tickets/{ticket_id:int}.json", self._api(self._show_ticket), methods=["GET"]),
            Route("/api/v2/tickets/{ticket_id:int}.json", self._api(self._update_ticket), methods=["PUT"]),
            Route("/api/v2/tickets/{ticket_id:int}/comments.json", self._api(self._list_comments), methods=["GET"]),
            Route("/api/v2/search.json", self._api(self._search), methods=["GET"]),
            Route("/api/v2/webhooks", self._api(self._create_webhook), methods=["POST"]),
            Route("/api/v2/webhooks/{webhook_id}", self._api(self._show_webhook), methods=["GET"]),
            Route("/api/v2/webhooks/{webhook_id}/signing_secret", self._api(self._signing_secret), methods=["GET"]),
            Route("/api/v2/triggers.json", self._api(self._create_trigger), methods=["POST"]),
        ]
        return Starlette(routes=routes)

    def server_error_response(self) -> Response:
        return JSONResponse({"error": "InternalError", "description": "Something went wrong"}, status_code=500)

    def rate_limited_response(self, retry_after: int) -> Response:
        headers = {"Retry-After": str(retry_after)}
        if self.rate_per_minute is not None:
            headers |= {"X-Rate-Limit": str(self.rate_per_minute), "X-Rate-Limit-Remaining": "0"}
        return PlainTextResponse("Too Many Requests", status_code=429, headers=headers)

    def _api(self, handler: Any, me: bool = False) -> Any:
        async def endpoint(request: Request) -> Response:
            user = self._authenticate(request)
            if user is None:
                if me and self.anonymous_on_bad_credentials:
                    anonymous = {
                        "id": None,
                        "name": "Anonymous user",
                        "email": "invalid@example.com",
                        "role": "end-user",
                    }
                    return JSONResponse({"user": anonymous})
                return PlainTextResponse("Couldn't authenticate you", status_code=401)
            headers: dict[str, str] = {}
            if self._limit is not None:
                with self._lock:
                    allowed, remaining, reset_in = self._limit.take(self.clock())
                if not allowed:
                    return self.rate_limited_response(reset_in)
                headers = {"X-Rate-Limit": str(self._limit.per_window), "X-Rate-Limit-Remaining": str(remaining)}
            try:
                response: Response = await handler(request)
            except _Rejected as rejected:
                response = rejected.response
            response.headers.update(headers)
            return response

        return endpoint

    def _authenticate(self, request: Request) -> ZendeskUser | None:
        authorization = request.headers.get("authorization", "")
        if self.oauth_token is not None and authorization.startswith("Bearer "):
            return self.agent if hmac.compare_digest(authorization[7:], self.oauth_token) else None
        credentials = basic_credentials(request)
        if credentials == (f"{self.email}/token", self.api_token):
            return self.agent
        return None

    async def _me(self, request: Request) -> Response:
        return JSONResponse({"user": self.agent.to_json()})

    async def _create_or_update_user(self, request: Request) -> Response:
        """Zendesk's upsert: the user with this ``external_id`` (else this email) is updated, or one is created."""
        payload = await _json_body(request)
        submitted = payload.get("user") if isinstance(payload, dict) else None
        with self._lock:
            details = self._user_errors(submitted)
            if details:
                return _record_invalid(details)
            assert isinstance(submitted, dict)
            external_id, email = submitted.get("external_id"), submitted.get("email")
            user = self._users_by_external_id.get(external_id) if external_id is not None else None
            if user is None and email is not None:
                user = self._users_by_email.get(email.lower())
            if email is not None:
                holder = self._users_by_email.get(email.lower())
                if holder is not None and holder is not user:
                    return _record_invalid({"email": [_error(f"Email: {email} is already being used by another user")]})
            if external_id is not None:
                holder = self._users_by_external_id.get(external_id)
                if holder is not None and holder is not user:
                    taken = f"External ID: {external_id} is already being used by another user"
                    return _record_invalid({"external_id": [_error(taken)]})
            created = user is None
            if user is None:
                user = ZendeskUser(self._user_ids.take(), submitted["name"], None, submitted.get("role", "end-user"))
                self._users[user.id] = user
            user.name = submitted["name"]
            if "role" in submitted:
                user.role = submitted["role"]
            if "phone" in submitted:
                user.phone = submitted["phone"]
            if email is not None:
                if user.email is not None:
                    self._users_by_email.pop(user.email.lower(), None)
                user.email = email
                self._users_by_email[email.lower()] = user
            if external_id is not None:
                if user.external_id is not None:
                    self._users_by_external_id.pop(user.external_id, None)
                user.external_id = external_id
                self._users_by_external_id[external_id] = user
            body = {"user": user.to_json()}
        if created:
            headers = {"Location": f"{self.base_url}/api/v2/users/{user.id}.json"}
            return JSONResponse(body, status_code=201, headers=headers)
        return JSONResponse(body)

    @staticmethod
    def _user_errors(user: Any) -> Details:
        if not isinstance(user, dict):
            return {"user": [_error("User: is missing or not an object", "BlankValue")]}
        details: Details = {}
        name = user.get("name")
        if not isinstance(name, str) or not name.strip():
            details["name"] = [_error("Name: cannot be blank", "BlankValue")]
        email = user.get("email")
        if email is not None and not (isinstance(email, str) and re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email)):
            details["email"] = [_error(f"Email: {email!r} is not properly formatted")]
        phone = user.get("phone")
        if phone is not None and not (isinstance(phone, str) and re.fullmatch(r"\+[1-9]\d{6,14}", phone)):
            details["phone"] = [_error(f"Phone: {phone!r} is not a valid phone number")]
        external_id = user.get("external_id")
        if external_id is not None and not (isinstance(external_id, str) and external_id.strip()):
            details["external_id"] = [_error("External ID: must be text")]
        if user.get("role", "end-user") not in ("end-user", "agent", "admin"):
            details["role"] = [_error(f"Role: {user.get('role')!r} is not end-user, agent or admin")]
        return details

    async def _create_ticket(self, request: Request) -> Response:
        payload = await _json_body(request)
        key = request.headers.get("idempotency-key")
        fingerprint = json.dumps(payload, sort_keys=True)
        # No await from here to the end: the check and the write are one step on the server's event loop.
        with self._lock:
            if key is not None:
                replay = self._idempotency.get(key)
                if replay is not None and self.clock() - replay.at > self.idempotency_ttl:
                    replay = None
                if replay is not None:
                    if replay.fingerprint != fingerprint:
                        error = {
                            "error": "IdempotentRequestError",
                            "description": "The idempotency key was already used with different request parameters",
                        }
                        return JSONResponse(error, status_code=self.idempotency_conflict_status)
                    return Response(
                        replay.body,
                        status_code=replay.status,
                        media_type="application/json",
                        headers={"x-idempotency-lookup": "hit"},
                    )
            ticket_object = payload.get("ticket") if isinstance(payload, dict) else None
            details = self._ticket_errors(ticket_object, creating=True)
            if details:
                return _record_invalid(details)
            assert isinstance(ticket_object, dict)
            ticket = self._store_ticket(ticket_object)
            body = json.dumps({"ticket": ticket.to_json(self.base_url)}).encode()
            headers = {"Location": f"{self.base_url}/api/v2/tickets/{ticket.id}.json"}
            if key is not None:
                self._idempotency[key] = _Replay(fingerprint, 201, body, self.clock())
                headers["x-idempotency-lookup"] = "miss"
            return Response(body, status_code=201, media_type="application/json", headers=headers)

    def _store_ticket(self, submitted: dict[str, Any]) -> ZendeskTicket:
        requester_id = submitted.get("requester_id")
        if requester_id is None:
            requester_id = self._user_for(submitted["requester"]).id
        comment = submitted["comment"]
        ticket = ZendeskTicket(
            id=self._ticket_ids.take(),
            external_id=submitted.get("external_id"),
            subject=submitted.get("subject"),
            requester_id=requester_id,
            tags=list(submitted.get("tags", [])),
            custom_fields=list(submitted.get("custom_fields", [])),
            created_at=_now_iso(),
            created_clock=self.clock(),
            submitted=copy.deepcopy(submitted),
        )
        ticket.comments.append(self._comment(comment, default_author=requester_id))
        self._tickets[ticket.id] = ticket
        return ticket

    def _user_for(self, requester: dict[str, Any]) -> ZendeskUser:
        """Zendesk matches the requester to a user by email, or creates one."""
        email = requester["email"]
        user = self._users_by_email.get(email.lower())
        if user is None:
            user = ZendeskUser(self._user_ids.take(), requester.get("name") or email.split("@")[0], email, "end-user")
            self._users[user.id] = user
            self._users_by_email[email.lower()] = user
        return user

    def _comment(self, comment: dict[str, Any], default_author: int) -> ZendeskComment:
        html_body = comment.get("html_body")
        body = comment.get("body") or _plain_text(html_body or "")
        author = comment.get("author_id", default_author)
        return ZendeskComment(
            self._comment_ids.take(), author, body, html_body, comment.get("public", True), _now_iso(), via="api"
        )

    def _ticket_errors(self, ticket: Any, creating: bool) -> Details:
        if not isinstance(ticket, dict):
            return {"ticket": [_error("Ticket: is missing or not an object", "BlankValue")]}
        details: Details = {}
        comment = ticket.get("comment")
        if comment is None:
            if creating:
                details["comment"] = [_error("Description: cannot be blank", "BlankValue")]
        elif not isinstance(comment, dict):
            details["comment"] = [_error("Comment: must be an object")]
        else:
            text = comment.get("html_body", comment.get("body"))
            if not isinstance(text, str) or not text.strip():
                details["comment"] = [_error("Comment: body or html_body cannot be blank", "BlankValue")]
            if "public" in comment and not isinstance(comment["public"], bool):
                details["comment.public"] = [_error("Public: must be true or false")]
            author = comment.get("author_id")
            if author is not None and (not isinstance(author, int) or author not in self._users):
                details["author_id"] = [_error(f"Author: no user with id {author!r}")]
        if creating:
            requester = ticket.get("requester")
            requester_id = ticket.get("requester_id")
            if requester_id is not None:
                if not isinstance(requester_id, int) or requester_id not in self._users:
                    details["requester_id"] = [_error(f"Requester: no user with id {requester_id!r}")]
            elif not isinstance(requester, dict):
                details["requester"] = [_error("Requester: cannot be blank", "BlankValue")]
            else:
                email = requester.get("email")
                if not isinstance(email, str) or not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
                    details["requester"] = [_error(f"Requester: Email {email!r} is not properly formatted")]
                if "name" in requester and not isinstance(requester["name"], str):
                    details["requester"] = [_error("Requester: Name must be text")]
        for name in ("subject", "external_id"):
            if ticket.get(name) is not None and not isinstance(ticket[name], str):
                details[name] = [_error(f"{name}: must be text")]
        tags = ticket.get("tags")
        if tags is not None and not (isinstance(tags, list) and all(isinstance(t, str) for t in tags)):
            details["tags"] = [_error("Tags: must be a list of text")]
        fields = ticket.get("custom_fields")
        if fields is not None and not (
            isinstance(fields, list) and all(isinstance(f, dict) and isinstance(f.get("id"), int) for f in fields)
        ):
            details["custom_fields"] = [_error("Custom fields: each needs a numeric id")]
        return details

    async def _show_ticket(self, request: Request) -> Response:
        with self._lock:
            ticket = self._tickets.get(request.path_params["ticket_id"])
            if ticket is None:
                return _not_found()
            return JSONResponse({"ticket": ticket.to_json(self.base_url)})

    async def _update_ticket(self, request: Request) -> Response:
        payload = await _json_body(request)
        with self._lock:
            ticket = self._tickets.get(request.path_params["ticket_id"])
            if ticket is None:
                return _not_found()
            changes = payload.get("ticket") if isinstance(payload, dict) else None
            details = self._ticket_errors(changes, creating=False)
            if details:
                return _record_invalid(details)
            assert isinstance(changes, dict)
            if "comment" in changes:
                if len(ticket.comments) >= self.max_comments:
                    limit = f"Comments: a ticket holds at most {self.max_comments} comments"
                    return _record_invalid({"base": [_error(limit, "TooManyComments")]})
                ticket.comments.append(self._comment(changes["comment"], default_author=self.agent.id))
            if isinstance(changes.get("status"), str):
                ticket.status = changes["status"]
            if isinstance(changes.get("tags"), list):
                ticket.tags = list(changes["tags"])
            # Zendesk answers an update with the ticket and the audit of the update: its events hold the new comment,
            # id included (the id a trigger's {{ticket.latest_public_comment.id}} later sends to the webhook).
            audit = {
                "id": self._audit_ids.take(),
                "ticket_id": ticket.id,
                "author_id": self.agent.id,  # the token's user made the update, whoever the comment's author is
                "created_at": _now_iso(),
                "via": {"channel": "api", "source": {"from": {}, "to": {}, "rel": None}},
                "events": [ticket.comments[-1].to_json()] if "comment" in changes else [],
            }
            return JSONResponse({"ticket": ticket.to_json(self.base_url), "audit": audit})

    async def _list_comments(self, request: Request) -> Response:
        with self._lock:
            ticket = self._tickets.get(request.path_params["ticket_id"])
            if ticket is None:
                return _not_found()
            comments = [c.to_json() for c in ticket.comments]
        return JSONResponse({"comments": comments, "count": len(comments), "next_page": None, "previous_page": None})

    async def _search(self, request: Request) -> Response:
        query = request.query_params.get("query", "")
        try:
            terms = shlex.split(query)
        except ValueError:
            terms = query.split()
        filters = dict(term.partition(":")[::2] for term in terms if ":" in term)
        with self._lock:
            results: list[dict[str, Any]] = []
            if filters.get("type", "ticket") == "ticket":
                indexed_before = self.clock() - self.search_lag
                for ticket in sorted(self._tickets.values(), key=lambda t: t.id):
                    if "external_id" in filters and ticket.external_id != filters["external_id"]:
                        continue
                    if self.search_lag and ticket.created_clock > indexed_before:
                        continue
                    results.append(ticket.to_json(self.base_url) | {"result_type": "ticket"})
        return JSONResponse(
            {"results": results, "facets": None, "next_page": None, "previous_page": None, "count": len(results)}
        )

    async def _create_webhook(self, request: Request) -> Response:
        payload = await _json_body(request)
        webhook = payload.get("webhook") if isinstance(payload, dict) else None
        errors = self._webhook_errors(webhook)
        if errors:
            return JSONResponse({"errors": errors}, status_code=400)
        assert isinstance(webhook, dict)
        with self._lock:
            created = ZendeskWebhook(
                id="01" + "".join(secrets.choice("0123456789ABCDEFGHJKMNPQRSTVWXYZ") for _ in range(24)),
                name=webhook["name"],
                endpoint=webhook["endpoint"],
                http_method=webhook["http_method"],
                request_format=webhook["request_format"],
                status=webhook["status"],
                subscriptions=list(webhook["subscriptions"]),
                signing_secret=base64.b64encode(secrets.token_bytes(32)).decode(),
                created_at=_now_iso(),
                submitted=copy.deepcopy(webhook),
            )
            self._webhooks[created.id] = created
        return JSONResponse({"webhook": created.to_json()}, status_code=201)

    @staticmethod
    def _webhook_errors(webhook: Any) -> list[dict[str, Any]]:
        def error(name: str, detail: str) -> dict[str, Any]:
            return {"code": "InvalidValue", "title": "Invalid value", "detail": detail, "source": {"pointer": name}}

        if not isinstance(webhook, dict):
            return [error("/webhook", "webhook is required")]
        errors = []
        if not isinstance(webhook.get("name"), str) or not webhook["name"].strip():
            errors.append(error("/webhook/name", "name is required"))
        endpoint = webhook.get("endpoint")
        if not isinstance(endpoint, str) or not re.match(r"https?://[^\s/]+", endpoint):
            errors.append(error("/webhook/endpoint", "endpoint must be an http(s) URL"))
        if webhook.get("http_method") not in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            errors.append(error("/webhook/http_method", "http_method must be GET, POST, PUT, PATCH or DELETE"))
        if webhook.get("request_format") not in ("json", "xml", "form_encoded"):
            errors.append(error("/webhook/request_format", "request_format must be json, xml or form_encoded"))
        if webhook.get("status") not in ("active", "inactive"):
            errors.append(error("/webhook/status", "status must be active or inactive"))
        subscriptions = webhook.get("subscriptions")
        if not (isinstance(subscriptions, list) and subscriptions and all(isinstance(s, str) for s in subscriptions)):
            errors.append(error("/webhook/subscriptions", "subscriptions must be a non-empty list of text"))
        return errors

    async def _show_webhook(self, request: Request) -> Response:
        with self._lock:
            webhook = self._webhooks.get(request.path_params["webhook_id"])
            if webhook is None:
                return _not_found()
            return JSONResponse({"webhook": webhook.to_json()})

    async def _signing_secret(self, request: Request) -> Response:
        with self._lock:
            webhook = self._webhooks.get(request.path_params["webhook_id"])
            if webhook is None:
                return _not_found()
            return JSONResponse({"signing_secret": {"algorithm": "SHA256", "secret": webhook.signing_secret}})

    async def _create_trigger(self, request: Request) -> Response:
        payload = await _json_body(request)
        trigger = payload.get("trigger") if isinstance(payload, dict) else None
        with self._lock:
            details = self._trigger_errors(trigger)
            if details:
                return _record_invalid(details)
            assert isinstance(trigger, dict)
            created = ZendeskTrigger(
                id=self._trigger_ids.take(),
                title=trigger["title"],
                conditions=copy.deepcopy(trigger["conditions"]),
                actions=copy.deepcopy(trigger["actions"]),
                active=trigger.get("active", True),
                created_at=_now_iso(),
            )
            self._triggers[created.id] = created
        return JSONResponse({"trigger": created.to_json()}, status_code=201)

    def _trigger_errors(self, trigger: Any) -> Details:
        if not isinstance(trigger, dict):
            return {"trigger": [_error("Trigger: is missing or not an object", "BlankValue")]}
        details: Details = {}
        if not isinstance(trigger.get("title"), str) or not trigger["title"].strip():
            details["title"] = [_error("Title: cannot be blank", "BlankValue")]
        conditions = trigger.get("conditions")
        if not (
            isinstance(conditions, dict)
            and set(conditions) <= {"all", "any"}
            and all(
                isinstance(group, list) and all(isinstance(c, dict) and "field" in c for c in group)
                for group in conditions.values()
            )
            and any(conditions.values())
        ):
            details["conditions"] = [_error("Conditions: give lists 'all'/'any' of {field, operator, value}")]
        actions = trigger.get("actions")
        if not (isinstance(actions, list) and actions and all(isinstance(a, dict) and "field" in a for a in actions)):
            details["actions"] = [_error("Actions: cannot be blank", "BlankValue")]
        else:
            for action in actions:
                if action["field"] != "notification_webhook":
                    continue
                value = action.get("value")
                if not (isinstance(value, list) and len(value) == 2 and value[0] in self._webhooks):
                    details["actions"] = [_error("Actions: notification_webhook needs [registered webhook id, body]")]
        return details
