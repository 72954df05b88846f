"""Knowledge gaps grouped by meaning: normalisation, the greedy grouping and what each group shows."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import numpy as np

from frontdesk.metrics.gaps import SIMILARITY, group, normalise, phrasings
from frontdesk.retrieval.embedders import Embedder
from frontdesk.transcripts.service import Unanswered

NOON = datetime(2025, 3, 10, 12, tzinfo=UTC)


def asked(text: str, minutes: int = 0, conversation: str | None = None, reply: str | None = None) -> Unanswered:
    return Unanswered(conversation or f"conv_{text}_{minutes}", 1, text, NOON + timedelta(minutes=minutes), reply)


class Fixed:
    """An embedder that returns the vector it was given for each text: the grouping rule, not a model, is tested."""

    name = "fixed"
    dim = 2
    version = "fixed"

    def __init__(self, vectors: dict[str, tuple[float, float]]) -> None:
        self.vectors = vectors

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        rows = np.array([self.vectors[t] for t in texts], dtype=np.float32)
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)

    embed_passages = embed_queries


def at_cosine(cosine: float) -> tuple[float, float]:
    return (cosine, float(np.sqrt(1 - cosine**2)))


def at_degrees(angle: float) -> tuple[float, float]:
    return (float(np.cos(np.radians(angle))), float(np.sin(np.radians(angle))))


def test_normalise_drops_case_spacing_edge_punctuation_and_typographic_quotes() -> None:
    assert normalise("  Do you   GIFT wrap?? ") == "do you gift wrap"
    assert normalise("What\u2019s the capital of Peru?") == "what's the capital of peru"
    assert normalise("¿¡!!") == ""


def test_the_same_words_asked_twice_are_one_phrasing_counted_twice() -> None:
    found = phrasings([asked("Do you gift wrap?", 1), asked("do you gift wrap", 5), asked("Engraving?", 3)])
    assert [(p.key, len(p.asked)) for p in found] == [("do you gift wrap", 2), ("engraving", 1)]
    assert found[0].text == "do you gift wrap"  # as the newest shopper wrote it
    assert found[0].last_asked_at == NOON + timedelta(minutes=5)


def test_phrasings_of_one_question_form_one_group_ranked_by_how_often_asked(embedder: Embedder) -> None:
    questions = [
        asked("do you offer gift wrapping?", 1),
        asked("Can you gift wrap my order?", 2),
        asked("is gift wrapping available?", 3),
        asked("Do you gift wrap?", 4),
        asked("do you gift wrap", 5),
        asked("do you offer engraving?", 6),
        asked("what's the capital of peru?", 7),
        asked("What's the capital of Peru", 8),
    ]
    groups = group(questions, embedder)
    assert [g.count for g in groups] == [5, 2, 1]
    gift, peru, engraving = groups
    assert {p.key for p in gift.phrasings} == {
        "do you offer gift wrapping", "can you gift wrap my order", "is gift wrapping available", "do you gift wrap"
    }  # fmt: skip
    assert gift.typical.key == "do you gift wrap"  # asked twice
    assert gift.conversations == 5
    assert gift.last_asked_at == NOON + timedelta(minutes=5)
    assert [p.key for p in peru.phrasings] == ["what's the capital of peru"]
    assert [p.key for p in engraving.phrasings] == ["do you offer engraving"]


def test_a_phrasing_joins_a_group_from_the_similarity_threshold_on() -> None:
    above = Fixed({"seed": (1.0, 0.0), "near": at_cosine(SIMILARITY + 0.01)})
    assert len(group([asked("seed", 2), asked("near", 1)], above)) == 1
    below = Fixed({"seed": (1.0, 0.0), "far": at_cosine(SIMILARITY - 0.01)})
    assert len(group([asked("seed", 2), asked("far", 1)], below)) == 2


def test_mostly_the_same_content_words_group_whatever_the_embedder_says() -> None:
    apart = Fixed({"gift wrap for christmas": (1.0, 0.0), "christmas gift wrap": (0.0, 1.0)})
    groups = group([asked("gift wrap for christmas", 1), asked("christmas gift wrap", 2)], apart)
    assert len(groups) == 1


def test_among_phrasings_asked_equally_often_the_one_nearest_the_centre_is_typical() -> None:
    vectors = Fixed({"left": at_degrees(20), "middle": at_degrees(0), "right": at_degrees(-20)})
    [only] = group([asked("left", 3), asked("middle", 2), asked("right", 1)], vectors)
    assert only.count == 3
    assert only.typical.key == "middle"


def test_the_draft_answer_is_the_teams_reply_to_the_typical_phrasing_else_the_newest_reply() -> None:
    vectors = Fixed({"gift wrap": (1.0, 0.0), "wrapping": (1.0, 0.05)})
    [only] = group(
        [
            asked("gift wrap", 1, reply="Yes, $5 per item."),
            asked("gift wrap", 2),
            asked("wrapping", 9, reply="Only at Christmas."),
        ],
        vectors,
    )
    assert only.typical.key == "gift wrap"
    draft = only.draft_answer()
    assert draft is not None and draft.reply == "Yes, $5 per item."

    [alone] = group([asked("gift wrap", 1), asked("wrapping", 3, reply="Old"), asked("wrapping", 8, reply="New")],
                    Fixed({"gift wrap": (1.0, 0.0), "wrapping": (1.0, 0.05)}))  # fmt: skip
    assert alone.typical.key == "wrapping"
    draft = alone.draft_answer()
    assert draft is not None and draft.reply == "New"


def test_no_questions_no_groups(embedder: Embedder) -> None:
    assert group([], embedder) == []
    assert group([asked("?!")], embedder) == []
