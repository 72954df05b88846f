"""FastAPI dependencies every domain's routes share: a database session, the settings and the app's clock.
Who is asking (sign-in, roles, CSRF) is the users domain's: `frontdesk.users.access`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from frontdesk.config import Settings
from frontdesk.db import Database


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    database: Database = request.app.state.database
    async with database.session() as session:
        yield session


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def now_of(request: Request) -> datetime:
    """The app's clock (tests hand in their own); the wall clock when the app was made without one."""
    clock: Callable[[], datetime] | None = getattr(request.app.state, "clock", None)
    return clock() if clock else datetime.now(UTC)
