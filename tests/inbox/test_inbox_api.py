"""The built-in inbox's API as agents use it: queues, claim (one winner), reply, notes the shopper never sees, hand
back, close, and the auto-response at most once a day while nobody is available."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI

from frontdesk.app import create_app
from frontdesk.config import Settings
from frontdesk.conversations.turn import CSAT_QUESTION
from frontdesk.transcripts import service as conversations
from frontdesk.users import service as users

UNKNOWN = "what's the capital of peru?"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Inbox:
    app: FastAPI
    clock: Clock
    transport: httpx.ASGITransport

    async def agent(self, email: str, role: str = "agent") -> httpx.AsyncClient:
        """A signed-in team member's browser: the session cookie and the CSRF header its pages send."""
        async with self.app.state.database.session() as session:
            user = await users.create_user(session, email, role, "correct horse battery", name=email.split("@")[0])
            token = await users.start_session(session, user, self.clock())
            await session.commit()
            found = await users.session_of(session, token, self.clock())
            assert found is not None
            csrf = found[1].csrf_token
        client = httpx.AsyncClient(transport=self.transport, base_url="http://testserver",
                                   headers={"X-CSRF-Token": csrf})  # fmt: skip
        client.cookies.set(users.COOKIE, token)
        return client

    async def handed_off(self, email: str = "ana@example.com") -> str:
        """A web chat conversation the AI could not answer, handed to the built-in inbox (ticket delivered)."""
        flow = self.app.state.flow
        async with self.app.state.database.session() as session:
            conversation = await conversations.create(session, "webchat", conversations.new_visitor_token())
            await session.commit()
            conversation_id = conversation.id
        await flow.shopper_message(conversation_id, UNKNOWN)
        await flow.action(conversation_id, "handoff_yes")
        await flow.email(conversation_id, email)
        # The ticket, and (with no SMTP here) the team's alert, skipped: nothing is left to retry.
        assert await self.app.state.worker.deliver_due() >= 1
        assert await self.app.state.worker.deliver_due() == 0
        async with self.app.state.database.session() as session:
            assert (await conversations.get(session, conversation_id)).status == "with_team"
        return conversation_id

    async def messages(self, conversation_id: str) -> list[tuple[str, str]]:
        async with self.app.state.database.session() as session:
            return [(m.author, m.text) for m in await conversations.messages_after(session, conversation_id, 0)]


@pytest.fixture
async def inbox(settings: Settings) -> AsyncIterator[Inbox]:
    clock = Clock()
    app = create_app(settings.model_copy(update={"run_worker": False}), clock=clock)
    async with app.router.lifespan_context(app):
        yield Inbox(app, clock, httpx.ASGITransport(app=app))


async def test_a_handoff_appears_in_the_unassigned_queue_with_the_shopper_and_the_reason(inbox: Inbox) -> None:
    ana = await inbox.agent("ana@store.example")
    conversation_id = await inbox.handed_off("shopper@example.com")
    queue = (await ana.get("/api/inbox/queues/unassigned")).json()
    assert queue["counts"] == {"unassigned": 1, "mine": 0, "open": 1, "closed": 0}
    [ticket] = queue["tickets"]
    assert (ticket["conversation_id"], ticket["email"], ticket["channel"], ticket["status"]) == (
        conversation_id, "shopper@example.com", "webchat", "with_team"
    )  # fmt: skip
    assert ticket["reason"] == "the agent could not answer"
    detail = (await ana.get(f"/api/inbox/conversations/{conversation_id}")).json()
    assert detail["profile_id"].startswith("prof_")
    texts = [(m["author"], m["text"]) for m in detail["messages"]]
    assert ("shopper", UNKNOWN) in texts
    assert any(author == "ai" for author, _ in texts), "the AI's turn before the handoff is shown"


async def test_two_agents_claiming_at_once_exactly_one_wins_and_the_other_is_told(inbox: Inbox) -> None:
    ana, bo = await inbox.agent("ana@store.example"), await inbox.agent("bo@store.example")
    conversation_id = await inbox.handed_off()
    path = f"/api/inbox/conversations/{conversation_id}/claim"
    first, second = await asyncio.gather(ana.post(path), bo.post(path))
    assert sorted([first.status_code, second.status_code]) == [200, 409]
    loser = first if first.status_code == 409 else second
    assert "already claimed" in loser.json()["detail"]
    winner_client = ana if first.status_code == 200 else bo
    mine = (await winner_client.get("/api/inbox/queues/mine")).json()
    assert [t["conversation_id"] for t in mine["tickets"]] == [conversation_id]
    assert mine["counts"]["unassigned"] == 0


async def test_a_reply_reaches_the_shopper_and_a_note_never_does(inbox: Inbox) -> None:
    ana = await inbox.agent("ana@store.example")
    conversation_id = await inbox.handed_off()
    base = f"/api/inbox/conversations/{conversation_id}"
    assert (await ana.post(f"{base}/notes", json={"text": "VIP customer, be nice"})).status_code == 201
    assert (await ana.post(f"{base}/reply", json={"text": "Lima! Anything else?"})).status_code == 201
    messages = await inbox.messages(conversation_id)
    assert ("agent", "Lima! Anything else?") in messages
    assert not any("VIP" in text for _, text in messages), "an internal note reached the shopper's conversation"
    detail = (await ana.get(base)).json()
    assert [n["text"] for n in detail["notes"]] == ["VIP customer, be nice"]
    assert detail["assignee"] == "ana", "replying to an unclaimed conversation claims it"


async def test_an_agent_cannot_reply_to_a_conversation_another_agent_holds(inbox: Inbox) -> None:
    ana, bo = await inbox.agent("ana@store.example"), await inbox.agent("bo@store.example")
    conversation_id = await inbox.handed_off()
    base = f"/api/inbox/conversations/{conversation_id}"
    assert (await ana.post(f"{base}/claim")).status_code == 200
    refused = await bo.post(f"{base}/reply", json={"text": "me too"})
    assert refused.status_code == 409
    assert ("agent", "me too") not in await inbox.messages(conversation_id)


async def test_hand_back_lets_the_ai_answer_again_and_moves_the_ticket_out_of_the_open_queues(inbox: Inbox) -> None:
    ana = await inbox.agent("ana@store.example")
    conversation_id = await inbox.handed_off()
    base = f"/api/inbox/conversations/{conversation_id}"
    assert (await ana.post(f"{base}/claim")).status_code == 200
    assert (await ana.post(f"{base}/hand-back")).status_code == 200
    counts = (await ana.get("/api/inbox/queues/closed")).json()["counts"]
    assert (counts["open"], counts["closed"]) == (0, 1)
    await inbox.app.state.flow.shopper_message(conversation_id, "one more question")
    assert (await inbox.messages(conversation_id))[-1][0] == "ai", "the AI is silent after the hand back"


async def test_close_ends_the_conversation_for_the_shopper(inbox: Inbox) -> None:
    ana = await inbox.agent("ana@store.example")
    conversation_id = await inbox.handed_off()
    assert (await ana.post(f"/api/inbox/conversations/{conversation_id}/close")).status_code == 200
    # The close, then the one-tap rating of the team it asks the shopper for.
    assert (await inbox.messages(conversation_id))[-2:] == [
        ("system", "This conversation has ended."),
        ("system", CSAT_QUESTION),
    ]
    closed = (await ana.get("/api/inbox/queues/closed")).json()
    assert [t["state"] for t in closed["tickets"]] == ["closed"]
    again = await ana.post(f"/api/inbox/conversations/{conversation_id}/close")
    assert again.status_code == 409


@pytest.mark.parametrize("action", ["hand-back", "close"])
async def test_an_agent_cannot_hand_back_or_close_a_conversation_another_agent_holds(inbox: Inbox, action: str) -> None:
    ana, bo = await inbox.agent("ana@store.example"), await inbox.agent("bo@store.example")
    conversation_id = await inbox.handed_off()
    base = f"/api/inbox/conversations/{conversation_id}"
    assert (await ana.post(f"{base}/claim")).status_code == 200
    before = await inbox.messages(conversation_id)

    refused = await bo.post(f"{base}/{action}")

    assert refused.status_code == 409
    assert "another agent has claimed" in refused.json()["detail"]
    assert await inbox.messages(conversation_id) == before, "the shopper was told something"
    detail = (await ana.get(base)).json()
    assert (detail["status"], detail["assignee"]) == ("with_team", "ana")


@pytest.mark.parametrize(("action", "status"), [("hand-back", "ai"), ("close", "closed")])
async def test_an_admin_may_hand_back_or_close_a_conversation_an_agent_holds(
    inbox: Inbox, action: str, status: str
) -> None:
    ana, boss = await inbox.agent("ana@store.example"), await inbox.agent("boss@store.example", "admin")
    conversation_id = await inbox.handed_off()
    base = f"/api/inbox/conversations/{conversation_id}"
    assert (await ana.post(f"{base}/claim")).status_code == 200

    assert (await boss.post(f"{base}/{action}")).json() == {"status": status}

    assert (await ana.get(base)).json()["status"] == status


async def test_a_conversation_still_with_the_ai_cannot_be_closed_from_the_inbox(inbox: Inbox) -> None:
    boss = await inbox.agent("boss@store.example", "admin")
    async with inbox.app.state.database.session() as session:
        conversation = await conversations.create(session, "webchat", conversations.new_visitor_token())
        await session.commit()
    await inbox.app.state.flow.shopper_message(conversation.id, "hello there")
    before = await inbox.messages(conversation.id)

    refused = await boss.post(f"/api/inbox/conversations/{conversation.id}/close")

    assert refused.status_code == 409
    assert "with the team" in refused.json()["detail"]
    assert await inbox.messages(conversation.id) == before
    await inbox.app.state.flow.shopper_message(conversation.id, "do you ship to canada?")
    assert (await inbox.messages(conversation.id))[-1][0] == "ai", "the conversation was ended"


async def test_nobody_available_auto_response_at_most_once_per_conversation_and_day(inbox: Inbox) -> None:
    conversation_id = await inbox.handed_off()
    auto_response = (await inbox.messages(conversation_id))[-1]
    assert auto_response[0] == "system"
    flow = inbox.app.state.flow
    await flow.shopper_message(conversation_id, "hello? anyone?")
    await flow.shopper_message(conversation_id, "still waiting")
    notices = [m for m in await inbox.messages(conversation_id) if m == auto_response]
    assert len(notices) == 1, "the auto-response was repeated the same day"
    inbox.clock.now += timedelta(days=1)
    await flow.shopper_message(conversation_id, "next day, still here")
    notices = [m for m in await inbox.messages(conversation_id) if m == auto_response]
    assert len(notices) == 2, "a new day, a new auto-response"


async def test_an_agent_set_away_does_not_count_as_available(inbox: Inbox) -> None:
    ana = await inbox.agent("ana@store.example")
    await inbox.app.state.presence.arrive((await ana.get("/api/me")).json()["user_id"])
    assert (await ana.get("/api/inbox/availability")).json()["online"] == 1
    away = await ana.put("/api/inbox/away", json={"away": True})
    assert away.json() == {**away.json(), "online": 0, "away": True}


async def test_signed_out_and_forged_requests_change_nothing(inbox: Inbox) -> None:
    ana = await inbox.agent("ana@store.example")
    conversation_id = await inbox.handed_off()
    async with httpx.AsyncClient(transport=inbox.transport, base_url="http://testserver") as stranger:
        assert (await stranger.get("/api/inbox/queues/open")).status_code == 401
        assert (await stranger.post(f"/api/inbox/conversations/{conversation_id}/claim")).status_code == 401
    forged = await ana.post(f"/api/inbox/conversations/{conversation_id}/reply", json={"text": "hi"},
                            headers={"X-CSRF-Token": "forged"})  # fmt: skip
    assert forged.status_code == 403
    assert ("agent", "hi") not in await inbox.messages(conversation_id)
    assert (await ana.get("/api/inbox/queues/unassigned")).json()["counts"]["unassigned"] == 1
