"""create_app(): the web service — routes, and a lifespan that opens the database and loads the knowledge."""

from __future__ import annotations

import contextlib
import ctypes
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy import text

from frontdesk import __version__
from frontdesk.agent.embedders import load_embedder
from frontdesk.agent.views import router as agent_router
from frontdesk.config import Settings
from frontdesk.db import Database
from frontdesk.knowledge.service import Knowledge
from frontdesk.knowledge.views import router as knowledge_router


def _return_freed_memory() -> None:
    """Hand the heap freed after embedding the whole knowledge back to the OS (glibc keeps it otherwise)."""
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to do
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        database = Database(settings.database_url)
        knowledge = Knowledge(load_embedder(settings.embedder))
        async with database.session() as session:
            await knowledge.load(session)
        _return_freed_memory()
        app.state.settings = settings
        app.state.database = database
        app.state.knowledge = knowledge
        try:
            yield
        finally:
            await database.dispose()

    app = FastAPI(
        title="frontdesk",
        version=__version__,
        description="A self-hosted AI customer agent for online stores: answers from the store's knowledge, "
        "and hands off to people when it does not know.",
        lifespan=lifespan,
    )
    app.include_router(knowledge_router)
    app.include_router(agent_router)

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, object]:
        """Liveness and readiness: the database answers and the knowledge is loaded."""
        async with app.state.database.session() as session:
            await session.execute(text("SELECT 1"))
        return {"status": "ok", "version": __version__, "knowledge_entries": len(app.state.knowledge.entries)}

    return app
