"""API shapes of the handoff settings."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Method(StrEnum):
    builtin = "builtin"
    zendesk = "zendesk"
    gorgias = "gorgias"
    none = "none"


class HandoffSettingsIn(BaseModel):
    """Fields left out keep their saved value."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    method: Method | None = None
    custom_message: str | None = Field(default=None, max_length=2000)
    offer_text: str | None = Field(default=None, min_length=1, max_length=500)
    yes_text: str | None = Field(default=None, min_length=1, max_length=80)
    no_text: str | None = Field(default=None, min_length=1, max_length=80)
    email_prompt: str | None = Field(default=None, min_length=1, max_length=500)
    auto_response: str | None = Field(default=None, min_length=1, max_length=1000)
    office_hours_message: str | None = Field(default=None, min_length=1, max_length=1000)
    timezone: str | None = Field(default=None, max_length=64)
    office_hours: dict[str, list[list[str]]] | None = None
    holidays: list[str] | None = Field(default=None, max_length=366)

    @model_validator(mode="before")
    @classmethod
    def _no_nulls(cls, data: Any) -> Any:
        """Every setting has a value: a field sent as null is refused (an empty custom message is ""; null is taken
        for it too, as before)."""
        if isinstance(data, dict):
            nulls = sorted(str(name) for name, value in data.items() if value is None and name != "custom_message")
            if nulls:
                raise ValueError(f"{', '.join(nulls)}: null is not a value; leave a field out to keep its saved value")
        return data


class HandoffSettingsOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    method: Method
    custom_message: str
    offer_text: str
    yes_text: str
    no_text: str
    email_prompt: str
    auto_response: str
    office_hours_message: str
    timezone: str
    office_hours: dict[str, list[list[str]]]
    holidays: list[str]


class CustomMessagePreviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    custom_message: str = Field(max_length=2000)


class CustomMessagePreviewOut(BaseModel):
    custom_message: str = Field(description="The message as it would be saved and shown to the shopper")
