"""The vectors of indexed texts, kept in the database (`knowledge_vectors`).

Embedding is the one slow step of indexing (a transformer's forward pass per text), so each text's vector is kept,
keyed by the embedder's name and version and the text's SHA-256. A start, another process, or an edit that leaves
most of an entry's texts alone reads them instead of embedding again. It is a cache: a vector that cannot be read
or written is made again, never an error for the store.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from frontdesk.knowledge.models import TextVector
from frontdesk.retrieval.embedders import Embedder

log = logging.getLogger(__name__)

#: Stored as float16: half the bytes, and a cosine moves by less than 0.001.
STORED = np.dtype("<f2")
#: Rows per statement (three parameters each: well under SQLite's and PostgreSQL's limits).
CHUNK = 500
#: A start rewrites the embedder's rows when more than this share of them belong to no current text.
STALE_SHARE = 0.25


def embedder_key(embedder: Embedder) -> str:
    key = f"{embedder.name}@{embedder.version}"
    return key if len(key) <= 200 else "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def as_stored(vectors: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Vectors rounded as they will be stored, so an index reads the same numbers before and after a restart."""
    return {text: np.asarray(v, dtype=STORED).astype(np.float32) for text, v in vectors.items()}


def _chunks(items: Sequence[str], size: int = CHUNK) -> Iterable[Sequence[str]]:
    return (items[i : i + size] for i in range(0, len(items), size))


async def read(session: AsyncSession, embedder: Embedder, texts: Sequence[str]) -> dict[str, np.ndarray]:
    """The kept vectors of those texts that have one (of this embedder, and of its size)."""
    key, by_digest, found = embedder_key(embedder), {digest(t): t for t in texts}, {}
    try:
        for chunk in _chunks(list(by_digest)):
            query = select(TextVector.digest, TextVector.vector).where(
                TextVector.embedder == key, TextVector.digest.in_(chunk)
            )
            for row_digest, blob in (await session.execute(query)).all():
                vector = np.frombuffer(blob, dtype=STORED)
                if vector.shape == (embedder.dim,) and np.isfinite(vector).all():
                    found[by_digest[row_digest]] = vector.astype(np.float32)
    except SQLAlchemyError as exc:
        await session.rollback()
        log.warning("kept vectors could not be read (%s); embedding the texts instead", exc)
        return {}
    return found


async def write(session: AsyncSession, embedder: Embedder, vectors: Mapping[str, np.ndarray]) -> None:
    """Keep vectors; a text another process kept meanwhile is left as it is."""
    if not vectors:
        return
    key = embedder_key(embedder)
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    texts = list(vectors)
    try:
        for chunk in _chunks(texts):
            rows = [
                {"embedder": key, "digest": digest(t), "vector": np.asarray(vectors[t], STORED).tobytes()}
                for t in chunk
            ]
            await session.execute(dialect.insert(TextVector).values(rows).on_conflict_do_nothing())
        await session.commit()
    except SQLAlchemyError as exc:
        await session.rollback()
        log.warning("vectors could not be kept (%s); they will be made again at the next start", exc)


async def prune(session: AsyncSession, embedder: Embedder, current: Mapping[str, np.ndarray]) -> None:
    """At a start: when many of the embedder's kept vectors belong to no current text (entries edited or deleted),
    rewrite them as exactly the current ones."""
    key = embedder_key(embedder)
    try:
        kept = await session.scalar(select(func.count()).select_from(TextVector).where(TextVector.embedder == key))
        if not kept or kept - len(current) <= STALE_SHARE * kept:
            return
        await session.execute(delete(TextVector).where(TextVector.embedder == key))
        await session.commit()
    except SQLAlchemyError as exc:
        await session.rollback()
        log.warning("stale vectors could not be pruned (%s)", exc)
        return
    await write(session, embedder, current)
