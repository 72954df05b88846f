"""`POST /channels/sms/twilio`: Twilio's inbound message webhook (docs: ../shared/contracts/twilio.md).

No user session or API token: a request proves it came from Twilio by `X-Twilio-Signature`, computed with the
account's auth token over the public URL Twilio was given (`FRONTDESK_PUBLIC_URL` + the path, never the Host
header, which a proxy rewrites) and every posted parameter. Anything unproven is refused (403) and stores nothing.

The answer is always empty TwiML: the shopper's message is stored (and the reply queued) before it is sent, and the
reply goes out through Twilio's REST API from the outbox worker, with retries and status callbacks.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, HTTPException, Request, Response, status
from twilio.request_validator import RequestValidator

from frontdesk import credentials as stored
from frontdesk.channels.sms import service
from frontdesk.channels.sms.phones import InvalidPhone, to_e164

log = logging.getLogger("frontdesk.sms")
router = APIRouter(tags=["sms"])
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
MAX_BODY_BYTES = 64_000  # a text is at most 1,600 characters; Twilio's form with media URLs stays far below this
SIGNATURE_HEADER = "X-Twilio-Signature"


def empty_twiml() -> Response:
    return Response(EMPTY_TWIML, media_type="application/xml")


def public_url_of(request: Request) -> str:
    """The URL Twilio signed: the configured public base, then the path and query it called."""
    base = request.app.state.settings.public_url.rstrip("/")
    query = request.url.query
    return f"{base}{request.url.path}" + (f"?{query}" if query else "")


async def signed_form(request: Request) -> dict[str, str]:
    """The fields of a form Twilio posted, once its `X-Twilio-Signature` is proven: 413 for an oversized body, 404
    while Twilio is not connected, 403 for a missing or wrong signature (nothing else has been done by then)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, "the body is too large")
    if len(await request.body()) > MAX_BODY_BYTES:  # read once and kept: the form below is parsed from it
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, "the body is too large")
    async with request.app.state.database.session() as session:
        credentials = await stored.twilio_credentials(session, request.app.state.vault)
    if credentials is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "twilio is not connected")
    form = await request.form()
    signature = request.headers.get(SIGNATURE_HEADER)
    texts = all(isinstance(value, str) for _, value in form.multi_items())  # Twilio posts a form, never files
    validator = RequestValidator(credentials.auth_token)
    if not (signature and texts and validator.validate(public_url_of(request), form, signature)):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "the X-Twilio-Signature header is missing or does not match")
    return {name: str(value) for name, value in form.items()}


@router.post("/channels/sms/twilio", response_class=Response, responses={200: {"content": {"application/xml": {}}}})
async def twilio_inbound(request: Request) -> Response:
    """A text a shopper sent to the store's number. 404 while Twilio is not connected; 403 for a missing or wrong
    signature; otherwise 200 with empty TwiML, also for a text Twilio delivers again (taken once, by MessageSid)."""
    fields = await signed_form(request)
    message_sid = fields.get("MessageSid", "").strip()
    if not message_sid or len(message_sid) > 64:
        log.warning("Twilio webhook without a usable MessageSid: ignored")
        return empty_twiml()
    try:
        sender = to_e164(fields.get("From", ""), strict=False)
    except InvalidPhone as exc:
        log.warning("text %s from a sender we cannot text back: %s", message_sid, exc)
        return empty_twiml()
    inbound = service.Inbound(
        message_sid=message_sid,
        from_number=sender,
        to_number=fields.get("To", "")[:32],
        body=fields.get("Body", ""),
        advanced_opt_out="OptOutType" in fields,
    )
    taken = await service.receive(request.app.state.flow, inbound)
    log.info("text %s: %s", message_sid, taken.value)
    return empty_twiml()
