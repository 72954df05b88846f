"""FastAPI dependencies: what a route may ask for, taken from the app's state."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import Request
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
