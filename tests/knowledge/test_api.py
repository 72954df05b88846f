"""The /api/knowledge routes: CRUD, search, import — as a store admin's script would use them."""

from __future__ import annotations

import json

import httpx

from frontdesk.config import Settings

FAQ = {
    "kind": "faq",
    "title": "Do you ship to Canada?",
    "alternates": ["can you deliver to canada", "shipping to toronto"],
    "body": "Yes, we ship to Canada in 5-8 business days.",
}


async def test_created_entry_can_be_read_listed_and_found_by_meaning(client: httpx.AsyncClient) -> None:
    created = await client.post("/api/knowledge", json=FAQ)
    assert created.status_code == 201, created.text
    entry = created.json()
    assert entry["title"] == "Do you ship to Canada?"

    assert (await client.get(f"/api/knowledge/{entry['id']}")).json()["body"] == FAQ["body"]
    listed = (await client.get("/api/knowledge", params={"kind": "faq"})).json()
    assert listed["total"] == 1
    hits = (await client.get("/api/knowledge/search", params={"q": "deliver to canada?"})).json()
    assert hits[0]["entry"]["id"] == entry["id"]


async def test_edit_changes_what_the_agent_answers(client: httpx.AsyncClient) -> None:
    entry = (await client.post("/api/knowledge", json=FAQ)).json()
    patched = await client.patch(f"/api/knowledge/{entry['id']}", json={"body": "Yes: 3-5 business days now."})
    assert patched.status_code == 200
    decision = (await client.post("/api/agent/ask", json={"question": "do you ship to canada"})).json()
    assert decision["decision"] == "answer"
    assert decision["text"] == "Yes: 3-5 business days now."


async def test_deleted_entry_is_no_longer_answered(client: httpx.AsyncClient) -> None:
    entry = (await client.post("/api/knowledge", json=FAQ)).json()
    assert (await client.delete(f"/api/knowledge/{entry['id']}")).status_code == 204
    assert (await client.get(f"/api/knowledge/{entry['id']}")).status_code == 404
    decision = (await client.post("/api/agent/ask", json={"question": "do you ship to canada"})).json()
    assert decision["decision"] == "unknown"
    assert (await client.get("/api/knowledge/search", params={"q": "canada"})).json() == []


async def test_faq_without_answer_is_refused_with_the_field(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/knowledge", json={**FAQ, "body": ""})
    assert response.status_code == 422
    assert "answer" in response.text
    assert (await client.get("/api/knowledge")).json()["total"] == 0


async def test_emptying_an_answer_by_patch_is_refused_and_keeps_the_old_one(client: httpx.AsyncClient) -> None:
    entry = (await client.post("/api/knowledge", json=FAQ)).json()
    response = await client.patch(f"/api/knowledge/{entry['id']}", json={"body": ""})
    assert response.status_code == 422
    assert (await client.get(f"/api/knowledge/{entry['id']}")).json()["body"] == FAQ["body"]


async def test_hundred_kilobyte_title_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/knowledge", json={**FAQ, "title": "x" * 100_000})
    assert response.status_code == 422
    assert "title" in response.text


async def test_script_in_an_answer_is_stored_as_text(client: httpx.AsyncClient) -> None:
    body = '<script>alert("x")</script> Returns within 30 days.'
    entry = (await client.post("/api/knowledge", json={**FAQ, "body": body})).json()
    assert (await client.get(f"/api/knowledge/{entry['id']}")).json()["body"] == body


async def test_duplicate_ref_is_a_conflict(client: httpx.AsyncClient) -> None:
    assert (await client.post("/api/knowledge", json={**FAQ, "ref": "ship-ca"})).status_code == 201
    second = await client.post("/api/knowledge", json={**FAQ, "ref": "ship-ca"})
    assert second.status_code == 409
    assert "ship-ca" in second.json()["detail"]


async def test_import_reports_bad_rows_with_line_and_keeps_good_ones(client: httpx.AsyncClient) -> None:
    csv = "question,answer\nDo you sell gift cards?,Yes from $25.\nEmpty answer here,\nWhere are you based?,Portland.\n"
    response = await client.post("/api/knowledge/import", params={"filename": "faq.csv"}, content=csv.encode())
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["imported"] == 2
    assert report["skipped"] == 1
    assert report["problems"][0]["file"] == "faq.csv"
    assert report["problems"][0]["line"] == 3
    assert (await client.get("/api/knowledge")).json()["total"] == 2


async def test_import_of_a_file_in_an_unknown_encoding_writes_nothing(client: httpx.AsyncClient) -> None:
    csv = "question,answer\nQuelle est la durée?,Très rapide.\n".encode("latin-1")
    response = await client.post("/api/knowledge/import", params={"filename": "faq.csv"}, content=csv)
    assert response.status_code == 422
    assert "faq.csv" in response.json()["detail"]
    assert "UTF-8" in response.json()["detail"]
    assert (await client.get("/api/knowledge")).json()["total"] == 0


async def test_import_of_an_unsupported_file_type_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/knowledge/import", params={"filename": "faq.xlsx"}, content=b"PK\x03\x04")
    assert response.status_code == 422
    assert "faq.xlsx" in response.json()["detail"]


async def test_empty_and_huge_questions_get_clear_errors(client: httpx.AsyncClient) -> None:
    empty = await client.post("/api/agent/ask", json={"question": "   "})
    assert empty.status_code == 422
    huge = await client.post("/api/agent/ask", json={"question": "where is my order " * 6000})
    assert huge.status_code == 422
    assert "4000" in huge.text


async def test_health_reports_the_knowledge_size(client: httpx.AsyncClient) -> None:
    await client.post("/api/knowledge", json=FAQ)
    health = (await client.get("/healthz")).json()
    assert health["status"] == "ok"
    assert health["knowledge_entries"] == 1


async def test_with_an_api_token_set_requests_without_it_get_nothing(settings: Settings) -> None:
    from pydantic import SecretStr

    from frontdesk.app import create_app

    token = "s3cret-token-" + "x" * 20
    app = create_app(settings.model_copy(update={"api_token": SecretStr(token)}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            refused = await http.post("/api/knowledge", json=FAQ)
            assert refused.status_code == 401
            forged = await http.get("/api/knowledge", headers={"Authorization": f"Bearer {token[:-1]}X"})
            assert forged.status_code == 401
            good = await http.post("/api/knowledge", json=FAQ, headers={"Authorization": f"Bearer {token}"})
            assert good.status_code == 201
            listed = await http.get("/api/knowledge", headers={"Authorization": f"Bearer {token}"})
            assert listed.json()["total"] == 1


async def test_a_phrasing_added_to_a_faq_is_answered_and_kept_once(client: httpx.AsyncClient) -> None:
    entry = (await client.post("/api/knowledge", json=FAQ)).json()
    question = "do u guys mail parcels up to vancouver"
    before = (await client.post("/api/agent/ask", json={"question": question})).json()
    assert before["decision"] == "unknown"
    added = await client.post(f"/api/knowledge/{entry['id']}/phrasings", json={"text": f"  {question}  "})
    assert added.status_code == 200, added.text
    assert added.json()["alternates"] == [*FAQ["alternates"], question]
    again = await client.post(f"/api/knowledge/{entry['id']}/phrasings", json={"text": question.upper()})
    assert again.json()["alternates"] == [*FAQ["alternates"], question]  # already there, in any case
    after = (await client.post("/api/agent/ask", json={"question": question})).json()
    assert (after["decision"], after["entry"]["id"]) == ("answer", entry["id"])


async def test_a_phrasing_is_refused_for_what_is_not_a_faq_or_not_there(client: httpx.AsyncClient) -> None:
    article = {
        "kind": "article",
        "title": "Tent care",
        "body": "Dry it before storing it.",
        "url": "https://x.example/a",
    }
    made = (await client.post("/api/knowledge", json=article)).json()
    refused = await client.post(f"/api/knowledge/{made['id']}/phrasings", json={"text": "how do I store a tent"})
    assert refused.status_code == 409
    assert refused.json()["detail"].startswith(f"entry {made['id']} is an article, not a FAQ")
    missing = await client.post("/api/knowledge/999999/phrasings", json={"text": "anything"})
    assert missing.status_code == 404
    faq = (await client.post("/api/knowledge", json=FAQ)).json()
    for bad in [{"text": ""}, {"text": "x" * 5000}, {}, {"text": 5}]:
        assert (await client.post(f"/api/knowledge/{faq['id']}/phrasings", json=bad)).status_code == 422, bad
    signed_out = await client.post(
        f"/api/knowledge/{faq['id']}/phrasings", json={"text": "hi"}, headers={"Authorization": ""}
    )
    assert signed_out.status_code == 401


async def test_an_entry_with_five_hundred_phrasings_is_imported_whole_and_answered(client: httpx.AsyncClient) -> None:
    openers = ["", "hi ", "hey, ", "quick question: ", "hello, "]
    asks = ["can i get", "do you sell", "where do i buy", "how do i order", "is there", "can i send"]
    things = ["a gift card", "an e-gift card", "a gift voucher", "a digital gift card", "store credit as a gift"]
    extras = ["", " for my sister", " for a friend", " online", " for christmas"]
    phrasings = [f"{o}{a} {t}{x}" for o in openers for a in asks for t in things for x in extras][:500]
    assert len(set(phrasings)) == 500
    rows = [
        {"id": "gift-cards", "title": "Do you sell gift cards?", "questions": phrasings, "answer": "Yes, from $25."},
        {"id": "returns", "title": "What is your return policy?", "questions": [], "answer": "30 days, unworn."},
        {"id": "shipping", "title": "How long does shipping take?", "questions": [], "answer": "3-5 business days."},
    ]
    content = "\n".join(json.dumps(row) for row in rows).encode()

    response = await client.post("/api/knowledge/import", params={"filename": "faq.jsonl"}, content=content)

    assert response.status_code == 200, response.text
    assert response.json()["imported"] == 3
    assert response.json()["skipped"] == 0
    listed = (await client.get("/api/knowledge", params={"kind": "faq"})).json()["items"]
    gift = next(e for e in listed if e["ref"] == "gift-cards")
    assert len(gift["alternates"]) == 500
    decision = (await client.post("/api/agent/ask", json={"question": phrasings[437]})).json()
    assert decision["decision"] == "answer"
    assert decision["text"] == "Yes, from $25."
