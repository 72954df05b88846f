"""Request bodies are bounded while they stream in, and an admin route refuses a stranger before reading a byte."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI

from frontdesk.app import create_app
from frontdesk.config import Settings
from frontdesk.db import Database
from frontdesk.users import service as users
from tests.server import ADMIN_HEADERS

LIMIT = 100_000
UPLOAD_LIMIT = 2 * 1024 * 1024
CHUNK = 16 * 1024


@dataclass
class Sender:
    """A body sent in chunks, counting how much of it the server pulled."""

    total: int
    chunk: bytes = b"x" * CHUNK
    pulled: int = 0

    async def stream(self) -> AsyncIterator[bytes]:
        while self.pulled < self.total:
            self.pulled += len(self.chunk)
            yield self.chunk


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    settings.max_body_bytes = LIMIT
    settings.max_upload_bytes = UPLOAD_LIMIT
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


def caller(app: FastAPI, headers: dict[str, str] | None = None) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver", headers=headers)


@pytest.mark.parametrize("path", ["/webhooks/zendesk", "/webhooks/gorgias", "/channels/sms/twilio"])
async def test_a_chunked_webhook_body_past_the_limit_is_refused_without_reading_the_rest(
    app: FastAPI, path: str
) -> None:
    body = Sender(total=40 * 1024 * 1024)
    async with caller(app) as http:
        response = await http.post(path, content=body.stream(), headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.json() == {"detail": "the request body is larger than 100,000 bytes"}
    assert body.pulled <= LIMIT + CHUNK


async def test_a_declared_length_past_the_limit_is_refused_before_a_byte_is_read(app: FastAPI) -> None:
    body = Sender(total=40 * 1024 * 1024)
    async with caller(app) as http:
        response = await http.post(
            "/webhooks/zendesk", content=body.stream(), headers={"Content-Length": str(body.total)}
        )
    assert response.status_code == 413
    assert "larger than" in response.json()["detail"]
    assert body.pulled == 0


async def test_a_signed_out_json_body_gets_401_before_it_is_read(app: FastAPI) -> None:
    entry = json.dumps({"kind": "faq", "title": "Do you ship?", "body": "y" * (LIMIT // 2)}).encode()
    pulled = 0

    async def stream() -> AsyncIterator[bytes]:
        nonlocal pulled
        for start in range(0, len(entry), CHUNK):
            pulled += 1
            yield entry[start : start + CHUNK]

    async with caller(app) as http:
        response = await http.post("/api/knowledge", content=stream(), headers={"Content-Type": "application/json"})
        assert response.status_code == 401
        assert pulled == 0
        assert (await http.get("/api/knowledge", headers=ADMIN_HEADERS)).json()["total"] == 0


async def test_a_signed_out_body_past_the_limit_reads_nothing_either(app: FastAPI) -> None:
    body = Sender(total=28 * 1024 * 1024)
    async with caller(app) as http:
        response = await http.post(
            "/api/knowledge", content=body.stream(), headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 401
    assert body.pulled == 0


async def test_an_agent_gets_403_on_an_admin_route_before_its_body_is_read(app: FastAPI, database: Database) -> None:
    now = datetime.now(UTC)
    async with database.session() as session:
        agent = await users.create_user(session, "bo@example.com", "agent", "a long agent password")
        token = await users.start_session(session, agent, now)
        found = await users.session_of(session, token, now)
    assert found is not None
    signed_in = {"Cookie": f"{users.COOKIE}={token}", "X-CSRF-Token": found[1].csrf_token}
    body = Sender(total=LIMIT // 2)
    async with caller(app, signed_in) as http:
        response = await http.post(
            "/api/knowledge", content=body.stream(), headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 403
    assert response.json() == {"detail": "this needs the admin role"}
    assert body.pulled == 0


async def test_the_admin_still_saves_an_entry_within_the_limit(app: FastAPI) -> None:
    async with caller(app, ADMIN_HEADERS) as http:
        response = await http.post("/api/knowledge", json={"kind": "faq", "title": "Do you ship?", "body": "Yes."})
    assert response.status_code == 201


async def test_an_import_may_be_larger_than_other_bodies_up_to_its_own_limit(app: FastAPI) -> None:
    rows = "".join(f"Question number {n}?,{'An answer. ' * 20}\n" for n in range(800))
    csv = ("question,answer\n" + rows).encode()
    assert LIMIT < len(csv) < UPLOAD_LIMIT
    async with caller(app, ADMIN_HEADERS) as http:
        response = await http.post("/api/knowledge/import", params={"filename": "faq.csv"}, content=csv)
        assert response.status_code == 200, response.text
        assert (await http.get("/api/knowledge")).json()["total"] == 800


async def test_an_import_past_its_limit_is_refused_without_reading_the_rest(app: FastAPI) -> None:
    body = Sender(total=40 * 1024 * 1024)
    async with caller(app, ADMIN_HEADERS) as http:
        response = await http.post("/api/knowledge/import", params={"filename": "faq.csv"}, content=body.stream())
    assert response.status_code == 413
    assert response.json() == {"detail": "the request body is larger than 2 MB"}
    assert body.pulled <= UPLOAD_LIMIT + CHUNK
