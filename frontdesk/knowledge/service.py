"""The store's knowledge: entries in the database, and the in-memory retrieval index that follows them."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np
from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from frontdesk.knowledge import importers, vectors
from frontdesk.knowledge.models import Entry
from frontdesk.knowledge.schemas import EntryIn, EntryKind, EntryPatch, ImportProblem, ImportReport
from frontdesk.retrieval.confidence import Calibration, calibration_for
from frontdesk.retrieval.embedders import Embedder
from frontdesk.retrieval.index import KnowledgeIndex, Retrieval

log = logging.getLogger(__name__)


class KnowledgeError(Exception):
    """A change to the knowledge that cannot be made, with a message for the store admin."""


class EntryNotFound(KnowledgeError):
    pass


class RefTaken(KnowledgeError):
    pass


@dataclass(frozen=True)
class EntryView:
    """What the agent needs of an entry to retrieve it and answer with it."""

    id: int
    kind: EntryKind
    ref: str | None
    title: str
    alternates: tuple[str, ...]
    body: str
    url: str | None
    price: Decimal | None
    availability: str | None

    @classmethod
    def of(cls, entry: Entry) -> EntryView:
        return cls(
            id=entry.id,
            kind=EntryKind(entry.kind),
            ref=entry.ref,
            title=entry.title,
            alternates=tuple(entry.alternates or ()),
            body=entry.body,
            url=entry.url,
            price=entry.price,
            availability=entry.availability,
        )

    def texts(self) -> list[str]:
        """The texts a shopper's question is matched against, the main one first (the index cuts long ones)."""
        if self.kind is EntryKind.faq:
            return [self.title, *self.alternates]
        return [self.title, self.body] if self.body else [self.title]

    def answer(self) -> str:
        """The FAQ's answer, matched as part of the entry's whole document only (an article's or a product's body is
        one of its texts already)."""
        return self.body if self.kind is EntryKind.faq else ""


class Knowledge:
    """Entries by id plus the retrieval index; kept in step with the database by this module's functions."""

    def __init__(self, embedder: Embedder, calibration: Calibration | None = None) -> None:
        self.index = KnowledgeIndex(embedder, calibration or calibration_for(embedder.name))
        #: The model's own threshold, before the store's labelled questions sharpen it (`knowledge.threshold`).
        self.default_threshold = self.index.calibration.threshold
        self.entries: dict[int, EntryView] = {}
        #: Told the ids of the entries this process changed, after their commit (`knowledge.sync` tells the others).
        self.changed: Callable[[list[int]], None] | None = None

    async def load(self, session: AsyncSession, progress: Callable[[int, int], None] | None = None) -> None:
        """Read every entry and index it, with the vectors kept in the database (a start embeds only new texts);
        `progress` is told (texts embedded, texts to embed) as it goes."""
        started = time.perf_counter()
        views = [EntryView.of(e) for e in (await session.scalars(select(Entry))).all()]
        self.entries = {v.id: v for v in views}
        current, made = await self._index(session, views, progress)
        await vectors.prune(session, self.index.embedder, current)
        log.info(
            "knowledge: %d entries indexed in %.1f s (%d texts: %d vectors read from the database, %d embedded)",
            len(views),
            time.perf_counter() - started,
            len(current),
            len(current) - made,
            made,
        )

    async def store(self, session: AsyncSession, views: Sequence[EntryView], announce: bool = True) -> None:
        """Index saved entries, reading the vectors their texts already have and keeping the new ones; then tell the
        other processes (`knowledge.sync`), which read those vectors instead of embedding again."""
        for view in views:
            self.entries[view.id] = view
        await self._index(session, views)
        if announce and self.changed and views:
            self.changed([v.id for v in views])

    async def _index(
        self, session: AsyncSession, views: Sequence[EntryView], progress: Callable[[int, int], None] | None = None
    ) -> tuple[dict[str, np.ndarray], int]:
        """Index views; the vectors of their texts, and how many of them were embedded now."""
        if not views:
            return {}, 0
        items = [(v.id, v.texts(), v.answer()) for v in views]
        texts = self.index.texts_to_embed(items)
        known = await vectors.read(session, self.index.embedder, texts)
        made = vectors.as_stored(self.index.embed([t for t in texts if t not in known], progress))
        current = {**known, **made}
        self.index.upsert_many(items, known=current)
        await vectors.write(session, self.index.embedder, made)
        return current, len(made)

    def put(self, views: Sequence[EntryView], announce: bool = True) -> None:
        """Index entries without a database (tests, tools): every text is embedded."""
        for view in views:
            self.entries[view.id] = view
        if views:
            self.index.upsert_many([(v.id, v.texts(), v.answer()) for v in views])
        if announce and self.changed and views:
            self.changed([v.id for v in views])

    def drop(self, entry_id: int, announce: bool = True) -> None:
        self.entries.pop(entry_id, None)
        self.index.remove(entry_id)
        if announce and self.changed:
            self.changed([entry_id])

    def retrieve(self, query: str, k: int = 5) -> tuple[Retrieval, list[tuple[EntryView, float]]]:
        retrieval = self.index.retrieve(query, k=k)
        return retrieval, self.hits(retrieval)

    def hits(self, retrieval: Retrieval) -> list[tuple[EntryView, float]]:
        """A retrieval's candidates as entries with their rank scores, best first."""
        return [(self.entries[c.entry_id], c.score) for c in retrieval.candidates if c.entry_id in self.entries]


async def list_entries(
    session: AsyncSession,
    *,
    kind: EntryKind | None = None,
    text: str | None = None,
    limit: int = 50,
    offset: int = 0,
    newest_first: bool = False,
) -> tuple[list[Entry], int]:
    """A page of entries by id, or most recently changed first (the console); `text` is in the title or body."""
    query = select(Entry)
    if kind is not None:
        query = query.where(Entry.kind == kind.value)
    if text:
        pattern = f"%{text.lower()}%"
        query = query.where(or_(func.lower(Entry.title).like(pattern), func.lower(Entry.body).like(pattern)))
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    order = (Entry.updated_at.desc(), Entry.id.desc()) if newest_first else (Entry.id,)
    rows = await session.scalars(query.order_by(*order).limit(limit).offset(offset))
    return list(rows.all()), total


async def get_entry(session: AsyncSession, entry_id: int) -> Entry:
    entry = await session.get(Entry, entry_id)
    if entry is None:
        raise EntryNotFound(f"no knowledge entry with id {entry_id}")
    return entry


async def _check_ref_free(session: AsyncSession, ref: str | None, own_id: int | None = None) -> None:
    if ref is None:
        return
    other = await session.scalar(select(Entry.id).where(Entry.ref == ref))
    if other is not None and other != own_id:
        raise RefTaken(f"ref {ref!r} is already used by entry {other}")


def _fields(data: EntryIn) -> dict[str, object]:
    return {
        "kind": data.kind.value,
        "ref": data.ref,
        "title": data.title,
        "alternates": list(data.alternates),
        "body": data.body,
        "url": data.url,
        "price": data.price,
        "availability": data.availability.value if data.availability else None,
    }


async def create_entry(session: AsyncSession, knowledge: Knowledge, data: EntryIn, source: str | None = None) -> Entry:
    await _check_ref_free(session, data.ref)
    entry = Entry(**_fields(data), source=source)
    session.add(entry)
    await session.commit()
    await knowledge.store(session, [EntryView.of(entry)])
    return entry


async def update_entry(session: AsyncSession, knowledge: Knowledge, entry_id: int, patch: EntryPatch) -> Entry:
    entry = await get_entry(session, entry_id)
    changes = patch.model_dump(exclude_unset=True)
    merged = EntryIn.model_validate({**_fields_of(entry), **changes})
    await _check_ref_free(session, merged.ref, own_id=entry.id)
    for name, value in _fields(merged).items():
        setattr(entry, name, value)
    await session.commit()
    await knowledge.store(session, [EntryView.of(entry)])
    return entry


class NotAFaq(KnowledgeError):
    """A phrasing given for an entry that has none: only a FAQ is matched by its phrasings."""


async def add_phrasing(session: AsyncSession, knowledge: Knowledge, entry_id: int, text: str) -> Entry:
    """One more way shoppers ask a FAQ's question (a knowledge gap that entry should have answered); a phrasing the
    entry has already (in any case) changes nothing."""
    entry = await get_entry(session, entry_id)
    if entry.kind != EntryKind.faq.value:
        raise NotAFaq(f"entry {entry_id} is {_a(entry.kind)}, not a FAQ: only a FAQ takes phrasings; add a FAQ instead")
    phrasing = " ".join(text.split())
    known = {t.casefold() for t in [entry.title, *(entry.alternates or [])]}
    if phrasing.casefold() in known:
        return entry
    return await update_entry(
        session, knowledge, entry_id, EntryPatch(alternates=[*(entry.alternates or []), phrasing])
    )


def _a(kind: str) -> str:
    return f"an {kind}" if kind[:1] in "aeiou" else f"a {kind}"


def _fields_of(entry: Entry) -> dict[str, object]:
    return {
        "kind": entry.kind,
        "ref": entry.ref,
        "title": entry.title,
        "alternates": entry.alternates,
        "body": entry.body,
        "url": entry.url,
        "price": entry.price,
        "availability": entry.availability,
    }


def _import_key(data: EntryIn | Entry) -> tuple[str, ...]:
    """How a re-imported row finds the entry it updates: its ref, else the same kind, title and url."""
    if data.ref:
        return ("ref", data.ref)
    kind = data.kind.value if isinstance(data.kind, EntryKind) else str(data.kind)
    return ("title", kind, data.title, data.url or "")


async def _existing_entries(session: AsyncSession, rows: Sequence[importers.ParsedRow]) -> dict[tuple[str, ...], Entry]:
    refs = [r.entry.ref for r in rows if r.entry.ref]
    titles = [r.entry.title for r in rows if not r.entry.ref]
    found: dict[tuple[str, ...], Entry] = {}
    for start in range(0, max(len(refs), len(titles)), 500):
        conditions = []
        if refs[start : start + 500]:
            conditions.append(Entry.ref.in_(refs[start : start + 500]))
        if titles[start : start + 500]:
            conditions.append(Entry.ref.is_(None) & Entry.title.in_(titles[start : start + 500]))
        for entry in (await session.scalars(select(Entry).where(or_(*conditions)))).all():
            found[_import_key(entry)] = entry
    return found


async def delete_entry(session: AsyncSession, knowledge: Knowledge, entry_id: int) -> None:
    entry = await get_entry(session, entry_id)
    await session.delete(entry)
    await session.commit()
    knowledge.drop(entry_id)


async def import_path(
    session: AsyncSession,
    knowledge: Knowledge | None,
    path: Path,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Import a file or folder in one transaction: either every good row lands, or nothing does.

    Rows whose `ref` already exists update that entry, so importing the same file twice changes nothing.
    Raises importers.ImportFormatError when the input as a whole cannot be read. `knowledge` is the index to
    update, or None for a process that does not serve (the CLI): servers load the entries when they start.
    """
    parsed = importers.parse(path, progress)
    problems: list[ImportProblem] = list(parsed.problems)
    seen: dict[str, int] = {}
    good: list[importers.ParsedRow] = []
    for row in parsed.rows:
        ref = row.entry.ref
        if ref is not None and ref in seen:
            problems.append(ImportProblem(file=row.file, line=row.line, reason=f"ref {ref!r} repeats line {seen[ref]}"))
            continue
        if ref is not None:
            seen[ref] = row.line
        good.append(row)

    existing = await _existing_entries(session, good)
    touched: list[Entry] = []
    try:
        for row in good:
            entry = existing.get(_import_key(row.entry))
            if entry is None:
                entry = Entry(**_fields(row.entry), source=row.file)
                session.add(entry)
            else:
                for name, value in _fields(row.entry).items():
                    setattr(entry, name, value)
                entry.source = row.file
            touched.append(entry)
        await session.commit()
    except BaseException:
        await session.rollback()
        raise
    if knowledge is not None:
        await knowledge.store(session, [EntryView.of(e) for e in touched])
    problems.sort(key=lambda p: (p.file, p.line or 0))
    return ImportReport(imported=len(touched), skipped=len(problems), problems=problems)
