"""Zendesk Support behind the Connector interface: tickets with the transcript as an internal note, later shopper
messages as public comments by the requester, and a webhook + trigger that sends agents' public replies back."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import httpx

from frontdesk.handoff.connectors.base import (
    HANDOFF_TAG,
    TIMEOUT,
    Account,
    AuthFailed,
    ConnectorError,
    HelpdeskHttp,
    Rejected,
    ReplyPath,
    TicketRef,
    TicketRequest,
    Unavailable,
)
from frontdesk.outbox.delivery import RequestBudget

NAME = "zendesk"
WEBHOOK_NAME = "frontdesk: agent replies"
TRIGGER_TITLE = "frontdesk: send agent replies on AI handoff tickets to frontdesk"
# The trigger's JSON body, the shape the relay reads (tests/fakes/zendesk.py sends the same). Zendesk fills the
# placeholders as text, so ids arrive as strings; the comment id is what makes a redelivery a no-op.
TRIGGER_BODY = {
    "ticket": {"id": "{{ticket.id}}", "external_id": "{{ticket.external_id}}"},
    "comment": {
        "id": "{{ticket.latest_public_comment.id}}",
        "body": "{{ticket.latest_public_comment}}",
        "is_public": True,
        "author": {"id": "{{current_user.id}}", "name": "{{current_user.name}}", "role": "{{current_user.role}}"},
    },
}
TRIGGER_CONDITIONS = {
    "all": [
        {"field": "update_type", "operator": "is", "value": "Change"},
        {"field": "comment_is_public", "operator": "is", "value": "true"},
        {"field": "role", "operator": "is", "value": "agent"},
        {"field": "current_tags", "operator": "includes", "value": HANDOFF_TAG},
    ],
    "any": [],
}


class ZendeskConnector:
    name = NAME

    def __init__(
        self,
        subdomain: str,
        email: str,
        api_token: str,
        url_template: str = "https://{subdomain}.zendesk.com",
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: httpx.Timeout = TIMEOUT,
    ) -> None:
        self.subdomain = subdomain
        self.email = email
        base = url_template.format(subdomain=subdomain).rstrip("/") + "/api/v2/"
        # API token auth: user "{email}/token", password the token.
        auth = httpx.BasicAuth(f"{email}/token", api_token)
        self.http = HelpdeskHttp("Zendesk", base, auth, transport, timeout)
        self._requesters: dict[str, int] = {}  # ticket id -> requester id, so a chat's later messages cost one call

    async def verify(self) -> Account:
        data = await self.http.call("GET", "users/me.json")
        user = (data or {}).get("user") or {}
        # Zendesk answers a bad token with 200 and the anonymous user rather than 401.
        if user.get("id") is None or user.get("role") == "end-user":
            raise AuthFailed("Zendesk answered with an anonymous user: the email/API token were not accepted")
        return Account(name=str(user.get("name") or ""), email=str(user.get("email") or self.email), id=str(user["id"]))

    async def create_ticket(
        self, request: TicketRequest, idempotency_key: str, *, search_first: bool = False
    ) -> TicketRef:
        # The Idempotency-Key covers a retry within Zendesk's window; after a long outage that window may have passed,
        # so a retry after an unknown outcome also searches by external_id (the search index lags a little behind).
        if search_first:
            found = await self.find_ticket(request.conversation_id)
            if found is not None:
                return found
        requester_id = None if request.email else await self._end_user_id(request)
        body = {"ticket": ticket_body(request, requester_id)}
        headers = {"Idempotency-Key": idempotency_key}
        data = await self.http.call("POST", "tickets.json", json_body=body, headers=headers)
        ticket_id = ((data or {}).get("ticket") or {}).get("id")
        if ticket_id is None:
            raise Unavailable("Zendesk created no ticket id in its answer")
        return TicketRef(str(ticket_id), NAME)

    async def _end_user_id(self, request: TicketRequest) -> int | None:
        """The Zendesk end user for a shopper known without an email (an SMS shopper: by phone), created or found.

        A ticket's inline `requester` needs an email, so such a shopper is first made a user. create_or_update matches
        by external_id, which makes it idempotent: a retry finds the same user and the ticket body stays the same."""
        if request.phone is None and request.profile_id is None:
            return None  # nothing to key a user on: the inline requester goes, and Zendesk says what it wants
        user: dict[str, str] = {
            "name": request.name or request.phone or "Shopper",
            "external_id": request.profile_id or f"phone:{request.phone}",
            "role": "end-user",
        }
        if request.phone:
            user["phone"] = request.phone
        data = await self.http.call("POST", "users/create_or_update.json", json_body={"user": user})
        user_id = ((data or {}).get("user") or {}).get("id")
        if user_id is None:
            raise Unavailable("Zendesk created or found no user id in its answer")
        return int(user_id)

    async def find_ticket(self, conversation_id: str) -> TicketRef | None:
        data = await self.http.call(
            "GET", "search.json", params={"query": f"type:ticket external_id:{conversation_id}"}
        )
        for result in (data or {}).get("results") or []:
            # Search is full text: keep only an exact external_id match.
            if str(result.get("external_id")) == conversation_id and result.get("id") is not None:
                return TicketRef(str(result["id"]), NAME)
        return None

    async def find_message(self, ticket_ref: TicketRef, text: str) -> str | None:
        """After an attempt whose outcome is unknown: is the shopper's message on the ticket already? Neither helpdesk
        takes an idempotency key for a comment, so the ticket is read instead (a shopper who wrote the very same text
        twice in a row would see it once: the lesser harm, next to a message sent twice on every timeout). The id of
        the comment or message that holds it ("" when the helpdesk gave it none), or None when it is not there."""
        data = await self.http.call("GET", f"tickets/{ticket_ref.id}/comments.json") or {}
        comments = data.get("comments") or []
        found = [c for c in comments if c.get("public") and (c.get("plain_body") or c.get("body")) == text]
        return None if not found else "" if found[-1].get("id") is None else str(found[-1]["id"])

    async def add_message(self, ticket_ref: TicketRef, text: str, request: TicketRequest) -> str | None:
        requester_id = await self._requester_of(ticket_ref.id)
        comment = {"body": text, "public": True, "author_id": requester_id}
        data = await self.http.call("PUT", f"tickets/{ticket_ref.id}.json", json_body={"ticket": {"comment": comment}})
        return comment_id_of(data)

    async def _requester_of(self, ticket_id: str) -> int:
        if ticket_id not in self._requesters:
            data = await self.http.call("GET", f"tickets/{ticket_id}.json")
            requester_id = ((data or {}).get("ticket") or {}).get("requester_id")
            if requester_id is None:
                raise Unavailable(f"Zendesk ticket {ticket_id} has no requester in its answer")
            self._requesters[ticket_id] = int(requester_id)
        return self._requesters[ticket_id]

    async def set_up_replies(self, webhook_url: str, secret: str) -> ReplyPath:
        """A webhook for triggers, its signing secret, and the trigger that notifies it. Zendesk signs with its own
        secret, so `secret` is not used here."""
        webhook = {
            "name": WEBHOOK_NAME,
            "endpoint": webhook_url,
            "http_method": "POST",
            "request_format": "json",
            "status": "active",
            "subscriptions": ["conditional_ticket_events"],  # fired by triggers, not by event subscriptions
        }
        data = await self.http.call("POST", "webhooks", json_body={"webhook": webhook})
        webhook_id = ((data or {}).get("webhook") or {}).get("id")
        if webhook_id is None:
            raise Unavailable("Zendesk created no webhook id in its answer")
        webhook_id = str(webhook_id)
        try:
            signing = await self.http.call("GET", f"webhooks/{webhook_id}/signing_secret")
            signing_secret = _signing_secret(signing)
            trigger = {
                "title": TRIGGER_TITLE,
                "conditions": TRIGGER_CONDITIONS,
                "actions": [{"field": "notification_webhook", "value": [webhook_id, json.dumps(TRIGGER_BODY)]}],
            }
            created = await self.http.call("POST", "triggers.json", json_body={"trigger": trigger})
            trigger_id = ((created or {}).get("trigger") or {}).get("id")
        except ConnectorError:
            # A webhook no trigger calls is clutter in the admin's Zendesk; the manual steps create both again.
            await self._delete_quietly(f"webhooks/{webhook_id}")
            raise
        return ReplyPath(True, signing_secret, {"webhook_id": webhook_id, "trigger_id": str(trigger_id or "")})

    async def _delete_quietly(self, path: str) -> None:
        with contextlib.suppress(ConnectorError):
            await self.http.call("DELETE", path)

    async def aclose(self) -> None:
        await self.http.aclose()


def request_budget(rate_per_minute: int, in_flight: int) -> RequestBudget:
    """Zendesk counts requests per clock minute: the burst plus a minute's refill plus the `in_flight` further
    requests of deliveries under way stay within the plan's limit."""
    burst = max(1, rate_per_minute // 20)
    return RequestBudget(burst, max(rate_per_minute - burst - in_flight, 1) / 60)


def ticket_body(request: TicketRequest, requester_id: int | None = None) -> dict[str, Any]:
    """The ticket: by `requester_id` when the shopper was made a Zendesk user first (no email), else an inline
    `requester` that Zendesk matches by email or creates."""
    who: dict[str, Any]
    if requester_id is not None:
        who = {"requester_id": requester_id}
    else:
        requester: dict[str, str] = {"name": request.name or request.email or request.phone or "Shopper"}
        if request.email:
            requester["email"] = request.email
        who = {"requester": requester}
    tags = list(dict.fromkeys([*request.tags, request.channel]))
    return {
        "subject": request.subject,
        **who,
        "external_id": request.conversation_id,
        "tags": tags,
        # Comment times cannot be set through this API: the transcript's own timestamps carry them. An internal note,
        # so Zendesk does not email the shopper their own chat.
        "comment": {"html_body": request.html, "public": False},
    }


def comment_id_of(data: Any) -> str | None:
    """The id of the comment an update added: Zendesk answers a ticket update with its audit, whose events hold the
    new comment (`{"type": "Comment", "id": ...}`). The trigger sends our own comment back to the relay with this id."""
    audit = (data or {}).get("audit") if isinstance(data, dict) else None
    events = audit.get("events") if isinstance(audit, dict) else None
    for event in events if isinstance(events, list) else []:
        if isinstance(event, dict) and event.get("type") == "Comment" and event.get("id") is not None:
            return str(event["id"])
    return None


def _signing_secret(data: Any) -> str:
    value = (data or {}).get("signing_secret")
    if isinstance(value, dict):
        value = value.get("secret")
    if not isinstance(value, str) or not value:
        raise Rejected("Zendesk gave no signing secret for the new webhook")
    return value
