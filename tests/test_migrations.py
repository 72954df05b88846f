"""The migrations build exactly the tables, columns and indexes the models declare (no drift either way)."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from frontdesk.channels.sms import models as _sms  # noqa: F401  (each import registers its tables)
from frontdesk.channels.webchat import models as _webchat  # noqa: F401
from frontdesk.conversations import models as _conversations  # noqa: F401
from frontdesk.db import Base, migrate
from frontdesk.handoff import models as _handoff  # noqa: F401
from frontdesk.inbox import models as _inbox  # noqa: F401
from frontdesk.integrations import models as _integrations  # noqa: F401
from frontdesk.knowledge import models as _knowledge  # noqa: F401
from frontdesk.users import models as _users  # noqa: F401


def test_migrating_a_new_database_gives_what_the_models_declare(tmp_path: Path) -> None:
    migrate(f"sqlite+aiosqlite:///{tmp_path}/fresh.db")
    engine = create_engine(f"sqlite:///{tmp_path}/fresh.db")
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    engine.dispose()
    assert differences == []
