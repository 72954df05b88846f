"""Every moment the API returns carries its offset, UTC, on SQLite as on PostgreSQL (SQLite keeps none of its own)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import httpx
from sqlalchemy import DateTime

from frontdesk.db import Database
from frontdesk.users import service as users
from tests.metrics.conftest import add_conversation

BERLIN_WINTER = timezone(timedelta(hours=2))


def moments(value: object) -> Iterator[tuple[str, datetime]]:
    """Each string in a JSON document that reads as an ISO 8601 date and time, with what it reads as."""
    if isinstance(value, dict):
        for item in value.values():
            yield from moments(item)
    elif isinstance(value, list):
        for item in value:
            yield from moments(item)
    elif isinstance(value, str) and len(value) >= 19 and value[4] == "-" and value[10] == "T":
        try:
            yield value, datetime.fromisoformat(value)
        except ValueError:
            return


def assert_all_utc(document: object, expected: int) -> list[datetime]:
    found = list(moments(document))
    assert len(found) >= expected, document
    for text, moment in found:
        assert moment.tzinfo is not None and moment.utcoffset() == timedelta(0), f"{text} has no UTC offset"
    return [moment for _, moment in found]


async def test_knowledge_entries_return_their_times_in_utc(client: httpx.AsyncClient) -> None:
    created = await client.post("/api/knowledge", json={"kind": "faq", "title": "Do you ship?", "body": "Yes."})
    assert created.status_code == 201
    assert_all_utc(created.json(), expected=2)
    listed = await client.get("/api/knowledge")
    assert_all_utc(listed.json(), expected=2)


async def test_a_conversation_returns_its_times_in_utc_whatever_zone_they_were_written_in(
    client: httpx.AsyncClient, database: Database
) -> None:
    started = datetime(2026, 12, 4, 5, 0, tzinfo=BERLIN_WINTER)
    conversation_id = await add_conversation(
        database, started, "resolved", [("shopper", "Do you ship?", "answer"), ("ai", "Yes.", None)]
    )
    response = await client.get(f"/api/conversations/{conversation_id}")
    assert response.status_code == 200
    body = response.json()
    assert_all_utc(body, expected=3)
    assert datetime.fromisoformat(body["created_at"]) == datetime(2026, 12, 4, 3, 0, tzinfo=UTC)
    assert [datetime.fromisoformat(m["at"]) for m in body["messages"]] == [
        datetime(2026, 12, 4, 3, 0, 1, tzinfo=UTC),
        datetime(2026, 12, 4, 3, 0, 2, tzinfo=UTC),
    ]


async def test_users_return_their_times_in_utc(client: httpx.AsyncClient, database: Database) -> None:
    async with database.session() as session:
        await users.create_user(session, "ada@example.com", "admin", "correct horse battery staple", name="Ada")
        await session.commit()
    response = await client.get("/api/users")
    assert response.status_code == 200
    assert_all_utc(response.json(), expected=1)


def test_every_stored_moment_is_read_back_in_utc() -> None:
    """A column declared as a plain DateTime would come back naive from SQLite: the API would lose the offset again."""
    import frontdesk.app  # noqa: F401  (every domain's tables)
    from frontdesk.db import Base, UTCDateTime

    plain = [
        f"{table.name}.{column.name}"
        for table in Base.metadata.tables.values()
        for column in table.columns
        if isinstance(column.type, DateTime) and not isinstance(column.type, UTCDateTime)
    ]
    assert plain == []
