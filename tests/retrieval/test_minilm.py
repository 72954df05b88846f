"""The default embedder, all-MiniLM-L6-v2 with int8 weights, reads text as the published model does."""

from __future__ import annotations

import numpy as np
import pytest

from frontdesk.retrieval.embedders import DEFAULT_EMBEDDER, MiniLMEmbedder


@pytest.fixture(scope="module")
def minilm() -> MiniLMEmbedder:
    return MiniLMEmbedder()


def test_the_default_embedder_is_minilm() -> None:
    assert DEFAULT_EMBEDDER == "minilm"


def test_it_scores_the_published_example_as_the_float32_model_does(minilm: MiniLMEmbedder) -> None:
    # sentence-transformers' own example for all-MiniLM-L6-v2 prints 0.6660 and 0.1046 (float32)
    vectors = minilm.embed_queries(
        ["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."]
    )
    assert vectors[0] @ vectors[1] == pytest.approx(0.6660, abs=0.03)
    assert vectors[0] @ vectors[2] == pytest.approx(0.1046, abs=0.03)


def test_vectors_are_unit_length_and_an_empty_text_is_still_a_vector(minilm: MiniLMEmbedder) -> None:
    vectors = minilm.embed_passages(["Shipping to Canada takes 5-8 business days.", "", "   "])
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)


def test_a_paraphrase_is_nearer_than_another_topic(minilm: MiniLMEmbedder) -> None:
    question, faq, other = minilm.embed_queries(
        ["how long does shipping to canada take?", "Delivery times to Canada", "How do I return a tent?"]
    )
    assert question @ faq > question @ other + 0.2


def test_a_text_reads_nearly_the_same_alone_and_in_an_import_batch(minilm: MiniLMEmbedder) -> None:
    # each product's activations are quantised with one scale per batch, so a batch moves a vector a little
    alone = minilm.embed_passages(["warranty on tents"])[0]
    assert np.array_equal(minilm.embed_queries(["warranty on tents", "x" * 300])[0], alone)  # questions: alone
    batch = minilm.embed_passages(["warranty on tents", "a much longer question " * 20, "x", "Tent care and storage"])
    assert float(alone @ batch[0]) > 0.98
    assert np.array_equal(
        batch,
        minilm.embed_passages(["warranty on tents", "a much longer question " * 20, "x", "Tent care and storage"]),
    )


def test_a_very_long_text_is_read_by_its_start_not_refused(minilm: MiniLMEmbedder) -> None:
    vectors = minilm.embed_passages(["tent " * 5000])
    assert np.isfinite(vectors).all() and np.linalg.norm(vectors[0]) == pytest.approx(1.0, abs=1e-4)
