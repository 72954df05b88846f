"""What the users API shows: never a password hash, never a session token."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    name: str
    role: str
    active: bool
    away: bool
    last_sign_in_at: datetime | None
    created_at: datetime


class PrincipalOut(BaseModel):
    """Who is signed in, for the inbox page's script: it sends csrf_token back in X-CSRF-Token."""

    user_id: int | None
    email: str
    name: str
    role: str
    csrf_token: str | None
