"""Input a careless or hostile caller sends: each is refused with a 4xx that says what is wrong, never a 500, and
changes nothing. (The schemathesis run in tests/test_openapi_fuzz.py looks for more of these.)"""

from __future__ import annotations

import io
import zipfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI

from frontdesk.app import create_app
from frontdesk.config import Settings
from frontdesk.users import service as users
from tests.server import ADMIN_HEADERS

HUGE = "99999999999999999999999"
HANDOFF_FIELDS = ["method", "offer_text", "yes_text", "no_text", "email_prompt", "auto_response",
                  "office_hours_message", "timezone", "office_hours", "holidays"]  # fmt: skip


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    app = create_app(settings.model_copy(update={"run_worker": False}))
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def admin(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The API token's client."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver", headers=ADMIN_HEADERS) as http:
        yield http


@pytest.fixture
async def browser(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A store admin signed in to the console (its pages take the session cookie, not the API token)."""
    now = datetime.now(UTC)
    async with app.state.database.session() as session:
        user = await users.create_user(session, "owner@shop.example", "admin", "correct horse battery")
        token = await users.start_session(session, user, now)
        await session.commit()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        http.cookies.set(users.COOKIE, token)
        yield http


def detail_text(response: httpx.Response) -> str:
    return str(response.json()["detail"])


@pytest.mark.parametrize("field", HANDOFF_FIELDS)
async def test_a_handoff_setting_sent_as_null_is_refused_and_the_saved_one_kept(
    admin: httpx.AsyncClient, field: str
) -> None:
    before = (await admin.get("/api/settings/handoff")).json()

    response = await admin.put("/api/settings/handoff", json={field: None})

    assert response.status_code == 422, response.text
    assert field in detail_text(response) and "null" in detail_text(response)
    assert (await admin.get("/api/settings/handoff")).json() == before


async def test_a_null_custom_message_still_means_an_empty_one(admin: httpx.AsyncClient) -> None:
    response = await admin.put("/api/settings/handoff", json={"custom_message": None})
    assert response.status_code == 200, response.text
    assert response.json()["custom_message"] == ""


async def test_a_console_page_number_past_any_integer_is_refused(browser: httpx.AsyncClient) -> None:
    assert (await browser.get("/console/knowledge?page=2")).status_code == 200
    response = await browser.get(f"/console/knowledge?page={HUGE}")
    assert response.status_code == 422
    assert "page" in response.text


@pytest.mark.parametrize(
    "path",
    [f"/api/knowledge?offset={HUGE}", "/api/knowledge?offset=2147483648", f"/api/knowledge/{HUGE}",
     "/api/knowledge/9223372036854775808", f"/console/knowledge/{HUGE}"],
)  # fmt: skip
async def test_a_number_larger_than_the_database_holds_is_a_422_not_an_overflow(
    admin: httpx.AsyncClient, browser: httpx.AsyncClient, path: str
) -> None:
    client = browser if path.startswith("/console") else admin
    response = await client.get(path)
    assert response.status_code == 422, response.text
    assert "less than or equal to 2147483647" in response.text


async def test_retrying_an_outbox_row_with_a_huge_id_is_a_422(admin: httpx.AsyncClient) -> None:
    response = await admin.post(f"/api/outbox/{HUGE}/retry")
    assert response.status_code == 422, response.text


@pytest.mark.parametrize(
    ("filename", "says"),
    [("a\x00b.csv", "control characters"), ("a\nb.csv", "control characters"),
     ("a" * 296 + ".csv", "at most 200 characters"), ("é" * 150 + ".csv", "at most 200 characters")],
)  # fmt: skip
async def test_an_import_file_name_that_cannot_be_a_file_is_refused(
    admin: httpx.AsyncClient, filename: str, says: str
) -> None:
    response = await admin.post(
        "/api/knowledge/import", params={"filename": filename}, content=b"question,answer\nHi?,Hello.\n"
    )
    assert response.status_code == 422, response.text
    assert says in detail_text(response)
    assert (await admin.get("/api/knowledge")).json()["total"] == 0


def zipped(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


@pytest.mark.parametrize("member", ["help/" + "a" * 297 + ".md", "help/" + "deep/" * 900 + "page.md"])
async def test_a_zip_member_whose_name_cannot_be_unpacked_is_refused_and_nothing_imported(
    admin: httpx.AsyncClient, member: str
) -> None:
    content = zipped({"help/shipping.md": "# Shipping\n\nWe ship worldwide.\n", member: "# Long\n\nName.\n"})

    response = await admin.post("/api/knowledge/import", params={"filename": "help.zip"}, content=content)

    assert response.status_code == 422, response.text
    assert "help.zip" in detail_text(response)
    assert (await admin.get("/api/knowledge")).json()["total"] == 0
