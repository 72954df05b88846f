"""The helpdesks' way back in: `POST /webhooks/zendesk` (signed by Zendesk) and `POST /webhooks/gorgias` (our secret
header). No user session or API token: a delivery proves its origin with the helpdesk's secret, or changes nothing.

Both answer 200 for every authentic delivery, relayed or not: a helpdesk retries (Zendesk) or disables the
integration after repeated failures (Gorgias) when it sees errors, and most of what Gorgias sends is not for us.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, HTTPException, Request, status

from frontdesk import credentials
from frontdesk.deps import now_of
from frontdesk.handoff import relay
from frontdesk.vault import VaultError

router = APIRouter(tags=["webhooks"])
MAX_BODY_BYTES = 1_000_000  # a trigger's body is a comment; anything far larger is not one


async def _raw_body(request: Request) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, "the body is too large")
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, "the body is too large")
    return body


async def _secret(request: Request, kind: str) -> bytes:
    """The reply secret of a connected helpdesk; 404 when it is not connected, 401 when its reply path has no
    secret yet (nothing could be verified: see the manual steps in docs/helpdesks.md)."""
    async with request.app.state.database.session() as session:
        if not await credentials.is_connected(session, kind):
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"{kind} is not connected")
        try:
            secret = await credentials.reply_secret(session, kind, request.app.state.vault)
        except VaultError as exc:  # the key changed under a running server: /healthz says so too
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from exc
    if secret is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, f"no {kind} reply secret is set up: nothing can be verified")
    return secret


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "the body is not JSON") from exc
    except RecursionError as exc:  # arrays or objects nested thousands deep: no trigger sends that
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "the body's JSON is nested too deeply") from exc


async def _take(request: Request, parsed: relay.AgentReply | relay.Outcome) -> dict[str, object]:
    if isinstance(parsed, relay.Outcome):
        return parsed.as_json()
    outcome = await relay.Relay(request.app.state.flow).take(parsed)
    return outcome.as_json()


@router.post("/webhooks/zendesk")
async def zendesk_webhook(request: Request) -> dict[str, object]:
    """An agent's public comment on a handoff ticket, sent by the trigger frontdesk set up (docs/helpdesks.md)."""
    body = await _raw_body(request)
    secret = await _secret(request, relay.ZENDESK)
    try:
        relay.verify_zendesk(
            secret,
            request.headers.get("x-zendesk-webhook-signature"),
            request.headers.get("x-zendesk-webhook-signature-timestamp"),
            body,
            now_of(request),
        )
        parsed = relay.parse_zendesk(_json(body))
    except relay.Unauthenticated as exc:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(exc)) from exc
    except relay.Malformed as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from exc
    return await _take(request, parsed)


@router.post("/webhooks/gorgias")
async def gorgias_webhook(request: Request) -> dict[str, object]:
    """A ticket message created in Gorgias, sent by the HTTP integration frontdesk set up (docs/helpdesks.md)."""
    body = await _raw_body(request)
    secret = await _secret(request, relay.GORGIAS)
    try:
        relay.verify_secret_header(secret, request.headers.get("x-frontdesk-secret"))
        parsed = relay.parse_gorgias(_json(body))
    except relay.Unauthenticated as exc:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(exc)) from exc
    except relay.Malformed as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from exc
    return await _take(request, parsed)
