"""REST routes of the knowledge: /api/knowledge (CRUD, search, import)."""

from __future__ import annotations

import tempfile
from pathlib import Path, PurePath
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from sqlalchemy.ext.asyncio import AsyncSession

from frontdesk.deps import get_session
from frontdesk.knowledge import importers, service, threshold
from frontdesk.knowledge.schemas import (
    EntryIn,
    EntryKind,
    EntryList,
    EntryOut,
    EntryPatch,
    ImportReport,
    PhrasingIn,
    SearchHit,
    ThresholdOut,
)
from frontdesk.params import Offset, RowId
from frontdesk.users.access import require_admin


def get_knowledge(request: Request) -> service.Knowledge:
    """The store's knowledge the app loaded at start (entries and their index), for any route that reads it."""
    knowledge: service.Knowledge = request.app.state.knowledge
    return knowledge


router = APIRouter(prefix="/api/knowledge", tags=["knowledge"], dependencies=[Depends(require_admin)])

Session = Annotated[AsyncSession, Depends(get_session)]
KnowledgeDep = Annotated[service.Knowledge, Depends(get_knowledge)]
IMPORT_PATH = "/api/knowledge/import"  # its body may be as large as settings.max_upload_bytes (http_guard)
# A .zip carries what a browser cannot send as one file: a folder of pages, or a sitemap .xml with its saved pages.
IMPORT_SUFFIXES = {".csv", ".jsonl", ".md", ".markdown", ".html", ".htm", ".zip"}


@router.get("", response_model=EntryList)
async def list_entries(
    session: Session,
    kind: EntryKind | None = None,
    q: Annotated[str | None, Query(max_length=200, description="Text the title or body contains")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
) -> EntryList:
    rows, total = await service.list_entries(session, kind=kind, text=q, limit=limit, offset=offset)
    return EntryList(items=[EntryOut.model_validate(r) for r in rows], total=total)


@router.get("/search", response_model=list[SearchHit])
async def search(
    knowledge: KnowledgeDep,
    session: Session,
    q: Annotated[str, Query(min_length=1, max_length=4000)],
    k: Annotated[int, Query(ge=1, le=50)] = 5,
) -> list[SearchHit]:
    """Entries closest in meaning to `q`, best first, as the agent would find them."""
    if not q.strip():
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "q is empty")
    _, hits = knowledge.retrieve(q, k=k)
    out = []
    for view, score in hits:
        entry = await session.get(service.Entry, view.id)
        if entry is not None:
            out.append(SearchHit(entry=EntryOut.model_validate(entry), score=round(score, 4)))
    return out


@router.post("", response_model=EntryOut, status_code=status.HTTP_201_CREATED)
async def create_entry(data: EntryIn, session: Session, knowledge: KnowledgeDep) -> EntryOut:
    try:
        entry = await service.create_entry(session, knowledge, data)
    except service.RefTaken as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    # a handed-off question made into new knowledge (a gap's "Add to knowledge"): the knowledge did not cover it
    out = EntryOut.model_validate(entry)
    if await threshold.label_handed_off(session, [data.title, *data.alternates], "new_entry", False, entry.id):
        await threshold.refresh(session, knowledge)
        await session.commit()
    return out


@router.get("/threshold", response_model=ThresholdOut)
async def get_threshold(session: Session, knowledge: KnowledgeDep, request: Request) -> ThresholdOut:
    """The confidence below which the agent hands off, and how it does on the store's labelled questions."""
    found = await threshold.current(session, knowledge, request.app.state.settings.answer_threshold)
    return ThresholdOut.model_validate(found, from_attributes=True)


@router.get("/{entry_id}", response_model=EntryOut)
async def get_entry(entry_id: RowId, session: Session) -> EntryOut:
    try:
        return EntryOut.model_validate(await service.get_entry(session, entry_id))
    except service.EntryNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc


@router.patch("/{entry_id}", response_model=EntryOut)
async def update_entry(entry_id: RowId, patch: EntryPatch, session: Session, knowledge: KnowledgeDep) -> EntryOut:
    try:
        return EntryOut.model_validate(await service.update_entry(session, knowledge, entry_id, patch))
    except service.EntryNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    except service.RefTaken as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    except ValueError as exc:  # the merged entry fails validation (e.g. a FAQ whose answer was emptied)
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, _validation_message(exc)) from exc


@router.post("/{entry_id}/phrasings", response_model=EntryOut)
async def add_phrasing(entry_id: RowId, phrasing: PhrasingIn, session: Session, knowledge: KnowledgeDep) -> EntryOut:
    """Add a way shoppers ask a FAQ's question (say, a knowledge gap the FAQ should have answered): the agent
    matches it from now on. A phrasing the FAQ has already changes nothing."""
    try:
        entry = EntryOut.model_validate(await service.add_phrasing(session, knowledge, entry_id, phrasing.text))
    except service.EntryNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    except service.NotAFaq as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    except ValueError as exc:  # e.g. the FAQ has as many phrasings as an entry may have
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, _validation_message(exc)) from exc
    # a handed-off question this FAQ should have answered: a label that sharpens the store's threshold
    if await threshold.label_handed_off(session, [phrasing.text], "phrasing", True, entry_id):
        await threshold.refresh(session, knowledge)
        await session.commit()
    return entry


@router.delete("/{entry_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_entry(entry_id: RowId, session: Session, knowledge: KnowledgeDep) -> None:
    try:
        await service.delete_entry(session, knowledge, entry_id)
    except service.EntryNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc


@router.post(IMPORT_PATH.removeprefix(router.prefix), response_model=ImportReport)
async def import_file(
    request: Request,
    session: Session,
    knowledge: KnowledgeDep,
    filename: Annotated[str, Query(description="Name of the uploaded file; its extension picks the format")],
) -> ImportReport:
    """Import one file sent as the request body (CSV, JSONL, Markdown, HTML, or a .zip of a pages folder or of a
    sitemap with its saved pages). All good rows or none."""
    name = PurePath(filename).name
    try:
        importers.check_name(name)
    except importers.ImportFormatError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"filename: {exc}") from exc
    suffix = PurePath(name).suffix.lower()
    if suffix not in IMPORT_SUFFIXES:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"{name}: unsupported file type; use one of {', '.join(sorted(IMPORT_SUFFIXES))}",
        )
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        with path.open("wb") as upload:  # to disk as it arrives: an upload is never held in memory whole
            async for chunk in request.stream():
                upload.write(chunk)
        try:
            if suffix == ".zip":
                unpacked = Path(folder) / PurePath(name).stem
                unpacked.mkdir()
                path = importers.unpack_zip(path, unpacked)
            report = await service.import_path(session, knowledge, path)
        except importers.ImportFormatError as exc:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc).replace(folder + "/", "")) from exc
    for problem in report.problems:
        # Rows of a folder are named relative to it; only a whole-file problem may carry the temporary path.
        if PurePath(problem.file).is_absolute():
            problem.file = PurePath(problem.file).name
    return report


def _validation_message(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'entry'}: {e['msg']}" for e in errors())
    return str(exc)
