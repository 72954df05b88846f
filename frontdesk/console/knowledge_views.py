"""The console's knowledge pages: the entries (search, add, edit, delete, import) and the playground.

The pages are rendered here; their forms save through /api/knowledge with the admin's CSRF token, so the console
and scripts share one set of rules. The playground asks the agent the same way POST /api/agent/ask does.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from frontdesk.agent import engine
from frontdesk.agent.schemas import DecisionOut
from frontdesk.agent.views import describe, threshold_of
from frontdesk.config import Settings
from frontdesk.console.pages import PAGE_SIZE, Pager, console_page
from frontdesk.db import Database
from frontdesk.knowledge import service, threshold
from frontdesk.knowledge.schemas import Availability, EntryKind, EntryOut
from frontdesk.knowledge.views import IMPORT_SUFFIXES
from frontdesk.params import RowId, page_query

pages = APIRouter(prefix="/console", include_in_schema=False)

KIND_LABELS = {EntryKind.faq: "FAQ", EntryKind.article: "Article", EntryKind.product: "Product"}
AVAILABILITY_LABELS = {
    Availability.in_stock: "In stock",
    Availability.out_of_stock: "Out of stock",
    Availability.preorder: "Preorder",
    Availability.discontinued: "Discontinued",
}
# The entry form has one input per API field; its title and body are named the way each kind calls them.
FIELD_LABELS = {
    "title": {EntryKind.faq: "Question", EntryKind.article: "Title", EntryKind.product: "Product name"},
    "body": {EntryKind.faq: "Answer", EntryKind.article: "Text", EntryKind.product: "Description"},
}


def _common() -> dict[str, Any]:
    return {
        "kind_labels": {kind.value: label for kind, label in KIND_LABELS.items()},
        "field_labels": {field: {k.value: v for k, v in labels.items()} for field, labels in FIELD_LABELS.items()},
        "availability_labels": {a.value: label for a, label in AVAILABILITY_LABELS.items()},
    }


def _database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


@pages.get("/knowledge", response_class=HTMLResponse)
async def knowledge_page(
    request: Request,
    q: Annotated[str, Query(max_length=200)] = "",
    kind: Annotated[str, Query(description="faq, article or product; empty for all (the search form's default)")] = "",
    page: Annotated[int, page_query(PAGE_SIZE)] = 1,
) -> Response:
    text = q.strip()
    chosen = EntryKind(kind) if kind in EntryKind.__members__ else None
    async with _database(request).session() as session:
        rows, total = await service.list_entries(
            session, kind=chosen, text=text or None, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE, newest_first=True
        )
        found = await threshold.current(
            session, request.app.state.knowledge, request.app.state.settings.answer_threshold
        )
    context = {
        **_common(),
        "entries": [EntryOut.model_validate(row) for row in rows],
        "q": text,
        "kind": chosen.value if chosen else "",
        "pager": Pager(page, total),
        "import_accept": ",".join(sorted(IMPORT_SUFFIXES)),
        "import_max_bytes": request.app.state.settings.max_upload_bytes,
        "threshold": found,
        "min_labels": threshold.MIN_LABELS,
    }
    return console_page(request, "console/knowledge.html", "Knowledge", context)


@pages.get("/knowledge/new", response_class=HTMLResponse)
async def new_entry_page(
    request: Request,
    kind: EntryKind = EntryKind.faq,
    question: Annotated[str, Query(max_length=500)] = "",
    answer: Annotated[str, Query(max_length=100_000)] = "",
    alternates: Annotated[str, Query(max_length=25_000, description="Alternate phrasings, one a line")] = "",
) -> Response:
    """The form for a new entry; `question`, `answer` and `alternates` pre-fill a FAQ (the knowledge gaps page)."""
    draft = {
        "kind": kind.value,
        "title": question,
        "body": answer,
        "alternates": [line.strip() for line in alternates.splitlines() if line.strip()],
    }
    return console_page(
        request, "console/knowledge_entry.html", "New entry", {**_common(), "entry": None, "draft": draft}
    )


@pages.get("/knowledge/{entry_id}", response_class=HTMLResponse)
async def entry_page(request: Request, entry_id: RowId) -> Response:
    async with _database(request).session() as session:
        try:
            entry = EntryOut.model_validate(await service.get_entry(session, entry_id))
        except service.EntryNotFound:
            return console_page(
                request, "console/knowledge_missing.html", "Entry not found", {"entry_id": entry_id}, status=404
            )
    draft = {"kind": entry.kind.value, "title": entry.title, "body": entry.body, "alternates": entry.alternates}
    return console_page(
        request, "console/knowledge_entry.html", "Edit entry", {**_common(), "entry": entry, "draft": draft}
    )


@pages.get("/playground", response_class=HTMLResponse)
async def playground_page(request: Request, q: Annotated[str, Query(max_length=4000)] = "") -> Response:
    """Ask the agent a question as a shopper would; `?q=` asks at once (links from entries and gaps)."""
    decision: DecisionOut | None = None
    if q.strip():
        decision = await run_in_threadpool(_ask, request, q)
    context = {"q": q, "decision": decision, "kind_labels": _common()["kind_labels"]}
    return console_page(request, "console/playground.html", "Playground", context)


def _ask(request: Request, question: str) -> DecisionOut:
    knowledge: service.Knowledge = request.app.state.knowledge
    settings: Settings = request.app.state.settings
    conversation = engine.Dialogue.single(question)
    decision = engine.decide(conversation, knowledge, settings.answer_threshold, settings.max_question_chars)
    return describe(decision, threshold_of(knowledge, settings))
