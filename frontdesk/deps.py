"""FastAPI dependencies: what a route may ask for, taken from the app's state."""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator

from fastapi import HTTPException, Request, status
from sqlalchemy.ext.asyncio import AsyncSession

from frontdesk.config import Settings
from frontdesk.db import Database
from frontdesk.knowledge.service import Knowledge


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    database: Database = request.app.state.database
    async with database.session() as session:
        yield session


def get_knowledge(request: Request) -> Knowledge:
    return request.app.state.knowledge


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def require_api_token(request: Request) -> None:
    """The admin API's guard until sign-in exists: a bearer token, compared in constant time, when one is set."""
    settings: Settings = request.app.state.settings
    if settings.api_token is None:
        return
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    expected = settings.api_token.get_secret_value()
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), expected.encode()):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "a valid API token is needed", headers={"WWW-Authenticate": "Bearer"}
        )
