"""API shapes of the widget settings."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class WidgetSettingsIn(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    store_name: str | None = Field(default=None, min_length=1, max_length=120)
    greeting: str | None = Field(default=None, min_length=1, max_length=500)
    colour: str | None = Field(default=None, pattern=r"^#[0-9a-fA-F]{6}$")
    store_url: str | None = Field(
        default=None, max_length=2000, pattern=r"^https?://[^\s/?#]+[^\s]*$",
        description="The store's site (https://…): links of the knowledge that are relative (products) point there",
    )  # fmt: skip


class WidgetSettingsOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    store_name: str
    greeting: str
    colour: str
    store_url: str | None
    identity_verification: bool = Field(description="Whether an identity secret is set (the secret is never shown)")


class IdentitySecretOut(BaseModel):
    identity_secret: str = Field(description="Shown once: keep it on your server to sign shoppers' emails")
