"""API shapes of the widget settings."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class WidgetSettingsIn(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    store_name: str | None = Field(default=None, min_length=1, max_length=120)
    greeting: str | None = Field(default=None, min_length=1, max_length=500)
    colour: str | None = Field(default=None, pattern=r"^#[0-9a-fA-F]{6}$")


class WidgetSettingsOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    store_name: str
    greeting: str
    colour: str
    identity_verification: bool = Field(description="Whether an identity secret is set (the secret is never shown)")


class IdentitySecretOut(BaseModel):
    identity_secret: str = Field(description="Shown once: keep it on your server to sign shoppers' emails")
