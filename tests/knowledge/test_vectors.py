"""Each indexed text's vector is kept in the database: a start, or an edit that leaves a text alone, reads it instead
of embedding it again, and answers exactly as before."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sqlalchemy import func, select, update

from frontdesk.db import Database
from frontdesk.knowledge import service
from frontdesk.knowledge.models import TextVector
from frontdesk.knowledge.schemas import EntryIn, EntryPatch
from frontdesk.retrieval.embedders import Embedder

FAQS = [
    EntryIn(
        kind="faq",
        title="How long does shipping to Canada take?",
        alternates=["canada delivery time"],
        body="Orders reach Canada in 5-8 business days.",
    ),
    EntryIn(kind="faq", title="What is your return policy?", body="Return unused items within 30 days for a refund."),
    EntryIn(kind="faq", title="Do you offer gift wrapping?", body="Yes: recycled paper and a card, $5 an order."),
]


class Counting:
    """The real embedder, counting the texts it is asked to embed as passages."""

    def __init__(self, inner: Embedder) -> None:
        self.inner, self.name, self.dim, self.version = inner, inner.name, inner.dim, inner.version
        self.passages: list[str] = []

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.inner.embed_queries(texts)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        self.passages.extend(texts)
        return self.inner.embed_passages(texts)


async def kept(database: Database) -> int:
    async with database.session() as session:
        return int(await session.scalar(select(func.count()).select_from(TextVector)) or 0)


async def test_a_restart_reads_every_vector_and_answers_exactly_as_before(
    database: Database, embedder: Embedder
) -> None:
    first = service.Knowledge(Counting(embedder))
    async with database.session() as session:
        for faq in FAQS:
            await service.create_entry(session, first, faq)
    assert len(first.index.embedder.passages) == 7  # each title, the one phrasing, each whole document
    before = first.index.retrieve("how many days to ship to canada?")

    restarted = service.Knowledge(Counting(embedder))
    async with database.session() as session:
        await restarted.load(session)
    assert restarted.index.embedder.passages == []
    after = restarted.index.retrieve("how many days to ship to canada?")
    assert [c.entry_id for c in after.candidates] == [c.entry_id for c in before.candidates]
    assert after.confidence == before.confidence and before.confidence > 0.5


async def test_an_edit_embeds_only_the_texts_it_changed(database: Database, embedder: Embedder) -> None:
    knowledge = service.Knowledge(Counting(embedder))
    async with database.session() as session:
        entry = await service.create_entry(session, knowledge, FAQS[0])
        knowledge.index.embedder.passages.clear()
        await service.add_phrasing(session, knowledge, entry.id, "shipping time to toronto")
    # the new phrasing and the entry's new whole document; the title and the old phrasing are read
    assert sorted(knowledge.index.embedder.passages) == sorted(
        [
            "shipping time to toronto",
            "How long does shipping to Canada take? canada delivery time shipping time to toronto Orders reach "
            "Canada in 5-8 business days.",
        ]
    )


async def test_a_damaged_kept_vector_is_made_again_not_an_error(database: Database, embedder: Embedder) -> None:
    async with database.session() as session:
        entry = await service.create_entry(session, service.Knowledge(embedder), FAQS[1])
        await session.execute(update(TextVector).values(vector=b"\x00\x7c" * 7))  # wrong size, and infinite
        await session.commit()
    restarted = service.Knowledge(Counting(embedder))
    async with database.session() as session:
        await restarted.load(session)
    assert len(restarted.index.embedder.passages) == 2
    decision = restarted.index.retrieve("can I send it back for a refund?")
    assert decision.candidates[0].entry_id == entry.id


async def test_vectors_of_deleted_entries_are_dropped_at_the_next_start(database: Database, embedder: Embedder) -> None:
    knowledge = service.Knowledge(embedder)
    async with database.session() as session:
        ids = [(await service.create_entry(session, knowledge, faq)).id for faq in FAQS]
        await service.update_entry(session, knowledge, ids[0], EntryPatch(body="Canada: 3-5 business days now."))
        for entry_id in ids[1:]:
            await service.delete_entry(session, knowledge, entry_id)
    assert await kept(database) == 8  # nothing is deleted while serving
    async with database.session() as session:
        await service.Knowledge(embedder).load(session)
    assert await kept(database) == 3  # the entry left: title, phrasing, document
