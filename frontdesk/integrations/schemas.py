"""API shapes of the integrations: what the admin sends to connect a helpdesk, and what is shown back (no secret)."""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, EmailStr, Field, SecretStr, field_validator

from frontdesk.channels.sms.phones import to_e164

# The console page that lists the manual steps for a helpdesk (they are in docs/helpdesks.md too).
MANUAL_STEPS_URL = "/console/integrations#{kind}"
_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_ACCOUNT_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")
_SERVICE_SID = re.compile(r"^MG[0-9a-fA-F]{32}$")


class Kind(StrEnum):
    zendesk = "zendesk"
    gorgias = "gorgias"
    twilio = "twilio"


HELPDESKS = (Kind.zendesk, Kind.gorgias)  # the kinds a handoff can go to (Twilio carries the SMS channel)


def account_label(value: str, suffix: str, what: str) -> str:
    """The account's DNS label; people paste the whole address ("https://juniper.zendesk.com/"), so accept that."""
    label = value.strip().lower().removeprefix("https://").removeprefix("http://").split("/", 1)[0]
    label = label.removesuffix(suffix)
    if not _LABEL.fullmatch(label):
        raise ValueError(f"{what} must be letters, digits and hyphens, as in <{what}>{suffix}")
    return label


class ZendeskConnectIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subdomain: str = Field(max_length=300, examples=["juniper"])
    email: EmailStr = Field(description="The Zendesk agent or admin whose API token this is")
    # No length rule here: a validation error would echo the token back in the 422 body.
    api_token: SecretStr

    @field_validator("subdomain")
    @classmethod
    def _subdomain(cls, value: str) -> str:
        return account_label(value, ".zendesk.com", "subdomain")


class GorgiasConnectIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    domain: str = Field(max_length=300, examples=["juniper"])
    email: EmailStr = Field(description="The Gorgias user the API key belongs to")
    api_key: SecretStr

    @field_validator("domain")
    @classmethod
    def _domain(cls, value: str) -> str:
        return account_label(value, ".gorgias.com", "domain")


class TwilioConnectIn(BaseModel):
    """The SMS channel's Twilio account, and who texts are sent from: a phone number or a Messaging Service."""

    model_config = ConfigDict(extra="forbid")

    # "Exactly one sender" is checked by the service: a model-level error would echo the whole body, token included.
    account_sid: str = Field(max_length=64, examples=["AC0123456789abcdef0123456789abcdef"])
    auth_token: SecretStr
    from_number: str | None = Field(default=None, max_length=40, examples=["+14155550123"])
    messaging_service_sid: str | None = Field(default=None, max_length=64)

    @field_validator("account_sid")
    @classmethod
    def _account_sid(cls, value: str) -> str:
        value = value.strip()
        if not _ACCOUNT_SID.fullmatch(value):
            raise ValueError('account_sid must be "AC" and 32 hex digits, as on the Twilio console\'s account page')
        return value

    @field_validator("from_number")
    @classmethod
    def _from_number(cls, value: str | None) -> str | None:
        return None if value is None else to_e164(value)

    @field_validator("messaging_service_sid")
    @classmethod
    def _service_sid(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        if not _SERVICE_SID.fullmatch(value):
            raise ValueError('messaging_service_sid must be "MG" and 32 hex digits')
        return value


class AccountOut(BaseModel):
    name: str
    email: str
    id: str


class ReplyPathOut(BaseModel):
    """Whether agents' replies reach frontdesk without manual steps; when not, why, and where the steps are."""

    automatic: bool
    ready: bool = Field(default=False, description="frontdesk holds the secret that verifies the helpdesk's requests")
    error: str | None = None
    manual_steps_url: str | None = None


class IntegrationOut(BaseModel):
    kind: Kind
    status: str = Field(description='"connected" or "not_connected"')
    address: str | None = Field(default=None, description="The account's host, e.g. juniper.zendesk.com")
    email: str | None = None
    account: AccountOut | None = None
    connected_at: datetime | None = None
    last_error: str | None = None
    last_delivery_at: datetime | None = Field(
        default=None, description="When a handoff, ticket message or text last reached it through the outbox"
    )
    reply_path: ReplyPathOut | None = None


class ReplySecretIn(BaseModel):
    """The secret of a reply path set up by hand: Zendesk's revealed signing secret, or the X-Frontdesk-Secret value
    given to the Gorgias HTTP integration."""

    model_config = ConfigDict(extra="forbid")

    secret: SecretStr
