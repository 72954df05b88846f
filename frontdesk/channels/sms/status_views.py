"""`POST /channels/sms/twilio/status`: Twilio's delivery reports of the texts we sent (the StatusCallback given with
each send). Proven by `X-Twilio-Signature` over the public URL, like the inbound webhook; anything unproven is
refused (403) and changes nothing."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response, status
from twilio.request_validator import RequestValidator

from frontdesk.channels.sms import sending
from frontdesk.channels.sms.views import MAX_BODY_BYTES, SIGNATURE_HEADER, public_url_of
from frontdesk.integrations import service as integrations

router = APIRouter(tags=["sms"])


@router.post(sending.STATUS_PATH, status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
async def twilio_status(request: Request) -> Response:
    """A text's new status (sent, delivered, undelivered, failed, …) with Twilio's error code. 404 while Twilio is
    not connected, 403 for a missing or wrong signature, otherwise 204 (also for a SID we never sent)."""
    if len(await request.body()) > MAX_BODY_BYTES:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, "the body is too large")
    async with request.app.state.database.session() as session:
        credentials = await integrations.twilio_credentials(session, request.app.state.vault)
    if credentials is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "twilio is not connected")
    form = await request.form()
    signature = request.headers.get(SIGNATURE_HEADER)
    texts = all(isinstance(value, str) for _, value in form.multi_items())
    if not (signature and texts and RequestValidator(credentials.auth_token).validate(
        public_url_of(request), form, signature
    )):  # fmt: skip
        raise HTTPException(status.HTTP_403_FORBIDDEN, "the X-Twilio-Signature header is missing or does not match")
    async with request.app.state.database.session() as session:
        await sending.record_status(session, {name: str(value) for name, value in form.items()})
        await session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
