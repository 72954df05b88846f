"""The migrations build exactly the tables, columns and indexes the models declare (no drift either way)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from frontdesk import credentials as _integrations  # noqa: F401
from frontdesk.channels.sms import models as _sms  # noqa: F401  (each import registers its tables)
from frontdesk.channels.webchat import models as _webchat  # noqa: F401
from frontdesk.db import Base, migrate
from frontdesk.handoff import models as _handoff  # noqa: F401
from frontdesk.inbox import models as _inbox  # noqa: F401
from frontdesk.knowledge import models as _knowledge  # noqa: F401
from frontdesk.outbox import models as _outbox  # noqa: F401
from frontdesk.transcripts import models as _conversations  # noqa: F401
from frontdesk.users import models as _users  # noqa: F401


def test_migrating_a_new_database_gives_what_the_models_declare(tmp_path: Path) -> None:
    migrate(f"sqlite+aiosqlite:///{tmp_path}/fresh.db")
    engine = create_engine(f"sqlite:///{tmp_path}/fresh.db")
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    engine.dispose()
    assert differences == []


def test_migrating_marks_phone_and_signed_in_profiles_verified_and_typed_emails_not(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/old.db"
    migrate(url, "0008")
    now = "2026-11-30 10:00:00"
    with sqlite3.connect(tmp_path / "old.db") as db:
        for profile, email, phone in [
            ("prof_sms", None, "+15035550100"),
            ("prof_signed", "ana@example.com", None),
            ("prof_typed", "bo@example.com", None),
        ]:
            db.execute(
                "INSERT INTO profiles (id, email, phone, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
                (profile, email, phone, now, now),
            )
        for conversation, profile, signed_in in [("c1", "prof_signed", 1), ("c2", "prof_typed", 0)]:
            db.execute(
                "INSERT INTO conversations (id, channel, status, profile_id, signed_in, handoff_declined, outcome,"
                " questions, answered, small_talk, outcome_reason, last_seq, last_activity_at, version, created_at,"
                " updated_at)"
                " VALUES (?, 'webchat', 'with_team', ?, ?, 0, 'routed_to_team', 1, 0, 0, '', 3, ?, 1, ?, ?)",
                (conversation, profile, signed_in, now, now, now),
            )
    migrate(url)
    with sqlite3.connect(tmp_path / "old.db") as db:
        verified = dict(db.execute("SELECT id, verified FROM profiles").fetchall())
        assert verified == {"prof_sms": 1, "prof_signed": 1, "prof_typed": 0}
        # Ana's typed email can now have a profile of its own beside her verified one.
        db.execute(
            "INSERT INTO profiles (id, email, verified, created_at, updated_at) VALUES (?, ?, 0, ?, ?)",
            ("prof_ana_typed", "ana@example.com", now, now),
        )
