"""GET /api/metrics/overview, /daily and /gaps as a script of the store would call them."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import httpx

from frontdesk.db import Database
from tests.metrics.conftest import add_conversation

DAY = datetime(2025, 3, 10, 15, tzinfo=UTC)


async def test_daily_gives_every_day_with_counts_and_rates(client: httpx.AsyncClient, database: Database) -> None:
    await add_conversation(database, DAY, "resolved", [("shopper", "do you ship to canada?", "answer")])
    await add_conversation(database, DAY, "unresolved", [("shopper", "do you gift wrap?", "unknown")])
    await add_conversation(database, DAY, "no_question")
    response = await client.get("/api/metrics/daily", params={"from": "2025-03-09", "to": "2025-03-10"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["from"], body["to"], body["channel"]) == ("2025-03-09", "2025-03-10", None)
    assert body["days"][0] == {
        "day": "2025-03-09", "conversations": 0, "resolved": 0, "routed_to_team": 0, "unresolved": 0,
        "no_question": 0, "resolution_rate": None, "routed_to_team_rate": None,
    }  # fmt: skip
    assert body["days"][1]["conversations"] == 3
    assert body["days"][1]["resolution_rate"] == 0.5
    overview = (await client.get("/api/metrics/overview", params={"from": "2025-03-10", "to": "2025-03-10"})).json()
    assert overview["unresolved"] == 1 and overview["resolution_rate"] == 0.5


async def test_daily_defaults_to_the_last_30_days_and_refuses_a_backwards_range(client: httpx.AsyncClient) -> None:
    body = (await client.get("/api/metrics/daily")).json()
    today = datetime.now(UTC).date()
    assert len(body["days"]) == 30
    assert date.fromisoformat(body["to"]) in (today, today - timedelta(days=1))  # a run across midnight
    backwards = await client.get("/api/metrics/daily", params={"from": "2025-03-10", "to": "2025-03-09"})
    assert backwards.status_code == 422
    assert "before" in backwards.json()["detail"]
    bad_channel = await client.get("/api/metrics/gaps", params={"channel": "fax"})
    assert bad_channel.status_code == 422


async def test_metrics_need_the_admin(client: httpx.AsyncClient) -> None:
    for path in ("/api/metrics/overview", "/api/metrics/daily", "/api/metrics/gaps"):
        response = await client.get(path, headers={"Authorization": ""})
        assert response.status_code == 401, path


async def test_gaps_group_phrasings_offer_the_teams_reply_and_go_answered_once_the_knowledge_has_it(
    client: httpx.AsyncClient, database: Database
) -> None:
    created = await client.post("/api/knowledge", json={
        "kind": "faq", "title": "Do you ship to Canada?", "body": "Yes, in 5-8 business days.",
    })  # fmt: skip
    assert created.status_code == 201
    for minutes, text in enumerate(["Do you offer gift wrapping?", "can you gift wrap my order?", "do you gift wrap"]):
        await add_conversation(database, DAY + timedelta(minutes=minutes), "unresolved", [("shopper", text, "unknown")])
    await add_conversation(database, DAY, "routed_to_team", [
        ("shopper", "Do you offer gift wrapping?", "unknown"),
        ("agent", "Yes: gift wrap is $5 per item, chosen at checkout.", None),
    ])  # fmt: skip
    await add_conversation(database, DAY, "unresolved", [("shopper", "what's the capital of peru?", "unknown")])
    params = {"from": "2025-03-10", "to": "2025-03-10"}

    body = (await client.get("/api/metrics/gaps", params=params)).json()
    assert body["questions"] == 5
    gift, peru = body["gaps"]
    assert gift["question"] == "Do you offer gift wrapping?"
    assert (gift["count"], gift["conversations"], gift["now_answered"]) == (4, 4, False)
    assert {e["text"] for e in gift["examples"]} == {
        "Do you offer gift wrapping?", "can you gift wrap my order?", "do you gift wrap"
    }  # fmt: skip
    assert gift["draft_answer"] == "Yes: gift wrap is $5 per item, chosen at checkout."
    assert (peru["count"], peru["draft_answer"]) == (1, None)

    entry = (await client.post("/api/knowledge", json={
        "kind": "faq", "title": gift["question"], "body": gift["draft_answer"],
        "alternates": ["can you gift wrap my order?", "do you gift wrap"],
    })).json()  # fmt: skip
    after = (await client.get("/api/metrics/gaps", params=params)).json()
    assert [g["question"] for g in after["gaps"]] == ["what's the capital of peru?", "Do you offer gift wrapping?"]
    assert after["gaps"][1]["now_answered"] is True
    assert after["gaps"][1]["answered_by_id"] == entry["id"]
    assert after["gaps"][0]["now_answered"] is False
