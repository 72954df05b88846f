"""The inbox's tools for a team: saved replies (admins write them, agents read them), search across every queue, the
shopper's earlier conversations, and unread markers kept per agent on the server."""

from __future__ import annotations

import httpx

from frontdesk.inbox import service
from frontdesk.transcripts import service as conversations
from tests.inbox.test_inbox_api import Inbox
from tests.inbox.test_inbox_api import inbox as inbox  # the fixture


async def a_ticket(inbox: Inbox, email: str | None, *texts: str, state: str = "open") -> str:
    """A conversation in the inbox whose shopper wrote `texts`."""
    async with inbox.app.state.database.session() as session:
        conversation = await conversations.create(session, "webchat", conversations.new_visitor_token())
        conversation.email = email
        for text in texts:
            await conversations.insert_message(session, conversation, "shopper", text)
        ticket = await service.open_ticket(session, conversation.id, "the shopper asked for a person", inbox.clock())
        if state != "open":
            ticket.state, ticket.closed_at = state, inbox.clock()
        await session.commit()
        return conversation.id


async def shopper_writes(inbox: Inbox, conversation_id: str, text: str) -> None:
    async with inbox.app.state.database.session() as session:
        await conversations.insert_message(session, await conversations.get(session, conversation_id), "shopper", text)
        await session.commit()


async def test_admins_write_saved_replies_and_agents_only_read_them(inbox: Inbox) -> None:
    admin = await inbox.agent("boss@store.example", role="admin")
    ana = await inbox.agent("ana@store.example")
    made = await admin.post("/api/inbox/saved-replies", json={"name": "refund", "text": "Refunds take 5 days."})
    assert made.status_code == 201
    reply_id = made.json()["id"]
    assert (await admin.post("/api/inbox/saved-replies", json={"name": "Refund", "text": "again"})).status_code == 409
    for bad in ({"name": "blank", "text": " \x00 "}, {"name": "has space", "text": "x"}, {"name": "", "text": "x"}):
        assert (await admin.post("/api/inbox/saved-replies", json=bad)).status_code == 422
    assert (await ana.post("/api/inbox/saved-replies", json={"name": "x", "text": "y"})).status_code == 403
    assert (await ana.patch(f"/api/inbox/saved-replies/{reply_id}", json={"text": "no"})).status_code == 403
    assert (await ana.delete(f"/api/inbox/saved-replies/{reply_id}")).status_code == 403
    assert (await ana.get("/api/inbox/saved-replies")).json() == [
        {"id": reply_id, "name": "refund", "text": "Refunds take 5 days."}
    ]

    edited = await admin.patch(f"/api/inbox/saved-replies/{reply_id}", json={"text": "Refunds take 3 days."})
    assert edited.json()["text"] == "Refunds take 3 days."
    assert (await admin.delete(f"/api/inbox/saved-replies/{reply_id}")).status_code == 204
    assert (await ana.get("/api/inbox/saved-replies")).json() == []
    assert (await admin.delete(f"/api/inbox/saved-replies/{reply_id}")).status_code == 404
    assert (await admin.patch("/api/inbox/saved-replies/999", json={"text": "x"})).status_code == 404


async def test_search_finds_conversations_by_email_or_message_text_in_every_queue(inbox: Inbox) -> None:
    ana = await inbox.agent("ana@store.example")
    closed = await a_ticket(inbox, "old.shopper@example.com", "my tent pole snapped", state="closed")
    open_one = await a_ticket(inbox, "new.shopper@example.com", "where is order 100% late_ok?")

    async def found(q: str) -> list[str]:
        response = await ana.get("/api/inbox/search", params={"q": q})
        assert response.status_code == 200
        return [t["conversation_id"] for t in response.json()]

    assert await found("TENT POLE") == [closed]  # closed conversations too, whatever the case
    assert await found("new.shopper") == [open_one]
    assert set(await found("shopper@example")) == {closed, open_one}
    assert await found("100%") == [open_one]
    assert await found("%") == [open_one]  # a literal percent sign, not "anything"
    assert await found("_") == [open_one]
    assert await found("nothing like this") == []
    assert (await ana.get("/api/inbox/search", params={"q": "x" * 201})).status_code == 422
    assert (await httpx.AsyncClient(transport=inbox.transport, base_url="http://testserver").get(
        "/api/inbox/search", params={"q": "tent"})).status_code == 401  # fmt: skip


async def test_a_conversation_lists_the_same_shoppers_earlier_conversations_newest_first(inbox: Inbox) -> None:
    ana = await inbox.agent("ana@store.example")
    first = await a_ticket(inbox, "repeat@example.com", "first time", state="closed")
    await a_ticket(inbox, "someone.else@example.com", "not theirs")
    second = await a_ticket(inbox, "Repeat@example.com", "second time", state="closed")
    now = await a_ticket(inbox, "repeat@example.com", "third time")

    detail = (await ana.get(f"/api/inbox/conversations/{now}")).json()
    assert [c["conversation_id"] for c in detail["earlier"]] == [second, first]
    assert all(c["in_inbox"] for c in detail["earlier"])


async def test_shopper_messages_since_an_agent_last_opened_a_conversation_are_unread_for_that_agent(
    inbox: Inbox,
) -> None:
    ana = await inbox.agent("ana@store.example")
    ben = await inbox.agent("ben@store.example")
    conversation_id = await a_ticket(inbox, "unread@example.com", "hello?")

    async def unread(agent: httpx.AsyncClient) -> int:
        tickets = (await agent.get("/api/inbox/queues/open")).json()["tickets"]
        return next(t["unread"] for t in tickets if t["conversation_id"] == conversation_id)

    assert await unread(ana) == 1
    assert (await ana.get(f"/api/inbox/conversations/{conversation_id}")).json()["unread"] == 0
    assert await unread(ana) == 0
    assert await unread(ben) == 1  # what Ana read is still unread for Ben

    await shopper_writes(inbox, conversation_id, "anyone there?")
    await shopper_writes(inbox, conversation_id, "please")
    assert await unread(ana) == 2
