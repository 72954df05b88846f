"""Behaviour of the retrieval index, its calibrated confidence, and the embedder loader (offline, wordllama)."""

from __future__ import annotations

import numpy as np
import pytest

from frontdesk.agent.confidence import (
    DEFAULT_CALIBRATION,
    Calibration,
    choose_threshold,
    fit_calibration,
)
from frontdesk.agent.embedders import Embedder, EmbedderError, load_embedder
from frontdesk.agent.index import FEATURE_NAMES, KnowledgeIndex, split_passages

FAQS: list[tuple[int, list[str]]] = [
    (1, ["What is your return policy?", "can i return an item", "how do i send something back for a refund"]),
    (2, ["How long does shipping take?", "when will my order arrive", "delivery time for my package"]),
    (3, ["Do you ship internationally?", "can you deliver abroad", "shipping to other countries"]),
    (4, ["How do I reset my password?", "i forgot my password", "can't log in to my account"]),
    (5, ["Which payment methods do you accept?", "can i pay with paypal", "do you take credit cards"]),
]


@pytest.fixture
def index(embedder: Embedder) -> KnowledgeIndex:
    idx = KnowledgeIndex(embedder)
    idx.upsert_many(FAQS)
    return idx


def test_empty_index_returns_no_candidates(embedder: Embedder) -> None:
    result = KnowledgeIndex(embedder).retrieve("where is my order")
    assert result.candidates == []
    assert result.confidence == 0.0
    assert result.features.shape == (len(FEATURE_NAMES),)


def test_paraphrase_finds_the_right_entry(index: KnowledgeIndex) -> None:
    result = index.retrieve("i want to send back the shoes i bought and get my money back")
    assert result.candidates[0].entry_id == 1


def test_candidates_are_distinct_best_first_and_at_most_k(index: KnowledgeIndex) -> None:
    result = index.retrieve("how long until my parcel is delivered", k=3)
    ids = [c.entry_id for c in result.candidates]
    assert len(ids) == 3 == len(set(ids))
    scores = [c.score for c in result.candidates]
    assert scores == sorted(scores, reverse=True)
    assert ids[0] == 2


def test_removed_entry_is_never_returned(index: KnowledgeIndex) -> None:
    index.remove(4)
    assert len(index) == 4
    result = index.retrieve("i forgot my password", k=10)
    assert 4 not in [c.entry_id for c in result.candidates]
    index.remove(4)  # removing twice is harmless


def test_upsert_replaces_old_texts(index: KnowledgeIndex) -> None:
    index.upsert(4, ["Do you sell gift cards?", "can i buy a gift voucher"])
    assert len(index) == 5
    assert index.retrieve("do you sell gift cards").candidates[0].entry_id == 4
    top = index.retrieve("i forgot my password").candidates[0]
    assert top.entry_id != 4


def test_upsert_with_no_text_leaves_the_entry_out(index: KnowledgeIndex) -> None:
    index.upsert(5, ["", "   "])
    assert len(index) == 4
    assert 5 not in [c.entry_id for c in index.retrieve("can i pay with paypal", k=10).candidates]


def test_removing_everything_then_adding_again_works(index: KnowledgeIndex) -> None:
    for entry_id, _ in FAQS:
        index.remove(entry_id)
    assert index.retrieve("refund").candidates == []
    index.upsert(9, ["Are your products vegan?"])
    assert index.retrieve("is this vegan").candidates[0].entry_id == 9


def test_confidence_is_higher_for_a_covered_question(index: KnowledgeIndex) -> None:
    covered = index.retrieve("can i pay with paypal")
    assert 0.0 <= covered.confidence <= 1.0
    assert covered.confidence > index.retrieve("what is the capital of mongolia").confidence


def test_confidence_is_low_for_unrelated_question(index: KnowledgeIndex) -> None:
    result = index.retrieve("what is the boiling point of mercury in kelvin")
    assert result.confidence < DEFAULT_CALIBRATION.threshold


def test_long_article_is_chunked_and_found_by_a_passage(embedder: Embedder) -> None:
    filler = " ".join(f"Our cotton shirts are soft and breathable, item {i}." for i in range(40))
    battery = (
        "Batteries must be recycled at a collection point and never thrown in household waste. Bring old batteries "
        "back to any of our shops and we recycle them for free."
    )
    body = f"{filler}\n\n{battery}"
    assert len(split_passages([body])) > 3
    idx = KnowledgeIndex(embedder)
    idx.upsert_many([*FAQS, (7, ["Care guide", body])])
    assert idx.retrieve("how do i recycle old batteries").candidates[0].entry_id == 7


def test_single_text_entries_are_scored(embedder: Embedder) -> None:
    idx = KnowledgeIndex(embedder)
    idx.upsert_many([(1, ["Do you offer gift wrapping?"]), (2, ["Where is your warehouse located?"])])
    result = idx.retrieve("can you gift wrap my order")
    assert result.candidates[0].entry_id == 1
    assert np.all(np.isfinite(result.features))


def test_calibration_can_be_swapped(index: KnowledgeIndex) -> None:
    always = Calibration((0.0,) * len(FEATURE_NAMES), 5.0, 0.5, FEATURE_NAMES)
    index.calibration = always
    assert index.retrieve("anything at all").confidence == pytest.approx(1 / (1 + np.exp(-5.0)))


def test_fit_calibration_recovers_a_separable_signal() -> None:
    rng = np.random.default_rng(0)
    n = 600
    answerable = rng.random(n) < 0.6
    signal = np.where(answerable, rng.normal(1.0, 0.5, n), rng.normal(-1.0, 0.5, n))
    features = np.column_stack([signal, rng.normal(size=(n, len(FEATURE_NAMES) - 1))])
    labels = answerable & (rng.random(n) < 0.9)
    cal = fit_calibration(features, labels, answerable)
    assert cal.feature_names == FEATURE_NAMES
    assert cal.weights[0] > 1.0
    p = np.asarray(cal.probability(features))
    assert p[labels].mean() > p[~answerable].mean() + 0.4
    answered = p >= cal.threshold
    assert answered[~answerable].mean() <= 0.12 + 1e-9
    assert abs(p.mean() - labels.mean()) < 0.03  # calibrated on average


def test_threshold_keeps_wrong_answers_within_target() -> None:
    p = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    labels = np.array([True, True, False, True, False, False])
    answerable = np.array([True, True, False, True, True, False])
    assert choose_threshold(p, labels, answerable, target=0.0) == pytest.approx(0.8)
    assert choose_threshold(p, labels, answerable, target=0.5) == pytest.approx(0.6)


def test_probability_accepts_one_vector_or_a_matrix() -> None:
    cal = Calibration((1.0, -1.0), 0.0, 0.5, ("a", "b"))
    assert isinstance(cal.probability(np.array([0.0, 0.0])), float)
    assert np.asarray(cal.probability(np.zeros((3, 2)))).shape == (3,)
    assert Calibration.from_json(cal.to_json()) == cal
    with pytest.raises(ValueError):
        cal.probability(np.zeros(3))


def test_unknown_embedder_spec_lists_the_choices() -> None:
    with pytest.raises(EmbedderError, match="wordllama"):
        load_embedder("word2vec")


def test_wordllama_vectors_are_unit_length(embedder: Embedder) -> None:
    vectors = embedder.embed_queries(["where is my order", ""])
    assert vectors.shape == (2, embedder.dim) and vectors.dtype == np.float32
    assert np.linalg.norm(vectors[0]) == pytest.approx(1.0, abs=1e-4)
    assert np.all(np.isfinite(vectors))
