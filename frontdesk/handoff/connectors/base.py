"""One interface for every handoff target (built-in inbox, Zendesk, Gorgias), the ticket it receives, and the errors a
helpdesk answers with, sorted into what the outbox worker retries and what it surfaces."""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import httpx

from frontdesk.outbox import delivery as outbox
from frontdesk.outbox.delivery import DeliveryError, NotConfigured

TIMEOUT = httpx.Timeout(10.0, connect=10.0, read=10.0)
HANDOFF_TAG = "ai_handoff"
DEFAULT_TAGS = ("frontdesk", HANDOFF_TAG)
RETRIED_STATUSES = frozenset({408, 409})  # a timeout or a concurrent write on their side: the same call may pass later
MAX_ERROR_TEXT = 300
NOT_CONNECTED_RETRY = 600.0  # a row waiting for its account to be connected (again) looks every ten minutes


@dataclass(frozen=True)
class TicketRequest:
    """What a ticket carries: the whole transcript (text and escaped HTML) and who the shopper is."""

    conversation_id: str
    subject: str
    text: str
    html: str
    email: str | None
    phone: str | None
    name: str | None
    profile_id: str | None
    channel: str
    reason: str
    link: str
    tags: tuple[str, ...] = DEFAULT_TAGS


@dataclass(frozen=True)
class TicketRef:
    """A ticket in its helpdesk: the helpdesk's own id (as text) and the target that holds it."""

    id: str
    target: str

    def __str__(self) -> str:
        # The built-in inbox's references read "inbox-12" everywhere already (outbox, conversation, console).
        return f"{'inbox' if self.target == 'builtin' else self.target}-{self.id}"


@dataclass(frozen=True)
class Account:
    """Whose credentials were verified: shown in the console so the admin sees which account is connected."""

    name: str
    email: str
    id: str


@dataclass(frozen=True)
class ReplyPath:
    """How the helpdesk's replies come back to frontdesk: `secret` verifies them (Zendesk's signing secret, or the
    header secret frontdesk generated for Gorgias); `details` names what was created there (webhook, trigger)."""

    automatic: bool
    secret: str | None = None
    details: Mapping[str, str] = field(default_factory=dict)


class ConnectorError(DeliveryError):
    """A helpdesk call that failed; `retryable` says whether the same call may succeed later, `retry_after` (seconds)
    when the helpdesk said when."""


class AuthFailed(ConnectorError):
    """The credentials were refused (401/403): retrying cannot help until the admin fixes them."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False)


class NotFound(ConnectorError):
    """No such account (unknown subdomain or domain), or no such ticket."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False)


class NetworkError(ConnectorError):
    """Timeout, refused or reset connection: the request may or may not have reached the helpdesk."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=True)


class NotConnected(ConnectorError, NotConfigured):
    """The target's account is not connected (any more): wait for the admin to connect it rather than give up."""

    def __init__(self, kind: str) -> None:
        super().__init__(f"{kind} is not connected: connect it under Integrations", True, NOT_CONNECTED_RETRY)


class RateLimited(ConnectorError, outbox.RateLimited):
    def __init__(self, message: str, retry_after: float | None) -> None:
        super().__init__(message, retryable=True, retry_after=retry_after)


class Unavailable(ConnectorError):
    """5xx, 408 or 409: the helpdesk could not do it now."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message, retryable=True, retry_after=retry_after)


class Rejected(ConnectorError):
    """Any other 4xx: the request itself is wrong for this helpdesk; sending it again would fail the same way."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False)


@runtime_checkable
class Connector(Protocol):
    name: str

    async def verify(self) -> Account:
        """Check the credentials with an authenticated read; raises AuthFailed, NotFound or NetworkError."""
        ...

    async def create_ticket(
        self, request: TicketRequest, idempotency_key: str, *, search_first: bool = False
    ) -> TicketRef:
        """Create the conversation's ticket at most once. `search_first` (a retry after an unknown outcome) looks for
        a ticket already made for this conversation before creating one."""
        ...

    async def add_message(self, ticket_ref: TicketRef, text: str, request: TicketRequest) -> str | None:
        """Add a later shopper message to the ticket, as the shopper; the helpdesk's id of the comment or message it
        became, when its answer says (a webhook that sends it back is then known for our own)."""
        ...

    async def find_message(self, ticket_ref: TicketRef, text: str) -> str | None:
        """After an attempt whose outcome is unknown: is the shopper's message on the ticket already? Neither helpdesk
        takes an idempotency key for a comment, so the ticket is read instead (a shopper who wrote the very same text
        twice in a row would see it once: the lesser harm, next to a message sent twice on every timeout). The id of
        the comment or message that holds it ("" when the helpdesk gave it none), or None when it is not there."""
        ...

    async def set_up_replies(self, webhook_url: str, secret: str) -> ReplyPath:
        """Make the helpdesk send agents' replies to `webhook_url`; `secret` is ours, for helpdesks that sign none."""
        ...

    async def aclose(self) -> None: ...


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """`Retry-After` as seconds: a number, or an HTTP date (RFC 9110 allows both)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - (time.time() if now is None else now))


def error_text(response: httpx.Response) -> str:
    """The helpdesk's own words for an error, from JSON or plain text (401 and 429 bodies are often text/plain)."""
    body = response.text.strip()
    try:
        data: Any = json.loads(body) if body else None
    except ValueError:
        data = None
    if isinstance(data, dict):
        parts: list[str] = []
        for key in ("error", "message", "description"):
            value = data.get(key)
            if isinstance(value, str) and value and value not in parts:
                parts.append(value)
            elif isinstance(value, dict):  # nested: {"error": {"title"|"message"|"msg": …, "data": {field: […]}}}
                parts.extend(str(v) for k, v in value.items() if k in ("title", "message", "msg") and v)
                parts.extend(_field_problems(value.get("data")))
        parts.extend(_field_problems(data.get("details")))
        text = "; ".join(parts) if parts else body
    else:
        text = body
    text = " ".join(text.split())
    return text[:MAX_ERROR_TEXT] or response.reason_phrase or f"HTTP {response.status_code}"


def _field_problems(details: object) -> list[str]:
    """`{field: [problem, …]}` where a problem is text (Gorgias) or `{"description": …}` (Zendesk)."""
    if not isinstance(details, dict):
        return []
    found: list[str] = []
    for name, problems in details.items():
        for problem in problems if isinstance(problems, list) else [problems]:
            text = problem.get("description") if isinstance(problem, dict) else problem
            if text:
                found.append(f"{name}: {text}")
    return found


def raise_for(response: httpx.Response, helpdesk: str) -> None:
    """Turn a failed answer into the error the worker and the console act on; a 2xx passes."""
    status = response.status_code
    if status < 400:
        return
    said = f"{helpdesk} answered {status}: {error_text(response)}"
    retry_after = retry_after_seconds(response.headers.get("retry-after"))
    if status in (401, 403):
        raise AuthFailed(said)
    if status == 404:
        raise NotFound(said)
    if status == 429:
        raise RateLimited(said, retry_after)
    if status >= 500 or status in RETRIED_STATUSES:
        raise Unavailable(said, retry_after)
    raise Rejected(said)


class HelpdeskHttp:
    """An httpx client for one helpdesk account whose failures come out as ConnectorErrors."""

    def __init__(
        self,
        helpdesk: str,
        base_url: str,
        auth: httpx.Auth,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: httpx.Timeout = TIMEOUT,
    ) -> None:
        self.helpdesk = helpdesk
        self.client = httpx.AsyncClient(
            base_url=base_url,
            auth=auth,
            timeout=timeout,
            transport=transport,
            headers={"Accept": "application/json", "User-Agent": "frontdesk"},
            follow_redirects=False,  # a redirect would send the credentials elsewhere (a sign-in page, a renamed host)
        )

    async def call(
        self,
        method: str,
        path: str,
        *,
        json_body: object | None = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """The decoded JSON of a 2xx answer (None when empty)."""
        try:
            response = await self.client.request(method, path, json=json_body, params=params, headers=headers)
        except httpx.TimeoutException as exc:
            raise NetworkError(f"{self.helpdesk} did not answer in time ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise NetworkError(f"{self.helpdesk} could not be reached: {exc or type(exc).__name__}") from exc
        if 300 <= response.status_code < 400:
            raise Rejected(f"{self.helpdesk} redirected to {response.headers.get('location', '?')}: check the address")
        raise_for(response, self.helpdesk)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            # A 2xx that is not JSON: a proxy or a sign-in page, not the API. The call may have happened.
            raise Unavailable(f"{self.helpdesk} answered {response.status_code} with no JSON") from exc

    async def aclose(self) -> None:
        await self.client.aclose()
