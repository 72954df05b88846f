"""A fake Twilio Programmable Messaging API on 127.0.0.1, written from /work/shared/contracts/twilio.md.

It serves ``/2010-04-01/Accounts/{AccountSid}.json`` (the account, for verifying credentials) and
``/2010-04-01/Accounts/{AccountSid}/Messages.json`` (send a text), checks Basic auth (AccountSid:AuthToken), refuses
numbers in ``opted_out`` with 400 and error 21610 and bodies over 1,600 characters with 21617, in Twilio's JSON error
shape (``{"code", "message", "more_info", "status"}``), keeps what was sent, answers 429 (error 20429) past
``rate_per_second``, and fails on demand (see ``_http``).

Status callbacks go to the StatusCallback URL given with the send, signed as Twilio signs them (``X-Twilio-Signature``
from ``twilio.request_validator.RequestValidator(auth_token).compute_signature(url, params)``): ``send_status``
(a real HTTP request), ``asend_status`` (asyncio; takes a transport, e.g. an ``httpx.ASGITransport`` of the app,
since the URL is the public one). ``inbound_request`` builds a signed inbound-message webhook the same way.

Chosen here, not confirmed in Twilio's documentation: a 429 carries ``Retry-After`` (Twilio's docs only say such a
request was never processed and is safe to retry); a ``From`` that is not one of the account's numbers answers 400
with 21606.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp
from twilio.request_validator import RequestValidator

from tests.fakes._http import Clock, FakeHttpServer, FaultRates, FixedWindowLimit, basic_credentials

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "tw-test-auth-token"
FROM_NUMBER = "+14155550100"
API = "/2010-04-01/Accounts"
MAX_BODY_CHARS = 1600


def twilio_error(status: int, code: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    body = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    return JSONResponse(body, status_code=status, headers=headers)


def signed(auth_token: str, url: str, params: dict[str, str]) -> dict[str, str]:
    """The headers Twilio sends with a webhook of these form parameters to this URL."""
    return {
        "X-Twilio-Signature": RequestValidator(auth_token).compute_signature(url, params),
        "Content-Type": "application/x-www-form-urlencoded",
        "User-Agent": "TwilioProxy/1.1",
        "I-Twilio-Idempotency-Token": secrets.token_hex(16),
    }


def new_sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


@dataclass
class SentText:
    sid: str
    to: str
    from_: str | None
    messaging_service_sid: str | None
    body: str
    status_callback: str | None
    status: str
    created_at: str
    callbacks: list[httpx.Response] = field(default_factory=list)

    def to_json(self, account_sid: str) -> dict[str, Any]:
        return {
            "sid": self.sid,
            "account_sid": account_sid,
            "to": self.to,
            "from": self.from_,
            "messaging_service_sid": self.messaging_service_sid,
            "body": self.body,
            "status": self.status,
            "num_segments": str(max(1, -(-len(self.body) // 153))),
            "num_media": "0",
            "direction": "outbound-api",
            "api_version": "2010-04-01",
            "price": None,
            "error_code": None,
            "error_message": None,
            "date_created": self.created_at,
            "date_updated": self.created_at,
            "date_sent": None,
            "uri": f"{API}/{account_sid}/Messages/{self.sid}.json",
        }


class TwilioFake(FakeHttpServer):
    """One Twilio account with its phone numbers and Messaging Services; what was sent is in ``messages``."""

    def __init__(
        self,
        *,
        account_sid: str = ACCOUNT_SID,
        auth_token: str = AUTH_TOKEN,
        numbers: tuple[str, ...] = (FROM_NUMBER,),
        messaging_services: tuple[str, ...] = (),
        rate_per_second: int | None = None,
        friendly_name: str = "Juniper Goods",
        port: int | None = None,
        faults: FaultRates | None = None,
        seed: int = 0,
        timeout_hold: float = 30.0,
        slow_delay: float = 2.0,
        clock: Clock = time.monotonic,
    ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.numbers = set(numbers)
        self.messaging_services = set(messaging_services)
        self.friendly_name = friendly_name
        self.opted_out: set[str] = set()  # numbers that replied STOP: sending to them answers 21610
        self.retry_after: int | None = None  # when set, every 429 asks for this many seconds
        self._limit = FixedWindowLimit(rate_per_second, window=1.0) if rate_per_second else None
        self._messages: list[SentText] = []
        self._state_lock = threading.RLock()
        super().__init__(
            port=port, faults=faults, seed=seed, timeout_hold=timeout_hold, slow_delay=slow_delay, clock=clock
        )

    # -- what tests read

    @property
    def messages(self) -> list[SentText]:
        with self._state_lock:
            return list(self._messages)

    def message(self, sid: str) -> SentText:
        with self._state_lock:
            for text in self._messages:
                if text.sid == sid:
                    return text
        raise KeyError(sid)

    # -- status callbacks and inbound webhooks, signed like Twilio's

    def status_request(
        self, sid: str, status: str, error_code: int | None = None, url: str | None = None
    ) -> tuple[str, dict[str, str], dict[str, str]]:
        """(url, headers, form) of the status callback Twilio sends when text ``sid`` reaches ``status``."""
        text = self.message(sid)
        target = url or text.status_callback
        if not target:
            raise ValueError(f"message {sid} was sent without a StatusCallback")
        form = {
            "AccountSid": self.account_sid,
            "ApiVersion": "2010-04-01",
            "From": text.from_ or "",
            "To": text.to,
            "MessageSid": sid,
            "SmsSid": sid,
            "MessageStatus": status,
            "SmsStatus": status,
        }
        if text.messaging_service_sid:
            form["MessagingServiceSid"] = text.messaging_service_sid
        if error_code is not None:
            form["ErrorCode"] = str(error_code)
        if status == "delivered":
            form["RawDlrDoneDate"] = datetime.now(UTC).strftime("%y%m%d%H%M")
        with self._state_lock:
            text.status = status
        return target, signed(self.auth_token, target, form), form

    def send_status(self, sid: str, status: str, error_code: int | None = None) -> httpx.Response:
        """Twilio reports a new status of text ``sid`` to its StatusCallback; returns frontdesk's answer."""
        url, headers, form = self.status_request(sid, status, error_code)
        with httpx.Client(timeout=10) as client:
            answer = client.post(url, headers=headers, data=form)
        self.message(sid).callbacks.append(answer)
        return answer

    async def asend_status(
        self, sid: str, status: str, error_code: int | None = None, transport: httpx.AsyncBaseTransport | None = None
    ) -> httpx.Response:
        """``send_status`` for asyncio tests; ``transport`` (an ``httpx.ASGITransport`` of the app) carries the
        request to an app that does not listen on its public URL."""
        url, headers, form = self.status_request(sid, status, error_code)
        async with httpx.AsyncClient(timeout=10, transport=transport) as client:
            answer = await client.post(url, headers=headers, data=form)
        self.message(sid).callbacks.append(answer)
        return answer

    def inbound_request(
        self, url: str, from_: str, to: str, body: str, message_sid: str | None = None
    ) -> tuple[dict[str, str], dict[str, str]]:
        """(headers, form) of the webhook Twilio posts to ``url`` when ``from_`` texts ``body`` to ``to``."""
        sid = message_sid or new_sid("SM")
        form = {
            "ToCountry": "US", "ToState": "CA", "SmsMessageSid": sid, "NumMedia": "0", "ToCity": "SAN FRANCISCO",
            "FromZip": "94103", "SmsSid": sid, "FromState": "CA", "SmsStatus": "received", "FromCity": "SAN FRANCISCO",
            "Body": body, "FromCountry": "US", "To": to, "ToZip": "94105", "NumSegments": "1", "MessageSid": sid,
            "AccountSid": self.account_sid, "From": from_, "ApiVersion": "2010-04-01",
        }  # fmt: skip
        return signed(self.auth_token, url, form), form

    # -- the API

    def build_app(self) -> ASGIApp:
        return Starlette(
            routes=[
                Route(f"{API}/{{account_sid}}.json", self._account, methods=["GET"]),
                Route(f"{API}/{{account_sid}}/Messages.json", self._send, methods=["POST"]),
            ]
        )

    def server_error_response(self) -> Response:
        return twilio_error(500, 20500, "An internal server error has occurred")

    def rate_limited_response(self, retry_after: int) -> Response:
        return twilio_error(429, 20429, "Too Many Requests", {"Retry-After": str(self.retry_after or retry_after)})

    def _authenticated(self, request: Request) -> bool:
        return basic_credentials(request) == (self.account_sid, self.auth_token) and (
            request.path_params["account_sid"] == self.account_sid
        )

    async def _account(self, request: Request) -> Response:
        if not self._authenticated(request):
            return twilio_error(401, 20003, "Authenticate")
        now = format_datetime(datetime.now(UTC), usegmt=True)
        return JSONResponse(
            {
                "sid": self.account_sid,
                "friendly_name": self.friendly_name,
                "status": "active",
                "type": "Full",
                "date_created": now,
                "date_updated": now,
                "uri": f"{API}/{self.account_sid}.json",
            }
        )

    async def _send(self, request: Request) -> Response:
        if not self._authenticated(request):
            return twilio_error(401, 20003, "Authenticate")
        if self._limit is not None:
            with self._state_lock:
                allowed, _, reset_in = self._limit.take(self.clock())
            if not allowed:
                return self.rate_limited_response(reset_in)
        form = {name: str(value) for name, value in (await request.form()).items()}
        to, body = form.get("To", ""), form.get("Body", "")
        from_, service = form.get("From"), form.get("MessagingServiceSid")
        if not to:
            return twilio_error(400, 21604, "A 'To' phone number is required.")
        if not from_ and not service:
            return twilio_error(400, 21603, "A 'From' phone number is required.")
        if service and service not in self.messaging_services:
            return twilio_error(400, 21705, "The Messaging Service Sid is invalid.")
        if from_ and from_ not in self.numbers:
            return twilio_error(
                400, 21606, f"The From phone number {from_} is not a valid, SMS-capable inbound phone number for "
                "your account."
            )  # fmt: skip
        if not body:
            return twilio_error(400, 21602, "Message body is required.")
        if len(body) > MAX_BODY_CHARS:
            return twilio_error(400, 21617, "The concatenated message body exceeds the 1600 character limit.")
        if to in self.opted_out:
            return twilio_error(400, 21610, "Attempt to send to unsubscribed recipient")
        text = SentText(
            sid=new_sid("SM"),
            to=to,
            from_=from_,
            messaging_service_sid=service,
            body=body,
            status_callback=form.get("StatusCallback"),
            status="accepted" if service and not from_ else "queued",
            created_at=format_datetime(datetime.now(UTC), usegmt=True),
        )
        with self._state_lock:
            self._messages.append(text)
        return JSONResponse(text.to_json(self.account_sid), status_code=201)
