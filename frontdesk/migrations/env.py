"""Alembic environment: runs migrations over the async engine of the configured URL."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from frontdesk import credentials as _credentials_models  # noqa: F401
from frontdesk.channels.sms import models as _sms_models  # noqa: F401  (each import registers tables)
from frontdesk.channels.webchat import models as _webchat_models  # noqa: F401
from frontdesk.db import Base
from frontdesk.handoff import models as _handoff_models  # noqa: F401
from frontdesk.inbox import models as _inbox_models  # noqa: F401
from frontdesk.knowledge import models as _knowledge_models  # noqa: F401
from frontdesk.outbox import models as _outbox_models  # noqa: F401
from frontdesk.transcripts import models as _conversations_models  # noqa: F401
from frontdesk.users import models as _users_models  # noqa: F401

target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    engine = create_async_engine(context.config.get_main_option("sqlalchemy.url") or "")
    async with engine.connect() as connection:
        await connection.run_sync(_run)
    await engine.dispose()


if context.is_offline_mode():
    context.configure(url=context.config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_async())
