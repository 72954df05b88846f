"""`POST /channels/sms/twilio/status`: Twilio's delivery reports of the texts we sent (the StatusCallback given with
each send). Proven by `X-Twilio-Signature` over the public URL, like the inbound webhook; anything unproven is
refused (403) and changes nothing."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from frontdesk.channels.sms import sending
from frontdesk.channels.sms.views import signed_form

router = APIRouter(tags=["sms"])


@router.post(sending.STATUS_PATH, status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
async def twilio_status(request: Request) -> Response:
    """A text's new status (sent, delivered, undelivered, failed, …) with Twilio's error code. 404 while Twilio is
    not connected, 403 for a missing or wrong signature, otherwise 204 (also for a SID we never sent)."""
    fields = await signed_form(request)
    async with request.app.state.database.session() as session:
        await sending.record_status(session, fields)
        await session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
