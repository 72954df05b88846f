"""A thin client of Twilio's Programmable Messaging REST API: verify an account, send a text. Failures come out as
the ConnectorErrors the outbox worker already sorts into retry or give up."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx

from frontdesk.credentials import TwilioCredentials
from frontdesk.handoff.connectors.base import (
    TIMEOUT,
    Account,
    NetworkError,
    Rejected,
    Unavailable,
    error_text,
    raise_for,
)

API_VERSION = "2010-04-01"
OPTED_OUT = 21610  # "Attempt to send to unsubscribed recipient"
TOO_LONG = 21617  # "The concatenated message body exceeds the 1600 character limit"
MAX_BODY_CHARS = 1600


class OptedOut(Rejected):
    """Twilio refused the text (21610): the recipient replied STOP to this sender. Never retried."""

    def __init__(self, message: str) -> None:
        super().__init__(message)


class TooLong(Rejected):
    """Twilio refused the text (21617): over 1,600 characters once concatenated. Never retried."""

    def __init__(self, message: str) -> None:
        super().__init__(message)


@dataclass(frozen=True)
class SentMessage:
    """Twilio's answer to a send: the message's SID (what status callbacks name), its first status, the sender."""

    sid: str
    status: str
    from_: str | None
    to: str


def twilio_code(response: httpx.Response) -> int | None:
    """The numeric Twilio error code of an error answer ({"code": 21610, "message": …, "status": 400})."""
    try:
        data: Any = json.loads(response.text) if response.content else None
    except ValueError:
        return None
    code = data.get("code") if isinstance(data, dict) else None
    return code if isinstance(code, int) else None


class TwilioClient:
    """One Twilio account. `api_base` is https://api.twilio.com (Settings.twilio_api_base; tests point it at a
    fake); `transport` lets the worker share its connection pool and timeout."""

    name = "twilio"

    def __init__(
        self,
        credentials: TwilioCredentials,
        api_base: str = "https://api.twilio.com",
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: httpx.Timeout = TIMEOUT,
    ) -> None:
        self.credentials = credentials
        self.client = httpx.AsyncClient(
            base_url=f"{api_base.rstrip('/')}/{API_VERSION}/Accounts",
            auth=httpx.BasicAuth(credentials.account_sid, credentials.auth_token),
            timeout=timeout,
            transport=transport,
            headers={"Accept": "application/json", "User-Agent": "frontdesk"},
            follow_redirects=False,
        )

    async def verify(self) -> Account:
        """An authenticated read of the account; raises AuthFailed (wrong SID or token), NotFound, NetworkError."""
        data = await self._call("GET", f"/{self.credentials.account_sid}.json")
        status = str(data.get("status") or "active")
        if status != "active":
            raise Rejected(f"the Twilio account is {status}")
        sid = str(data.get("sid") or self.credentials.account_sid)
        return Account(name=str(data.get("friendly_name") or sid), email="", id=sid)

    async def send(self, to: str, body: str, status_callback: str | None = None) -> SentMessage:
        """Queue a text with Twilio. OptedOut and TooLong are final; 429, 5xx and network errors are retryable (a
        429 was never processed; after a timeout or a 5xx the text may have gone, and a retry may send it twice)."""
        form = {"To": to, "Body": body}
        if self.credentials.uses_messaging_service:
            form["MessagingServiceSid"] = self.credentials.sender
        else:
            form["From"] = self.credentials.sender
        if status_callback:
            form["StatusCallback"] = status_callback
        data = await self._call("POST", f"/{self.credentials.account_sid}/Messages.json", form)
        sid = data.get("sid")
        if not isinstance(sid, str) or not sid:
            raise Unavailable("Twilio answered without a message SID")
        return SentMessage(sid, str(data.get("status") or "queued"), data.get("from"), str(data.get("to") or to))

    async def _call(self, method: str, path: str, form: dict[str, str] | None = None) -> dict[str, Any]:
        try:
            response = await self.client.request(method, path, data=form)
        except httpx.TimeoutException as exc:
            raise NetworkError(f"Twilio did not answer in time ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise NetworkError(f"Twilio could not be reached: {exc or type(exc).__name__}") from exc
        if 300 <= response.status_code < 400:
            raise Rejected(f"Twilio redirected to {response.headers.get('location', '?')}: check the API address")
        if response.status_code >= 400:
            code = twilio_code(response)
            said = f"Twilio answered {response.status_code} (error {code}): {error_text(response)}"
            if code == OPTED_OUT:
                raise OptedOut(said)
            if code == TOO_LONG:
                raise TooLong(said)
        raise_for(response, "Twilio")
        try:
            data = response.json()
        except ValueError as exc:
            raise Unavailable(f"Twilio answered {response.status_code} with no JSON") from exc
        if not isinstance(data, dict):
            raise Unavailable(f"Twilio answered {response.status_code} with unexpected JSON")
        return data

    async def aclose(self) -> None:
        await self.client.aclose()
