"""The store's answer threshold: labelled by what the team does with handed-off questions and by shoppers' ratings,
chosen on those labels once there are enough, and shown with its figures (API and console)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import numpy as np
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from frontdesk.app import create_app
from frontdesk.config import Settings
from frontdesk.db import utcnow
from frontdesk.knowledge import threshold
from frontdesk.knowledge.models import Label
from frontdesk.transcripts import service as conversations
from frontdesk.transcripts.models import Message
from tests.server import ADMIN_HEADERS

FAQS = [
    {"kind": "faq", "title": "How long does shipping take?", "body": "3-5 business days in the US."},
    {"kind": "faq", "title": "What is your return policy?", "body": "30 days, unworn, with the tags."},
    {"kind": "faq", "title": "Do you sell gift cards?", "body": "Yes, from $25, sent by email."},
]
UNKNOWN = ["can I bring my dog to the warehouse", "do you sponsor climbing teams", "is there a student discount"]


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    app = create_app(settings.model_copy(update={"run_worker": False}))
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def admin(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver", headers=ADMIN_HEADERS) as http:
        for faq in FAQS:
            assert (await http.post("/api/knowledge", json=faq)).status_code == 201
        yield http


async def asked(app: FastAPI, text: str) -> str:
    """A shopper asks in a new web chat; returns the conversation."""
    async with app.state.database.session() as session:
        conversation = await conversations.create(session, "webchat", conversations.new_visitor_token())
        await session.commit()
    await app.state.flow.shopper_message(conversation.id, text)
    return conversation.id


async def labels(app: FastAPI) -> list[Label]:
    async with app.state.database.session() as session:
        return list((await session.scalars(select(Label).order_by(Label.id))).all())


def test_too_few_labels_keep_the_default_and_enough_move_it_towards_their_own_cut() -> None:
    few = np.array([0.2, 0.3]), np.array([True, False]), np.array([True, False])
    assert threshold.choose(0.55, *few) == (0.55, "default")
    # 30 labels: the answerable ones the engine got right at 0.40-0.49, the others at 0.05-0.20: their own cut is
    # 0.40, and 20 labels' worth of the default pull it up to (30 * 0.40 + 20 * 0.55) / 50.
    confidence = np.r_[np.linspace(0.40, 0.49, 15), np.linspace(0.05, 0.20, 15)]
    right = np.r_[np.ones(15, bool), np.zeros(15, bool)]
    covered = right.copy()
    chosen, source = threshold.choose(0.55, confidence, right, covered)
    assert source == "labels"
    assert chosen == pytest.approx((30 * 0.40 + 20 * 0.55) / 50)
    # a flood of 👍 on answers the engine was unsure of cannot take the threshold more than MAX_SHIFT down
    flood = np.full(5000, 0.05), np.ones(5000, bool), np.ones(5000, bool)
    flooded = threshold.choose(0.55, np.r_[flood[0], 0.0, 0.0, 0.0], np.r_[flood[1], [False] * 3],
                               np.r_[flood[2], [False] * 3])  # fmt: skip
    assert flooded == (pytest.approx(0.55 - threshold.MAX_SHIFT), "labels")
    resolution, wrong = threshold.measure(chosen, confidence, right, covered)
    assert (resolution, wrong) == (pytest.approx(5 / 15), 0.0)  # the five at 0.46 and above, none of the others


async def test_what_the_team_does_with_handed_off_questions_labels_them(app: FastAPI, admin: httpx.AsyncClient) -> None:
    for text in UNKNOWN:
        await asked(app, text)
    shipping = (await admin.get("/api/knowledge", params={"q": "shipping"})).json()["items"][0]

    # "Add as a phrasing" (knowledge gaps): it should have been answered by that FAQ
    added = await admin.post(f"/api/knowledge/{shipping['id']}/phrasings", json={"text": UNKNOWN[0]})
    assert added.status_code == 200
    # "Add to knowledge": a new entry made of the question — the knowledge did not cover it
    made = await admin.post("/api/knowledge", json={"kind": "faq", "title": UNKNOWN[1], "body": "Write to us."})
    assert made.status_code == 201

    found = await labels(app)
    assert [(x.text, x.source, x.covered, x.entry_id) for x in found] == [
        (UNKNOWN[0], "phrasing", True, shipping["id"]),
        (UNKNOWN[1], "new_entry", False, made.json()["id"]),
    ]
    assert all(0.0 <= x.confidence < app.state.knowledge.default_threshold for x in found)  # they were handed off
    assert found[1].first_was_right is False
    shown = (await admin.get("/api/knowledge/threshold")).json()
    assert shown["labelled"] == 2 and shown["should_answer"] == 1 and shown["not_covered"] == 1
    assert shown["source"] == "default" and shown["threshold"] == shown["default"]
    assert shown["wrong_answers"] == 0.0  # the not-covered one stays handed off at this threshold


async def test_a_question_nobody_asked_and_a_repeat_add_no_label(app: FastAPI, admin: httpx.AsyncClient) -> None:
    shipping = (await admin.get("/api/knowledge", params={"q": "shipping"})).json()["items"][0]
    await admin.post(f"/api/knowledge/{shipping['id']}/phrasings", json={"text": "a phrasing typed by the admin"})
    assert await labels(app) == []
    await asked(app, UNKNOWN[2])
    for _ in range(2):  # the same question added twice is one label
        await admin.post(f"/api/knowledge/{shipping['id']}/phrasings", json={"text": UNKNOWN[2].upper() + "?"})
    assert [x.text for x in await labels(app)] == [UNKNOWN[2]]


async def test_a_shoppers_rating_labels_the_answer_and_a_changed_rating_replaces_it(
    app: FastAPI, admin: httpx.AsyncClient
) -> None:
    conversation_id = await asked(app, "how long does shipping take?")
    async with app.state.database.session() as session:
        answer = [m for m in await conversations.messages_after(session, conversation_id, 0) if m.author == "ai"][-1]
    await app.state.flow.rate(conversation_id, answer.seq, "helpful")
    (first,) = await labels(app)
    assert (first.text, first.source, first.covered, first.first_was_right) == (
        "how long does shipping take?", "helpful", True, True,
    )  # fmt: skip
    await app.state.flow.rate(conversation_id, answer.seq, "not_helpful")
    (changed,) = await labels(app)
    assert (changed.source, changed.covered, changed.entry_id, changed.first_was_right) == (
        "not_helpful",
        False,
        None,
        False,
    )
    shown = (await admin.get("/api/knowledge/threshold")).json()
    assert (shown["labelled"], shown["not_covered"], shown["wrong_answers"]) == (1, 1, 1.0)


async def test_enough_labels_put_the_stores_own_threshold_in_force(app: FastAPI, admin: httpx.AsyncClient) -> None:
    knowledge = app.state.knowledge
    async with app.state.database.session() as session:
        for n in range(threshold.MIN_LABELS + 2):
            conversation = await conversations.create(session, "webchat", conversations.new_visitor_token())
            message = await conversations.insert_message(
                session, conversation, "shopper", f"question {n}",
                meta={"decision": "unknown", "confidence": 0.30 + n / 100 if n % 2 else n / 100, "best": None},
            )  # fmt: skip
            assert await threshold.label(session, message, "new_entry" if n % 2 == 0 else "phrasing", n % 2 == 1, None)
        in_force = await threshold.refresh(session, knowledge)
        await session.commit()
    shown = (await admin.get("/api/knowledge/threshold")).json()
    assert shown["source"] == "labels"
    assert shown["threshold"] == pytest.approx(in_force)
    assert knowledge.index.calibration.threshold == pytest.approx(in_force)
    assert in_force != pytest.approx(knowledge.default_threshold)


async def test_a_question_asked_before_the_label_window_is_not_looked_for(
    app: FastAPI, admin: httpx.AsyncClient
) -> None:
    conversation_id = await asked(app, UNKNOWN[1])
    async with app.state.database.session() as session:
        await session.execute(
            update(Message)
            .where(Message.conversation_id == conversation_id)
            .values(created_at=utcnow() - threshold.LABEL_WINDOW - timedelta(days=1))
        )
        await session.commit()
    made = await admin.post("/api/knowledge", json={"kind": "faq", "title": UNKNOWN[1], "body": "Write to us."})
    assert made.status_code == 201
    assert await labels(app) == []
