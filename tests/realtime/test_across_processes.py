"""Two `frontdesk serve` processes and two `frontdesk worker` processes on one PostgreSQL database and one Redis:
what one process does, the others see — events, presence, connected shoppers, limits, the sign-in lockout and the
knowledge. Real processes, real WebSockets, a real Redis."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from frontdesk.db import Database
from frontdesk.users import service as users
from tests.channels.webchat.test_protocol import Chat, texts
from tests.realtime.conftest import POSTGRES_URL, _create_own_database, empty, servers
from tests.server import ADMIN_HEADERS, ServerFailed, reset_postgres, running_server

PASSWORD = "correct horse battery staple"
OPEN_CHATS = 4  # web chat connections one address may hold open, on all servers together


@dataclass
class Cluster:
    a: str
    b: str


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    _create_own_database()
    reset_postgres(POSTGRES_URL)
    prefix = f"test-{uuid.uuid4().hex[:12]}:"
    asyncio.run(empty(prefix))
    limits = {"FRONTDESK_MAX_CHATS_PER_IP": str(OPEN_CHATS)}
    with servers(POSTGRES_URL, tmp_path_factory.mktemp("cluster"), prefix, env=limits) as (a, b):
        yield Cluster(a, b)
    asyncio.run(empty(prefix))


@asynccontextmanager
async def shopper(base: str, ip: str, hello: dict[str, Any] | None = None) -> AsyncIterator[tuple[Chat, dict]]:
    url = base.replace("http://", "ws://") + "/ws/webchat"
    async with websockets.connect(url, additional_headers={"X-Forwarded-For": ip}) as socket:
        chat = Chat(socket)
        await chat.send({"type": "hello", **(hello or {})})
        welcome = await chat.until(lambda f: f["type"] == "welcome")
        yield chat, welcome[-1]


async def agent(base: str, email: str) -> httpx.AsyncClient:
    """A team member signed in on `base`: session cookie and CSRF header."""
    database = Database(POSTGRES_URL)
    try:
        async with database.session() as session:
            await users.create_user(session, email, "agent", PASSWORD, name=email.split("@")[0])
            await session.commit()
    finally:
        await database.dispose()
    browser = httpx.AsyncClient(base_url=base)
    assert (await sign_in(browser, email, PASSWORD)).status_code == 303
    browser.headers["X-CSRF-Token"] = (await browser.get("/api/me")).json()["csrf_token"]
    return browser


async def sign_in(browser: httpx.AsyncClient, email: str, password: str, ip: str = "127.0.0.1") -> httpx.Response:
    form = await browser.get("/signin")
    found = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert found, form.text
    data = {"email": email, "password": password, "csrf_token": found.group(1), "next": "/inbox"}
    return await browser.post("/signin", data=data, headers={"X-Forwarded-For": ip})


@asynccontextmanager
async def inbox_page(browser: httpx.AsyncClient) -> AsyncIterator[websockets.ClientConnection]:
    base = str(browser.base_url).rstrip("/")
    cookie = "; ".join(f"{name}={value}" for name, value in browser.cookies.items())
    url = base.replace("http://", "ws://") + "/ws/inbox"
    async with websockets.connect(url, additional_headers={"Cookie": cookie, "Origin": base}) as socket:
        hello = json.loads(await socket.recv())
        assert hello["type"] == "hello"
        yield socket


async def handed_off(chat: Chat, email: str) -> None:
    await chat.send({"type": "message", "text": "can you recommend a campsite near bend oregon?"})
    await chat.until(lambda f: f.get("kind") == "offer", timeout=15)
    await chat.send({"type": "action", "action": "handoff_yes"})
    await chat.until(lambda f: f.get("kind") == "email_request", timeout=15)
    await chat.send({"type": "email", "email": email})
    # A worker process delivers the ticket; its "with the team" event reaches this process through Redis.
    await chat.until(lambda f: f.get("status") == "with_team", timeout=30)


def pending_kinds(base: str, conversation_id: str) -> list[str]:
    rows = httpx.get(f"{base}/api/outbox", params={"status": "pending"}, headers=ADMIN_HEADERS).json()
    return [row["kind"] for row in rows if row.get("conversation_id") == conversation_id]


async def test_an_agent_on_server_b_replies_live_to_a_shopper_on_server_a(cluster: Cluster) -> None:
    ana = await agent(cluster.b, "ana@store.example")
    async with shopper(cluster.a, "198.51.100.1") as (chat, welcome), inbox_page(ana) as page:
        conversation_id = welcome["conversation_id"]
        await handed_off(chat, "shopper-one@example.com")
        # Inbox events reach an agent on the other process: the shopper's message on A shows on B's inbox page.
        await page.send(json.dumps({"type": "watch", "conversation_id": conversation_id}))
        await asyncio.sleep(0.3)
        await chat.send({"type": "message", "text": "are you there?"})
        async with asyncio.timeout(10):
            while True:
                event = json.loads(await page.recv())
                if event.get("type") == "message" and event.get("text") == "are you there?":
                    break
        replied = await ana.post(f"/api/inbox/conversations/{conversation_id}/reply", json={"text": "Hi, Ana here."})
        assert replied.status_code == 201, replied.text
        frames = await chat.until(lambda f: f.get("author") == "agent", timeout=10)
        assert texts(frames, "agent") == ["Hi, Ana here."]
        # B knew the shopper is connected (on A): no email of the reply was queued.
        assert not [k for k in pending_kinds(cluster.b, conversation_id) if k.startswith("reply_email")]
    # Gone from A: a reply through B is queued by email instead.
    await asyncio.sleep(0.5)
    replied = await ana.post(f"/api/inbox/conversations/{conversation_id}/reply", json={"text": "Still there?"})
    assert replied.status_code == 201
    assert [k for k in pending_kinds(cluster.b, conversation_id) if k.startswith("reply_email")]
    await ana.aclose()


async def test_an_agent_with_the_inbox_open_on_b_is_online_on_a(cluster: Cluster) -> None:
    bo = await agent(cluster.b, "bo@store.example")
    watcher = await agent(cluster.a, "cy@store.example")
    assert (await watcher.get("/api/inbox/availability")).json()["online"] == 0
    async with inbox_page(bo):
        assert (await watcher.get("/api/inbox/availability")).json()["online"] == 1
        assert (await bo.put("/api/inbox/away", json={"away": True})).status_code == 200
        assert (await watcher.get("/api/inbox/availability")).json()["online"] == 0
        assert (await bo.put("/api/inbox/away", json={"away": False})).status_code == 200
        assert (await watcher.get("/api/inbox/availability")).json()["online"] == 1
    await asyncio.sleep(0.5)
    assert (await watcher.get("/api/inbox/availability")).json()["online"] == 0
    await bo.aclose()
    await watcher.aclose()


async def open_conversation(base: str, ip: str) -> dict[str, Any]:
    url = base.replace("http://", "ws://") + "/ws/webchat"
    async with websockets.connect(url, additional_headers={"X-Forwarded-For": ip}) as socket:
        with contextlib.suppress(websockets.ConnectionClosed):  # a refused socket may be closed already
            await socket.send(json.dumps({"type": "hello"}))
        while True:
            frame = json.loads(await socket.recv())
            if frame["type"] in {"welcome", "error"}:
                return frame


async def test_an_address_that_used_its_new_conversations_on_a_is_refused_on_b(cluster: Cluster) -> None:
    ip = "203.0.113.77"
    first = [await open_conversation(cluster.a if n % 2 else cluster.b, ip) for n in range(10)]
    assert [frame["type"] for frame in first] == ["welcome"] * 10  # the burst, spent on both servers
    refused = await open_conversation(cluster.b, ip)
    assert (refused["type"], refused["code"]) == ("error", "rate_limited")
    refused = await open_conversation(cluster.a, ip)
    assert (refused["type"], refused["code"]) == ("error", "rate_limited")
    assert (await open_conversation(cluster.a, "203.0.113.78"))["type"] == "welcome"  # another address is not


async def test_open_chats_of_one_address_are_counted_across_both_servers(cluster: Cluster) -> None:
    ip = "203.0.113.90"
    async with contextlib.AsyncExitStack() as stack:
        for n in range(OPEN_CHATS):
            await stack.enter_async_context(shopper(cluster.a if n % 2 else cluster.b, ip))
        for base in (cluster.a, cluster.b):
            refused = await open_conversation(base, ip)
            assert (refused["type"], refused["code"]) == ("error", "too_many_connections")
    # All closed (each server hears of its own sockets' ends at once): the address may open chats again.
    for _ in range(3):
        await asyncio.sleep(0.3)
        if (await open_conversation(cluster.b, ip))["type"] == "welcome":
            break
    else:
        raise AssertionError("closed chats were still counted")


async def test_five_wrong_passwords_across_both_servers_lock_the_pair_on_both(cluster: Cluster) -> None:
    email, ip = "dee@store.example", "192.0.2.45"
    await (await agent(cluster.a, email)).aclose()
    browsers = [httpx.AsyncClient(base_url=cluster.a), httpx.AsyncClient(base_url=cluster.b)]
    for n in range(5):
        await sign_in(browsers[n % 2], email, "a wrong guess!", ip)
    for browser in browsers:
        locked = await sign_in(browser, email, PASSWORD, ip)
        assert locked.status_code == 429
        assert "try again in" in locked.text
    # The lock is the pair's: from another address the right password still signs in.
    assert (await sign_in(browsers[1], email, PASSWORD, "192.0.2.46")).status_code == 303
    for browser in browsers:
        await browser.aclose()


def ask(base: str, question: str) -> dict[str, Any]:
    return httpx.post(f"{base}/api/agent/ask", json={"question": question}, headers=ADMIN_HEADERS).json()


def answers_within(base: str, question: str, entry_id: int, seconds: float) -> None:
    """`base` answers `question` with `entry_id` before `seconds` have passed."""
    started = time.monotonic()
    while True:
        decision = ask(base, question)
        if decision["decision"] == "answer" and decision["entry"]["id"] == entry_id:
            return
        assert time.monotonic() - started < seconds, decision
        time.sleep(0.05)


async def test_a_knowledge_entry_added_on_a_is_answered_by_b_within_a_second(cluster: Cluster) -> None:
    question = "Do you repair zorbonium lanterns?"
    assert ask(cluster.b, question)["decision"] != "answer"
    entry = {"kind": "faq", "title": question, "body": "Yes: we repair zorbonium lanterns free for two years."}
    created = httpx.post(f"{cluster.a}/api/knowledge", json=entry, headers=ADMIN_HEADERS)
    assert created.status_code == 201, created.text
    entry_id = created.json()["id"]
    answers_within(cluster.b, question, entry_id, 1.0)
    decision = ask(cluster.b, question)
    assert "free for two years" in decision["text"]
    # A change and a deletion travel the same way.
    changed = httpx.patch(f"{cluster.a}/api/knowledge/{entry_id}", headers=ADMIN_HEADERS,
                          json={"body": "Yes: we repair zorbonium lanterns free for five years."})  # fmt: skip
    assert changed.status_code == 200
    started = time.monotonic()
    while "five years" not in (ask(cluster.b, question)["text"] or ""):
        assert time.monotonic() - started < 1.0
        time.sleep(0.05)
    assert httpx.delete(f"{cluster.a}/api/knowledge/{entry_id}", headers=ADMIN_HEADERS).status_code == 204
    started = time.monotonic()
    while (ask(cluster.b, question).get("entry") or {}).get("id") == entry_id:
        assert time.monotonic() - started < 1.0
        time.sleep(0.05)


def test_a_second_server_without_redis_is_refused_with_a_line_saying_to_set_it(
    postgres_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    with (
        servers(postgres_url, tmp_path, redis_prefix, count=1, workers=0),
        pytest.raises(ServerFailed) as refused,
        running_server(postgres_url, tmp_path / "alone.log", demo=False),
    ):
        pass
    assert "set FRONTDESK_REDIS_URL" in str(refused.value)
    assert "Traceback" not in str(refused.value)


def test_two_servers_on_sqlite_without_redis_are_refused(tmp_path: Path) -> None:
    # a SQLite file of its own, whichever database the suite runs on (on PostgreSQL the cluster above holds the lock)
    database_url = f"sqlite+aiosqlite:///{tmp_path}/alone.db"
    with (
        running_server(database_url, tmp_path / "first.log", demo=False),
        pytest.raises(ServerFailed) as refused,
        running_server(database_url, tmp_path / "second.log", demo=False),
    ):
        pass
    assert "another `frontdesk serve` is running on this database" in str(refused.value)
