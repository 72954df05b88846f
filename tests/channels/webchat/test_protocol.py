"""The web chat protocol (docs/webchat-protocol.md) over a real server and real WebSockets, hostile input included."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from frontdesk.channels.webchat.service import user_hash
from frontdesk.config import Settings
from tests.server import ADMIN_HEADERS, running_server

Frame = dict[str, Any]


@pytest.fixture
def server(settings: Settings, tmp_path: Path) -> Iterator[str]:
    with running_server(
        settings.database_url, tmp_path / "serve.log", {"FRONTDESK_RATE_MESSAGES_PER_MINUTE": "60"}
    ) as base:
        yield base


class Chat:
    def __init__(self, socket: websockets.ClientConnection) -> None:
        self.socket = socket

    async def send(self, frame: Frame | str) -> None:
        await self.socket.send(frame if isinstance(frame, str) else json.dumps(frame))

    async def frames(self, wait: float = 1.0) -> list[Frame]:
        """Everything the server sends until it has been quiet for `wait` seconds."""
        out: list[Frame] = []
        try:
            while True:
                out.append(json.loads(await asyncio.wait_for(self.socket.recv(), wait)))
        except TimeoutError:
            return out

    async def dropped(self, timeout: float = 10.0) -> None:
        """Wait until the server side goes away (the process was killed)."""
        async with asyncio.timeout(timeout):
            with contextlib.suppress(websockets.ConnectionClosed):
                while True:
                    await self.socket.recv()

    async def until(self, predicate: Any, timeout: float = 5.0) -> list[Frame]:
        out: list[Frame] = []
        async with asyncio.timeout(timeout):
            while True:
                frame = json.loads(await self.socket.recv())
                out.append(frame)
                if predicate(frame):
                    return out


@asynccontextmanager
async def connect(base: str, hello: Frame | None = None) -> AsyncIterator[tuple[Chat, Frame]]:
    url = base.replace("http://", "ws://") + "/ws/webchat"
    async with websockets.connect(url) as socket:
        chat = Chat(socket)
        await chat.send({"type": "hello", **(hello or {})})
        welcome = await chat.until(lambda f: f["type"] == "welcome")
        yield chat, welcome[-1]


def texts(frames: list[Frame], author: str | None = None) -> list[str]:
    return [f["text"] for f in frames if f["type"] == "message" and (author is None or f["author"] == author)]


def conversation(base: str, conversation_id: str) -> Frame:
    return httpx.get(f"{base}/api/conversations/{conversation_id}", headers=ADMIN_HEADERS).json()


async def test_answered_question_then_reconnect_receives_only_what_was_missed(server: str) -> None:
    async with connect(server) as (chat, welcome):
        await chat.send({"type": "message", "text": "do you ship to canada?"})
        frames = await chat.until(lambda f: f.get("author") == "ai")
        assert "Canada" in texts(frames, "ai")[0]
        token = welcome["token"]
    # Reconnect having seen only the shopper's own message: the AI's answer is sent again, nothing else.
    async with connect(server, {"token": token, "last_seq": 1}) as (chat, again):
        assert again["conversation_id"] == welcome["conversation_id"]
        missed = await chat.frames(0.5)
        assert [f["seq"] for f in missed if f["type"] == "message"] == [2]


async def test_conversation_survives_a_server_restart(settings: Settings, tmp_path: Path) -> None:
    with running_server(settings.database_url, tmp_path / "a.log") as base:
        async with connect(base) as (chat, welcome):
            await chat.send({"type": "message", "text": "how long does standard shipping take?"})
            await chat.until(lambda f: f.get("author") == "ai")
    with running_server(settings.database_url, tmp_path / "b.log") as base:
        async with connect(base, {"token": welcome["token"], "last_seq": 0}) as (chat, again):
            assert again["conversation_id"] == welcome["conversation_id"]
            replay = await chat.frames(0.5)
            assert texts(replay, "shopper") == ["how long does standard shipping take?"]
            assert len(texts(replay, "ai")) == 1


async def test_unknown_question_yes_email_hands_off_once_to_the_inbox(server: str) -> None:
    async with connect(server) as (chat, welcome):
        await chat.send({"type": "message", "text": "can you recommend a campsite near bend oregon?"})
        offer = await chat.until(lambda f: f.get("kind") == "offer")
        assert [a["label"] for a in offer[-1]["actions"]] == ["Yes, connect me with an agent", "No thanks"]
        await chat.send({"type": "action", "action": "handoff_yes"})
        await chat.send({"type": "action", "action": "handoff_yes"})  # double click
        frames = await chat.until(lambda f: f.get("kind") == "email_request")
        await chat.send({"type": "email", "email": "ana@@example"})
        frames = await chat.until(lambda f: f.get("kind") == "email_request")
        assert "doesn't look like an email address" in frames[-1]["text"]
        await chat.send({"type": "email", "email": "Ana@Example.com"})
        frames = await chat.until(lambda f: f.get("status") == "with_team")
        assert any("passing this conversation to our team" in t for t in texts(frames))
        await chat.send({"type": "action", "action": "handoff_yes"})
        late = await chat.frames(0.5)
        assert [f["code"] for f in late if f["type"] == "error"] == ["not_offered"]
        # Once with the team, the AI says nothing more.
        await chat.send({"type": "message", "text": "do you ship to canada?"})
        after = await chat.frames(0.8)
        assert texts(after, "ai") == []
        assert texts(after, "shopper") == ["do you ship to canada?"]
    stored = conversation(server, welcome["conversation_id"])
    assert stored["status"] == "with_team"
    assert stored["email"] == "ana@example.com"
    assert stored["outcome"] == "routed_to_team"
    tickets = [
        t
        for t in httpx.get(f"{server}/api/inbox/tickets", headers=ADMIN_HEADERS).json()
        if t["conversation_id"] == welcome["conversation_id"]
    ]
    assert len(tickets) == 1


async def test_no_thanks_returns_to_the_ai_which_answers_the_next_question(server: str) -> None:
    async with connect(server) as (chat, welcome):
        await chat.send({"type": "message", "text": "what's the capital of peru?"})
        await chat.until(lambda f: f.get("kind") == "offer")
        await chat.send({"type": "action", "action": "handoff_no"})
        frames = await chat.until(lambda f: f.get("status") == "ai")
        assert any(t.startswith("No problem") for t in texts(frames, "ai"))
        await chat.send({"type": "message", "text": "do you ship to canada?"})
        frames = await chat.until(lambda f: f.get("author") == "ai")
        assert "Canada" in texts(frames, "ai")[-1]
    # A question was left unanswered (no handoff): not a resolution, although a later one was answered.
    stored = conversation(server, welcome["conversation_id"])
    assert stored["outcome"] == "unresolved"
    assert stored["outcome_reason"] == "1 of 2 questions not answered (the shopper said no to a person)"


async def test_forged_token_starts_a_new_conversation_and_shows_nothing_of_others(server: str) -> None:
    async with connect(server) as (chat, first):
        await chat.send({"type": "message", "text": "my secret order number is 4411"})
        await chat.until(lambda f: f.get("author") == "ai")
    forged = first["token"][:-4] + "AAAA"
    async with connect(server, {"token": forged, "conversation_id": first["conversation_id"]}) as (chat, other):
        assert other["conversation_id"] != first["conversation_id"]
        assert other["token"] != first["token"]
        assert all("4411" not in json.dumps(f) for f in await chat.frames(0.5))


async def test_a_frame_before_hello_closes_the_connection(server: str) -> None:
    url = server.replace("http://", "ws://") + "/ws/webchat"
    async with websockets.connect(url) as socket:
        await socket.send(json.dumps({"type": "message", "text": "hi"}))
        error = json.loads(await socket.recv())
        assert error["code"] == "hello_required"
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await socket.recv()
        assert closed.value.rcvd.code == 4401


async def test_malformed_and_oversized_frames_get_errors_and_the_connection_lives_on(server: str) -> None:
    async with connect(server) as (chat, welcome):
        for bad in ["not json", "[1, 2]", json.dumps({"type": "dance"}), json.dumps({"type": "message"}),
                    json.dumps({"type": "message", "text": "x" * 4001}), json.dumps({"type": "action"})]:  # fmt: skip
            await chat.send(bad)
        errors = [f["code"] for f in await chat.frames(0.8) if f["type"] == "error"]
        assert errors == ["bad_frame", "bad_frame", "bad_frame", "bad_frame", "too_long", "bad_frame"]
        await chat.send({"type": "message", "text": "do you ship to canada?"})
        assert "Canada" in texts(await chat.until(lambda f: f.get("author") == "ai"), "ai")[0]
    stored = conversation(server, welcome["conversation_id"])
    assert [m["text"] for m in stored["messages"] if m["author"] == "shopper"] == ["do you ship to canada?"]


async def test_script_in_a_message_is_stored_and_sent_back_as_plain_text(server: str) -> None:
    payload = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    async with connect(server) as (chat, welcome):
        await chat.send({"type": "message", "text": payload})
        frames = await chat.until(lambda f: f.get("author") == "ai")
        assert texts(frames, "shopper") == [payload]
    transcript = httpx.get(
        f"{server}/api/conversations/{welcome['conversation_id']}/transcript", headers=ADMIN_HEADERS
    ).json()
    assert "<script>" not in transcript["html"]
    assert "&lt;script&gt;" in transcript["html"]
    assert payload in transcript["text"]


async def test_resend_with_the_same_client_id_is_stored_once(server: str) -> None:
    async with connect(server) as (chat, welcome):
        await chat.send({"type": "message", "text": "do you ship to canada?", "client_id": "c-1"})
        await chat.send({"type": "message", "text": "do you ship to canada?", "client_id": "c-1"})
        await chat.frames(0.8)
    shopper = [m for m in conversation(server, welcome["conversation_id"])["messages"] if m["author"] == "shopper"]
    assert len(shopper) == 1


async def test_flooding_is_rate_limited_and_other_visitors_are_unaffected(server: str) -> None:
    async with connect(server) as (flooder, _), connect(server) as (calm, _):
        for i in range(12):
            await flooder.send({"type": "message", "text": f"spam {i}"})
        codes = [f.get("code") for f in await flooder.frames(0.8) if f["type"] == "error"]
        assert "rate_limited" in codes
        await calm.send({"type": "message", "text": "do you ship to canada?"})
        assert "Canada" in texts(await calm.until(lambda f: f.get("author") == "ai"), "ai")[0]


async def test_signed_in_shopper_skips_the_email_question_and_a_bad_hash_stays_anonymous(server: str) -> None:
    secret = httpx.post(f"{server}/api/settings/widget/identity-secret", headers=ADMIN_HEADERS).json()[
        "identity_secret"
    ]
    async with connect(server, {"email": "ana@example.com", "user_hash": "00" * 32}) as (chat, welcome):
        assert welcome["signed_in"] is False
    good = user_hash(secret, "ana@example.com")
    async with connect(server, {"email": "ana@example.com", "user_hash": good}) as (chat, welcome):
        assert welcome["signed_in"] is True
        await chat.send({"type": "message", "text": "talk to a human please"})
        await chat.until(lambda f: f.get("kind") == "offer")
        await chat.send({"type": "action", "action": "handoff_yes"})
        frames = await chat.until(lambda f: f.get("status") == "with_team")
        assert not any(f.get("kind") == "email_request" for f in frames)
    stored = conversation(server, welcome["conversation_id"])
    assert stored["email"] == "ana@example.com"
    assert stored["signed_in"] is True
    assert "identity_secret" not in httpx.get(f"{server}/api/settings/widget", headers=ADMIN_HEADERS).text


async def test_do_not_hand_off_shows_the_sanitised_custom_message(server: str) -> None:
    message = "Email [support](https://shop.example/help) <script>alert(1)</script> or [click](javascript:alert(1))"
    saved = httpx.put(
        f"{server}/api/settings/handoff", headers=ADMIN_HEADERS, json={"method": "none", "custom_message": message}
    )
    assert saved.status_code == 200, saved.text
    assert saved.json()["custom_message"] == "Email [support](https://shop.example/help)  or click"
    async with connect(server) as (chat, welcome):
        await chat.send({"type": "message", "text": "can you recommend a campsite near bend oregon?"})
        frames = await chat.until(lambda f: f.get("kind") == "custom")
        assert frames[-1]["text"] == "Email [support](https://shop.example/help)  or click"
        assert not any(f.get("kind") == "offer" for f in frames)
    stored = conversation(server, welcome["conversation_id"])
    assert stored["status"] == "ai"
    assert stored["outcome"] == "unresolved"


def test_helpdesks_cannot_be_chosen_before_they_are_connected(server: str) -> None:
    for method in ("zendesk", "gorgias"):
        refused = httpx.put(f"{server}/api/settings/handoff", headers=ADMIN_HEADERS, json={"method": method})
        assert refused.status_code == 409
        assert "not connected" in refused.json()["detail"]
    assert httpx.get(f"{server}/api/settings/handoff", headers=ADMIN_HEADERS).json()["method"] == "builtin"
    none_without_message = httpx.put(
        f"{server}/api/settings/handoff", headers=ADMIN_HEADERS, json={"method": "none", "custom_message": ""}
    )
    assert none_without_message.status_code == 422


def test_office_hours_are_validated_with_the_field_named(server: str) -> None:
    bad_zone = httpx.put(f"{server}/api/settings/handoff", headers=ADMIN_HEADERS, json={"timezone": "Mars/Olympus"})
    assert bad_zone.status_code == 422
    assert "timezone" in bad_zone.json()["detail"]
    bad_day = httpx.put(
        f"{server}/api/settings/handoff", headers=ADMIN_HEADERS, json={"office_hours": {"funday": [["09:00", "17:00"]]}}
    )
    assert "funday" in bad_day.json()["detail"]
    backwards = httpx.put(
        f"{server}/api/settings/handoff", headers=ADMIN_HEADERS, json={"office_hours": {"mon": [["17:00", "09:00"]]}}
    )
    assert "not after" in backwards.json()["detail"]
    ok = httpx.put(f"{server}/api/settings/handoff", headers=ADMIN_HEADERS, json={
        "timezone": "America/Los_Angeles", "office_hours": {"mon": [["09:00", "17:00"]]}, "holidays": ["2026-12-25"],
    })  # fmt: skip
    assert ok.status_code == 200


async def test_metrics_overview_counts_each_outcome(server: str) -> None:
    async def chat_with(*lines: str, then: Frame | None = None) -> None:
        async with connect(server) as (chat, _):
            for line in lines:
                await chat.send({"type": "message", "text": line})
                await chat.until(lambda f: f.get("author") == "ai")
            if then:
                await chat.send(then)
                await chat.frames(0.5)

    await chat_with("do you ship to canada?")  # resolved
    await chat_with("hi!")  # no question
    await chat_with("what's the capital of peru?", then={"type": "action", "action": "handoff_no"})  # unresolved
    async with connect(server) as (chat, _):  # routed to the team
        await chat.send({"type": "message", "text": "agent please"})
        await chat.until(lambda f: f.get("kind") == "offer")
        await chat.send({"type": "action", "action": "handoff_yes"})
        await chat.until(lambda f: f.get("kind") == "email_request")
        await chat.send({"type": "email", "email": "bo@example.com"})
        await chat.until(lambda f: f.get("status") == "with_team")
    overview = httpx.get(f"{server}/api/metrics/overview", headers=ADMIN_HEADERS, params={"channel": "webchat"}).json()
    assert overview == {
        "conversations": 4, "resolved": 1, "routed_to_team": 1, "unresolved": 1, "no_question": 1,
        "resolution_rate": round(1 / 3, 4), "routed_to_team_rate": round(1 / 3, 4), "changed_by_feedback": 0,
    }  # fmt: skip
    assert (
        httpx.get(f"{server}/api/metrics/overview", headers=ADMIN_HEADERS, params={"channel": "sms"}).json()[
            "conversations"
        ]
        == 0
    )


async def test_a_binary_frame_is_refused_and_the_connection_lives_on(server: str) -> None:
    async with connect(server) as (chat, _welcome):
        await chat.socket.send(b'{"type": "message", "text": "hi"}')
        errors = [f for f in await chat.frames(0.5) if f["type"] == "error"]
        assert [e["code"] for e in errors] == ["bad_frame"] and "binary" in errors[0]["message"]
        await chat.send({"type": "message", "text": "do you ship to canada?"})
        assert "Canada" in texts(await chat.until(lambda f: f.get("author") == "ai"), "ai")[0]


async def test_a_binary_frame_before_hello_gets_hello_required_not_a_dropped_socket(server: str) -> None:
    url = server.replace("http://", "ws://") + "/ws/webchat"
    async with websockets.connect(url) as socket:
        await socket.send(b"\x00\x01binary")
        assert json.loads(await socket.recv())["code"] == "hello_required"
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await socket.recv()
        assert closed.value.rcvd.code == 4401


async def test_a_lone_surrogate_is_refused_and_nothing_is_stored(server: str) -> None:
    async with connect(server) as (chat, welcome):
        await chat.send('{"type": "message", "text": "hello \\ud800 there"}')
        await chat.send('{"type": "email", "email": "\\udfff@example.com"}')
        errors = [f["code"] for f in await chat.frames(0.5) if f["type"] == "error"]
        assert errors == ["bad_frame", "bad_frame"]
        await chat.send('{"type": "message", "text": "paired is fine \\ud83d\\ude00"}')
        echo = await chat.until(lambda f: f.get("author") == "shopper")
        assert echo[-1]["text"] == "paired is fine \U0001f600"
    messages = conversation(server, welcome["conversation_id"])["messages"]
    assert [m["text"] for m in messages if m["author"] == "shopper"] == ["paired is fine \U0001f600"]


@pytest.mark.parametrize("last_seq", [2**63, 2**64 + 5, -(2**63), True, 1.5])
async def test_an_out_of_range_last_seq_opens_the_conversation_anyway(server: str, last_seq: object) -> None:
    async with connect(server) as (chat, welcome):
        await chat.send({"type": "message", "text": "do you ship to canada?"})
        await chat.until(lambda f: f.get("author") == "ai")
    async with connect(server, {"token": welcome["token"], "last_seq": last_seq}) as (chat, again):
        assert again["conversation_id"] == welcome["conversation_id"]
        await chat.send({"type": "ping"})
        assert [f["type"] for f in await chat.frames(0.5)][-1] == "pong"


async def test_a_frame_far_over_the_limit_closes_the_socket_before_it_is_read(server: str) -> None:
    async with connect(server) as (chat, _welcome):
        await chat.send({"type": "message", "text": "x" * 15_000_000})
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await chat.until(lambda f: False, timeout=10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009  # "message too big"
    assert httpx.get(f"{server}/healthz").status_code == 200


async def test_one_address_may_hold_only_so_many_chats_open(settings: Settings, tmp_path: Path) -> None:
    with running_server(settings.database_url, tmp_path / "serve.log", {"FRONTDESK_MAX_CHATS_PER_IP": "3"}) as base:
        url = base.replace("http://", "ws://") + "/ws/webchat"
        async with contextlib.AsyncExitStack() as stack:
            for _ in range(3):
                await stack.enter_async_context(connect(base))
            async with websockets.connect(url) as extra:
                refused = json.loads(await extra.recv())
                assert refused["code"] == "too_many_connections"
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    await extra.recv()
                assert closed.value.rcvd.code == 4429
        # Closed chats free their places.
        async with connect(base) as (_chat, welcome):
            assert welcome["type"] == "welcome"


async def test_a_thumbs_down_unresolves_the_conversation_and_the_overview_counts_it(server: str) -> None:
    before = httpx.get(f"{server}/api/metrics/overview", headers=ADMIN_HEADERS).json()
    async with connect(server) as (chat, welcome):
        await chat.send({"type": "message", "text": "do you ship to canada?"})
        frames = await chat.until(lambda f: f.get("author") == "ai")
        answer = frames[-1]
        assert (answer["rateable"], answer["rating"]) == (True, None)
        assert conversation(server, welcome["conversation_id"])["outcome"] == "resolved"
        await chat.send({"type": "feedback", "seq": answer["seq"], "rating": "not_helpful"})
        rated = await chat.until(lambda f: f["type"] == "rating")
        assert rated[-1] == {"type": "rating", "seq": answer["seq"], "rating": "not_helpful"}
        stored = conversation(server, welcome["conversation_id"])
        assert stored["outcome"] == "unresolved"
        assert stored["outcome_reason"] == "the shopper rated 1 answer of 1 “didn't help”"
        after = httpx.get(f"{server}/api/metrics/overview", headers=ADMIN_HEADERS).json()
        assert after["changed_by_feedback"] == before["changed_by_feedback"] + 1
        assert after["resolved"] == before["resolved"]  # not counted as resolved
        # A change of mind counts: the last rating is the one kept.
        await chat.send({"type": "feedback", "seq": answer["seq"], "rating": "helpful"})
        await chat.until(lambda f: f["type"] == "rating")
        assert conversation(server, welcome["conversation_id"])["outcome"] == "resolved"
        # Reconnecting shows the rating on the answer.
        token = welcome["token"]
    async with connect(server, {"token": token, "last_seq": 0}) as (chat, _again):
        replay = [f for f in await chat.frames(0.5) if f["type"] == "message" and f["author"] == "ai"]
        assert replay[-1]["rating"] == "helpful"


async def test_feedback_on_anything_but_an_answer_or_with_a_bad_shape_is_refused(server: str) -> None:
    async with connect(server) as (chat, welcome):
        await chat.send({"type": "message", "text": "hello"})  # small talk: not an answer from the knowledge
        frames = await chat.until(lambda f: f.get("author") == "ai")
        assert "rateable" not in frames[-1]
        for bad in [
            {"seq": 1, "rating": "not_helpful"},  # the shopper's own message
            {"seq": frames[-1]["seq"], "rating": "not_helpful"},  # small talk
            {"seq": 99, "rating": "helpful"},  # no such message
            {"seq": True, "rating": "helpful"},
            {"seq": 2**63, "rating": "helpful"},
            {"seq": "2", "rating": "helpful"},
            {"seq": 2, "rating": "love it"},
            {"seq": 2},
        ]:
            await chat.send({"type": "feedback", **bad})
        errors = [f["code"] for f in await chat.frames(0.8) if f["type"] == "error"]
        assert errors == ["not_rateable"] * 3 + ["bad_frame"] * 5
    assert conversation(server, welcome["conversation_id"])["outcome"] == "no_question"
