"""Signing in as the store's team sees it: the form, the cookie, lockouts, sign-out, roles and CSRF."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

import httpx
import pytest
from argon2 import PasswordHasher
from fastapi import Depends, FastAPI, Response
from fastapi.responses import PlainTextResponse
from typer.testing import CliRunner

from frontdesk.app import create_app
from frontdesk.cli import app as cli
from frontdesk.config import Settings
from frontdesk.db import Database
from frontdesk.users import service
from frontdesk.users.access import Principal, admin_page
from tests.server import ADMIN_HEADERS

ADMIN = ("ada@shop.example", "a long admin password")
AGENT = ("bo@shop.example", "a long agent password")
runner = CliRunner()


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class Shop:
    app: FastAPI
    clock: Clock

    def browser(self, ip: str = "127.0.0.1") -> httpx.AsyncClient:
        """A browser of its own, at the IP address `ip`: no API token, its own cookies."""
        transport = httpx.ASGITransport(app=self.app, client=(ip, 50000))
        return httpx.AsyncClient(transport=transport, base_url="http://testserver")

    def api(self) -> httpx.AsyncClient:
        """The admin's script, with the API token."""
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://testserver", headers=ADMIN_HEADERS
        )


@pytest.fixture
async def shop(settings: Settings, database: Database) -> AsyncIterator[Shop]:
    async with database.session() as session:
        await service.create_user(session, ADMIN[0], "admin", ADMIN[1], name="Ada")
        await service.create_user(session, AGENT[0], "agent", AGENT[1], name="Bo")
    clock = Clock()
    app = create_app(settings, clock=clock)
    async with app.router.lifespan_context(app):
        yield Shop(app, clock)


def form_csrf(page: httpx.Response) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


async def sign_in(browser: httpx.AsyncClient, email: str, password: str, next: str = "/inbox") -> httpx.Response:
    form = await browser.get("/signin", params={"next": next})
    data = {"email": email, "password": password, "csrf_token": form_csrf(form), "next": next}
    return await browser.post("/signin", data=data)


async def test_the_right_password_signs_in_with_a_session_cookie(shop: Shop) -> None:
    async with shop.browser() as browser:
        signed_in = await sign_in(browser, *ADMIN)
        assert signed_in.status_code == 303
        assert signed_in.headers["location"] == "/inbox"
        cookie = signed_in.headers["set-cookie"]
        assert "frontdesk_session=" in cookie
        assert "HttpOnly" in cookie
        assert "SameSite=lax" in cookie
        me = (await browser.get("/api/me")).json()
        assert (me["email"], me["role"], me["name"]) == ("ada@shop.example", "admin", "Ada")
        assert len(me["csrf_token"]) >= 32


async def test_a_wrong_password_shows_the_form_again_with_an_error_and_no_cookie(shop: Shop) -> None:
    async with shop.browser() as browser:
        refused = await sign_in(browser, ADMIN[0], "not the password")
        assert refused.status_code == 400
        assert "wrong email or password" in refused.text
        assert 'name="password"' in refused.text
        assert "frontdesk_session" not in browser.cookies
        assert (await browser.get("/api/me")).status_code == 401
        unknown = await sign_in(browser, "nobody@shop.example", "not the password")
        assert "wrong email or password" in unknown.text


async def test_five_wrong_passwords_lock_the_account_for_a_while_even_for_the_right_one(shop: Shop) -> None:
    async with shop.browser() as browser:
        for _ in range(5):
            await sign_in(browser, AGENT[0], "a wrong guess!")
        locked = await sign_in(browser, *AGENT)
        assert locked.status_code == 429
        assert locked.headers["retry-after"] == "30"
        assert "try again in 30 seconds" in locked.text
        assert "frontdesk_session" not in browser.cookies

        shop.clock.advance(seconds=31)
        another_wrong = await sign_in(browser, AGENT[0], "a wrong guess!")
        assert another_wrong.headers["retry-after"] == "60"  # the delay doubles with each further failure

        shop.clock.advance(seconds=61)
        assert (await sign_in(browser, *AGENT)).status_code == 303
        await browser.post("/signout", headers={"X-CSRF-Token": (await browser.get("/api/me")).json()["csrf_token"]})
        # The success forgave the failures: one wrong password does not lock again.
        assert (await sign_in(browser, AGENT[0], "a wrong guess!")).status_code == 400


async def test_the_lockout_does_not_tell_which_accounts_exist(shop: Shop) -> None:
    async def answers(email: str) -> list[tuple[int, str | None, str]]:
        seen = []
        async with shop.browser() as browser:
            for _ in range(7):
                response = await sign_in(browser, email, "a wrong guess!")
                message = re.search(r"(wrong email or password|too many failed sign-ins[^<]*)", response.text)
                seen.append((response.status_code, response.headers.get("retry-after"), message and message[0]))
        return seen

    known, nobody = await answers(AGENT[0]), await answers("nobody-here@shop.example")
    assert known == nobody
    assert known[4] == (429, "30", "too many failed sign-ins: try again in 30 seconds")
    assert known[5][0] == 429  # still locked: the guess is not even checked


async def test_wrong_passwords_from_one_ip_address_do_not_lock_the_account_for_another(shop: Shop) -> None:
    async with shop.browser("203.0.113.7") as attacker, shop.browser("198.51.100.20") as colleague:
        for _ in range(6):
            await sign_in(attacker, AGENT[0], "a wrong guess!")
        assert (await sign_in(attacker, *AGENT)).status_code == 429  # locked: from there
        signed_in = await sign_in(colleague, *AGENT)
        assert signed_in.status_code == 303
        assert (await colleague.get("/api/me")).json()["email"] == AGENT[0]
        assert (await sign_in(attacker, *AGENT)).status_code == 429  # her success forgave nobody else's failures


async def test_one_ip_address_gets_twenty_attempts_then_ten_a_minute(shop: Shop) -> None:
    async with shop.browser("203.0.113.7") as sprayer, shop.browser("198.51.100.20") as other:
        # A different address each time: no lockout of a pair, only the address's allowance runs out.
        for n in range(20):
            assert (await sign_in(sprayer, f"guess{n}@shop.example", "a wrong guess!")).status_code == 400
        refused = await sign_in(sprayer, *ADMIN)
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "6"
        assert "too many sign-in attempts from your address: try again in 6 seconds" in refused.text
        assert "frontdesk_session" not in sprayer.cookies
        assert (await sign_in(other, *ADMIN)).status_code == 303  # another address is not held back

        shop.clock.advance(seconds=6)
        assert (await sign_in(sprayer, "guess-again@shop.example", "a wrong guess!")).status_code == 400
        assert (await sign_in(sprayer, *ADMIN)).status_code == 429


async def test_a_whole_office_behind_one_address_signs_in_as_often_as_it_likes(shop: Shop) -> None:
    for _ in range(21):  # successes do not use up the address's attempts
        async with shop.browser("192.0.2.44") as office:
            assert (await sign_in(office, *AGENT)).status_code == 303


class HeldHasher(PasswordHasher):
    """argon2 that waits in `verify` until the test lets it go, to hold sign-ins in flight."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Semaphore(0)
        self.release = threading.Event()

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        self.entered.release()
        # Only a safety net: without the fix this runs on the event loop and holds everything for 10 s.
        self.release.wait(timeout=10)
        return super().verify(hash, password)


async def test_health_answers_while_sign_ins_are_hashing(shop: Shop) -> None:
    hasher = HeldHasher()
    shop.app.state.sign_ins.hasher = hasher
    async with shop.browser() as browser, shop.api() as api:
        forms = [form_csrf(await browser.get("/signin")) for _ in range(6)]
        attempts = [
            asyncio.create_task(
                browser.post(
                    "/signin", data={"email": f"nobody{n}@shop.example", "password": "a guess!", "csrf_token": csrf}
                )
            )
            for n, csrf in enumerate(forms)
        ]
        await asyncio.to_thread(hasher.entered.acquire, timeout=10)  # the first sign-in is hashing
        health = await api.get("/healthz")
        assert health.status_code == 200
        assert not any(attempt.done() for attempt in attempts)  # health answered while all six were in flight
        hasher.release.set()
        refused = await asyncio.gather(*attempts)
    assert [r.status_code for r in refused] == [400] * 6
    assert all("wrong email or password" in r.text for r in refused)


async def test_signing_out_ends_the_session_on_the_server(shop: Shop) -> None:
    async with shop.browser() as browser:
        await sign_in(browser, *ADMIN)
        old_cookie = browser.cookies["frontdesk_session"]
        csrf = (await browser.get("/api/me")).json()["csrf_token"]
        page = await browser.get("/api/me")
        assert page.status_code == 200
        out = await browser.post("/signout", data={"csrf_token": csrf})
        assert out.status_code == 303
        assert out.headers["location"] == "/signin"
    async with shop.browser() as replay:
        replay.cookies.set("frontdesk_session", old_cookie)
        assert (await replay.get("/api/me")).status_code == 401
        assert (await replay.get("/api/knowledge")).status_code == 401


async def test_a_session_expires_after_twelve_hours(shop: Shop) -> None:
    async with shop.browser() as browser:
        await sign_in(browser, *AGENT)
        shop.clock.advance(hours=11, minutes=59)
        assert (await browser.get("/api/me")).status_code == 200
        shop.clock.advance(minutes=2)
        assert (await browser.get("/api/me")).json() == {"detail": "sign in first"}


async def test_signed_out_requests_to_admin_routes_get_401_and_change_nothing(shop: Shop) -> None:
    async with shop.browser() as browser, shop.api() as api:
        before = (await api.get("/api/settings/handoff")).json()
        refused = await browser.put("/api/settings/handoff", json={"timezone": "America/Los_Angeles"})
        assert refused.status_code == 401
        assert refused.json() == {"detail": "sign in first"}
        assert (await browser.get("/api/knowledge")).status_code == 401
        assert (
            await browser.post("/api/knowledge", json={"kind": "faq", "title": "Q?", "body": "A"})
        ).status_code == 401
        assert (await api.get("/api/settings/handoff")).json() == before
        assert (await api.get("/api/knowledge")).json()["total"] == 0


async def test_an_agent_cannot_change_settings_or_knowledge(shop: Shop) -> None:
    async with shop.browser() as browser, shop.api() as api:
        await sign_in(browser, *AGENT)
        csrf = {"X-CSRF-Token": (await browser.get("/api/me")).json()["csrf_token"]}
        refused = await browser.put("/api/settings/handoff", json={"timezone": "America/Los_Angeles"}, headers=csrf)
        assert refused.status_code == 403
        assert refused.json() == {"detail": "this needs the admin role"}
        faq = {"kind": "faq", "title": "Do you ship to Mars?", "body": "No."}
        assert (await browser.post("/api/knowledge", json=faq, headers=csrf)).status_code == 403
        assert (await api.get("/api/settings/handoff")).json()["timezone"] != "America/Los_Angeles"
        assert (await api.get("/api/knowledge")).json()["total"] == 0
        assert (await browser.get("/api/users")).status_code == 403


async def test_a_cookie_write_without_the_right_csrf_token_is_refused_and_changes_nothing(shop: Shop) -> None:
    async with shop.browser() as browser, shop.api() as api:
        await sign_in(browser, *ADMIN)
        change = {"timezone": "America/Los_Angeles"}
        missing = await browser.put("/api/settings/handoff", json=change)
        forged = await browser.put("/api/settings/handoff", json=change, headers={"X-CSRF-Token": "forged-token"})
        for refused in (missing, forged):
            assert refused.status_code == 403
            assert refused.json() == {"detail": "missing or wrong CSRF token"}
        assert (await api.get("/api/settings/handoff")).json()["timezone"] != "America/Los_Angeles"

        csrf = (await browser.get("/api/me")).json()["csrf_token"]
        saved = await browser.put("/api/settings/handoff", json=change, headers={"X-CSRF-Token": csrf})
        assert saved.status_code == 200, saved.text
        assert (await api.get("/api/settings/handoff")).json()["timezone"] == "America/Los_Angeles"


async def test_a_sign_in_form_posted_without_its_csrf_cookie_is_refused(shop: Shop) -> None:
    async with shop.browser() as browser:
        form = await browser.get("/signin")
        token = form_csrf(form)
        browser.cookies.clear()  # what a form posted from another site looks like: no SameSite=Strict cookie
        refused = await browser.post("/signin", data={"email": ADMIN[0], "password": ADMIN[1], "csrf_token": token})
        assert refused.status_code == 400
        assert "sign-in form expired" in refused.text
        assert "frontdesk_session" not in browser.cookies
        mismatched = await sign_in_with_token(browser, "not-the-cookie")
        assert mismatched.status_code == 400


async def sign_in_with_token(browser: httpx.AsyncClient, token: str) -> httpx.Response:
    await browser.get("/signin")
    return await browser.post("/signin", data={"email": ADMIN[0], "password": ADMIN[1], "csrf_token": token})


@pytest.mark.parametrize("target", ["//evil.example", "https://evil.example/", "/\\evil.example", "inbox"])
async def test_sign_in_only_returns_to_a_page_of_this_site(shop: Shop, target: str) -> None:
    async with shop.browser() as browser:
        signed_in = await sign_in(browser, *ADMIN, next=target)
        assert signed_in.headers["location"] == "/inbox"


async def test_a_page_sends_a_signed_out_visitor_to_sign_in_and_back(shop: Shop) -> None:
    @shop.app.get("/team/report")
    async def report(principal: Annotated[Principal, Depends(admin_page)]) -> Response:
        return PlainTextResponse(f"hello {principal.email}")

    async with shop.browser() as browser:
        asked = await browser.get("/team/report", params={"week": "9"})
        assert asked.status_code == 303
        assert asked.headers["location"] == "/signin?next=/team/report%3Fweek%3D9"
        signed_in = await sign_in(browser, *ADMIN, next="/team/report?week=9")
        assert signed_in.headers["location"] == "/team/report?week=9"
        assert (await browser.get("/team/report", params={"week": "9"})).text == f"hello {ADMIN[0]}"
    async with shop.browser() as browser:
        await sign_in(browser, *AGENT)
        refused = await browser.get("/team/report")
        assert refused.status_code == 403
        assert "needs the admin role" in refused.text
        assert 'lang="en"' in refused.text


async def test_the_admin_sees_the_team_without_password_hashes(shop: Shop) -> None:
    async with shop.browser() as browser:
        await sign_in(browser, *ADMIN)
        team = await browser.get("/api/users")
        assert [(u["email"], u["role"]) for u in team.json()] == [(ADMIN[0], "admin"), (AGENT[0], "agent")]
        assert "argon2" not in team.text
        assert "password" not in team.text


async def test_a_deactivated_user_is_signed_out_and_cannot_sign_in(shop: Shop, database: Database) -> None:
    async with shop.browser() as browser:
        await sign_in(browser, *AGENT)
        async with database.session() as session:
            agent = next(u for u in await service.list_users(session) if u.email == AGENT[0])
            agent.active = False
            await session.commit()
        assert (await browser.get("/api/me")).status_code == 401
        refused = await sign_in(browser, *AGENT)
        assert refused.status_code == 400
        assert "deactivated" in refused.text


def test_users_create_from_stdin_makes_a_user_who_can_sign_in(settings: Settings) -> None:
    created = runner.invoke(
        cli, ["users", "create", "Cy@Shop.Example", "--role", "agent", "--name", "Cy", "--password-stdin"],
        input="a long enough password\n",
    )  # fmt: skip
    assert created.exit_code == 0, created.output
    assert "created agent cy@shop.example" in created.output
    listed = runner.invoke(cli, ["users", "list"])
    assert "cy@shop.example" in listed.output

    async def sign_in_as_cy() -> dict[str, object]:
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            shop = Shop(app, Clock())
            async with shop.browser() as browser:
                assert (await sign_in(browser, "cy@shop.example", "a long enough password")).status_code == 303
                me: dict[str, object] = (await browser.get("/api/me")).json()
                return me

    assert asyncio.run(sign_in_as_cy())["role"] == "agent"


@pytest.mark.parametrize(
    ("arguments", "password", "message"),
    [
        (["dee@shop.example", "--role", "agent"], "too short", "at least 10 characters"),
        (["dee@shop.example", "--role", "agent"], "aaaaaaaaaa", 'too easy to guess: Repeats like "aaa"'),
        (["dee@shop.example", "--role", "agent"], "password123", "too easy to guess: This is a very common password"),
        (["dee@shop.example", "--role", "agent"], "qwertyuiop", "too easy to guess: This is a top-100 common"),
        (["dee@shop.example", "--role", "agent"], "Password2026!", "too easy to guess"),
        (["dee@shop.example", "--role", "agent", "--name", "Dee Dee"], "dee@shop.example", "too easy to guess"),
        (["not-an-email", "--role", "agent"], "a long enough password", "not a valid email address"),
        (["dee@shop.example", "--role", "owner"], "a long enough password", "must be admin or agent"),
    ],
)
def test_users_create_says_what_is_wrong_and_creates_nobody(
    settings: Settings, arguments: list[str], password: str, message: str
) -> None:
    result = runner.invoke(cli, ["users", "create", *arguments, "--password-stdin"], input=f"{password}\n")
    assert result.exit_code == 1
    assert message in result.output
    assert "dee@shop.example" not in runner.invoke(cli, ["users", "list"]).output


def test_users_create_refuses_a_second_user_with_the_same_email(settings: Settings) -> None:
    first = ["users", "create", "eve@shop.example", "--role", "admin", "--password-stdin"]
    assert runner.invoke(cli, first, input="a long enough password\n").exit_code == 0
    again = runner.invoke(cli, [*first[:2], "EVE@shop.example", *first[3:]], input="another long password\n")
    assert again.exit_code == 1
    assert "already exists" in again.output


def test_reset_password_prints_a_new_one_that_signs_in_and_ends_the_old_sessions(settings: Settings) -> None:
    made = ["users", "create", "fay@shop.example", "--role", "admin", "--password-stdin"]
    assert runner.invoke(cli, made, input="a long enough password\n").exit_code == 0

    async def signed_in_browser_survives(old: str) -> bool:
        app = create_app(settings)
        async with app.router.lifespan_context(app), Shop(app, Clock()).browser() as browser:
            assert (await sign_in(browser, "fay@shop.example", old)).status_code == 303
            reset = await asyncio.to_thread(runner.invoke, cli, ["users", "reset-password", "FAY@shop.example"])
            assert reset.exit_code == 0, reset.output
            new = re.search(r"new password for fay@shop\.example: (\S+)", reset.output)
            assert new, reset.output
            signed_out = (await browser.get("/api/me")).status_code == 401
            assert (await sign_in(browser, "fay@shop.example", old)).status_code == 400
            assert (await sign_in(browser, "fay@shop.example", new.group(1))).status_code == 303
            return not signed_out

    assert asyncio.run(signed_in_browser_survives("a long enough password")) is False


@pytest.mark.parametrize(
    ("email", "password", "message"),
    [
        ("nobody@shop.example", "a long enough password", "no user has the email nobody@shop.example"),
        ("gus@shop.example", "aaaaaaaaaa", "too easy to guess"),
    ],
)
def test_reset_password_says_what_is_wrong_and_changes_nothing(
    settings: Settings, email: str, password: str, message: str
) -> None:
    made = ["users", "create", "gus@shop.example", "--role", "agent", "--password-stdin"]
    assert runner.invoke(cli, made, input="a long enough password\n").exit_code == 0
    result = runner.invoke(cli, ["users", "reset-password", email, "--password-stdin"], input=f"{password}\n")
    assert result.exit_code == 1
    assert message in result.output
