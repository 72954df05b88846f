"""The `frontdesk` command: serve, worker, migrate, kb, users, ask, eval, demo."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from frontdesk.config import Settings

app = typer.Typer(help="frontdesk — an AI customer agent for online stores that knows when it does not know.")
kb = typer.Typer(help="The store's knowledge: import, list, add, remove, search.")
app.add_typer(kb, name="kb")
users = typer.Typer(help="The store's team: who may sign in to the inbox and the settings.")
app.add_typer(users, name="users")
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
T = TypeVar("T")

DEMO_FOLDER = Path(__file__).parent / "knowledge" / "demo"
DEMO_ADMIN = "admin@demo.store"


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err
    )


def _fail(message: str) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", markup=True, highlight=False)
    return typer.Exit(code=1)


def _settings(**overrides: Any) -> Settings:
    """The settings from FRONTDESK_* variables; a bad one ends the command with a line naming it, not a traceback."""
    from pydantic import ValidationError

    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = [
            f"FRONTDESK_{'_'.join(map(str, e['loc'])).upper()}: {e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        ]
        raise _fail("; ".join(problems)) from None


def _check_confidence_model(settings: Settings) -> None:
    """Before anything slow: an embedder that cannot be loaded (minilm's weights not installed), or a confidence model
    that does not fit it, ends the command with why."""
    from frontdesk.retrieval.confidence import CalibrationError, calibration_for
    from frontdesk.retrieval.embedders import EmbedderError, load_embedder

    try:
        calibration_for(settings.embedder, settings.confidence_model)
        load_embedder(settings.embedder)
    except (CalibrationError, EmbedderError) as exc:
        raise _fail(str(exc)) from None


def _new_knowledge(settings: Settings, model_file: Path | None = None) -> Any:
    """The knowledge and its index, with the configured embedder and a confidence model fit on it (`model_file`, else
    FRONTDESK_CONFIDENCE_MODEL, else the shipped one); raises CalibrationError or EmbedderError when one is unusable."""
    from frontdesk.knowledge import service
    from frontdesk.retrieval.confidence import calibration_for
    from frontdesk.retrieval.embedders import load_embedder

    calibration = calibration_for(settings.embedder, model_file or settings.confidence_model)
    return service.Knowledge(load_embedder(settings.embedder), calibration)


def _knowledge(settings: Settings, model_file: Path | None = None) -> Any:
    """`_new_knowledge`; one that cannot be used ends the command with why."""
    from frontdesk.retrieval.confidence import CalibrationError
    from frontdesk.retrieval.embedders import EmbedderError

    try:
        return _new_knowledge(settings, model_file)
    except (CalibrationError, EmbedderError) as exc:
        raise _fail(str(exc)) from None


def _migrate_with_key(settings: Settings) -> str:
    """Migrate, and return the secret key once it opens every secret the database stores; else the command ends with
    why (no key for PostgreSQL, a wrong key, a SQLite database restored without its key file), not a traceback."""
    from frontdesk.db import Database
    from frontdesk.db import migrate as run_migrations
    from frontdesk.stored_secrets import open_vault
    from frontdesk.vault import VaultError, require_key_source

    async def opened() -> str:
        database = Database(settings.database_url)
        try:
            return (await open_vault(settings, database))[1]
        finally:
            await database.dispose()

    try:
        require_key_source(settings.secret_key.get_secret_value() if settings.secret_key else None,
                           settings.sqlite_path)  # fmt: skip
        run_migrations(settings.database_url)
        return _run(opened())
    except VaultError as exc:
        raise _fail(str(exc)) from exc


@app.command()
def migrate() -> None:
    """Create or upgrade the database schema."""
    from frontdesk.db import migrate as run_migrations

    settings = _settings()
    run_migrations(settings.database_url)
    out.print(f"database is up to date ({_safe_url(settings.database_url)})")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on")] = None,
    demo: Annotated[
        bool,
        typer.Option(
            help="The demo: load the demo store's knowledge when the database is empty, and serve the demo shop at / "
            "where ?as=EMAIL chats as any shopper (signed with a secret of this process, never the store's)"
        ),
    ] = False,
) -> None:
    """Migrate the database and start the web service."""
    import uvicorn

    from frontdesk.app import create_app
    from frontdesk.channels.webchat.views import MAX_WEBSOCKET_MESSAGE
    from frontdesk.realtime import serve_lock

    overrides = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    settings = _settings(**overrides)
    _check_confidence_model(settings)
    _migrate_with_key(settings)
    try:  # held until the process ends: a second serve without Redis is refused
        lock = serve_lock.take(settings)
    except serve_lock.SeveralServers as exc:
        raise _fail(str(exc)) from None
    demo_admin: str | None = None
    if demo:
        _run(_load_demo(settings, only_if_empty=True))
        demo_admin = _run(_demo_admin(settings))
    base = f"http://{settings.host}:{settings.port}"
    out.print(f"[bold green]frontdesk is starting[/bold green] on {base}  ({_safe_url(settings.database_url)})")
    if demo:
        out.print(f"  Demo shop with the chat widget: {base}/  (?as=EMAIL chats as anyone: for the demo only)")
    out.print(f"  API docs:     {base}/docs")
    out.print(f"  Health:       {base}/healthz")
    if demo_admin:
        out.print(f"  Sign in to the inbox and console as {DEMO_ADMIN} / {demo_admin}", highlight=False)
        out.print("  (shown this once: keep it, or make a new one with `frontdesk users reset-password EMAIL`)")
    else:
        out.print(
            "  Sign in with your team account"
            + (f" (the demo's is {DEMO_ADMIN})" if demo else "")
            + "; forgot the password? `frontdesk users reset-password EMAIL`",
            highlight=False,
        )
    out.print(f"  Inbox (the team's page): {base}/inbox")
    out.print(f"  Console (the store admin's: dashboard, knowledge, settings): {base}/console")
    worker_line = (
        "in this process" if settings.run_worker else "not here (FRONTDESK_RUN_WORKER=false): run `frontdesk worker`"
    )
    out.print(f"  Outbox worker: {worker_line}", highlight=False)
    out.print('  Ask the agent from a shell: frontdesk ask "do you ship to canada?"')
    # proxy_headers=False: the app reads X-Forwarded-For itself, from FRONTDESK_FORWARDED_ALLOW_IPS only.
    try:
        uvicorn.run(
            create_app(settings, demo=demo), host=settings.host, port=settings.port, log_level=settings.log_level,
            ws_max_size=MAX_WEBSOCKET_MESSAGE, proxy_headers=False,
        )  # fmt: skip
    finally:
        lock.release()


@app.command()
def worker() -> None:
    """Run only the outbox worker (no web server): deliver handoffs, ticket messages and emails from the database.
    Start as many as you like next to `frontdesk serve` (set FRONTDESK_RUN_WORKER=false there to keep it out)."""
    from frontdesk.outbox.worker import worker_name

    settings = _settings()
    secret_key = _migrate_with_key(settings)
    name = worker_name()
    out.print(f"[bold green]frontdesk worker {name} is starting[/bold green] ({_safe_url(settings.database_url)})")
    claims = "FOR UPDATE SKIP LOCKED" if settings.database_url.startswith("postgresql") else "a conditional UPDATE"
    out.print(f"  Claims outbox rows with {claims}; retries for {settings.outbox_retry_hours:g} h, then dead")
    out.print(f"  Zendesk budget {settings.zendesk_rate_per_minute}/min, Gorgias {settings.gorgias_rate_per_20s}/20 s")
    out.print(f"  Email: {settings.smtp_host or 'not configured (FRONTDESK_SMTP_HOST)'}")
    out.print("  Dead rows: GET /api/outbox?status=dead, then POST /api/outbox/{id}/retry. Ctrl+C stops it.")
    _run(_run_worker(settings, secret_key, name))
    out.print(f"frontdesk worker {name} stopped")


async def _run_worker(settings: Settings, secret_key: str, name: str) -> None:
    import asyncio as aio
    import contextlib
    import signal

    from frontdesk.channels.service import every_channel
    from frontdesk.channels.webchat import service as webchat
    from frontdesk.db import Database, utcnow
    from frontdesk.handoff.deliveries import outbox_worker
    from frontdesk.inbox.mail import Mailer
    from frontdesk.inbox.service import Presence
    from frontdesk.realtime.bus import EventBus
    from frontdesk.realtime.redis_backend import Shared
    from frontdesk.transcripts.service import ResumeLinks
    from frontdesk.vault import Vault

    database = Database(settings.database_url, settings.sqlite_synchronous)
    # With Redis, the worker reads who is online in the inbox, and what it publishes (the shopper's notice) reaches the
    # shopper's connection on any serving process. Without, nobody is online here and its events reach no shopper
    # (they read them from the database when they reconnect).
    shared: Shared | None = None
    if settings.redis_url is not None:
        shared = Shared(settings.redis_url.get_secret_value(), settings.redis_prefix, secret_key.encode())
        await shared.start()
    vault = Vault(secret_key)
    bus, presence = (shared.bus, Presence(shared.state)) if shared else (EventBus(), Presence())
    outbox = outbox_worker(
        database.sessions, bus, presence, utcnow, aio.Event(), Mailer.from_settings(settings, utcnow),
        ResumeLinks.from_secret_key(secret_key, settings.public_url), vault, settings, name,
        channels=every_channel(database.sessions, utcnow, settings, vault), store_name=webchat.store_name,
    )  # fmt: skip
    # Ctrl+C or SIGTERM ends the current delivery's wait cleanly; a row being delivered keeps its lease, which runs
    # out for the next worker (SIGKILL leaves the same state).
    stop = aio.Event()
    loop = aio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    runner = aio.create_task(outbox.run(), name="outbox-worker")
    try:
        await stop.wait()
    finally:
        runner.cancel()
        with contextlib.suppress(aio.CancelledError):
            await runner
        await outbox.aclose()
        if shared:
            await shared.aclose()
        await database.dispose()


@app.command()
def demo(
    if_empty: Annotated[bool, typer.Option("--if-empty", help="Do nothing when knowledge already exists")] = False,
) -> None:
    """Load the demo store (Juniper & Pine, an outdoor gear shop) into the knowledge."""
    from frontdesk.db import migrate as run_migrations

    settings = _settings()
    run_migrations(settings.database_url)
    _run(_load_demo(settings, only_if_empty=if_empty))


async def _load_demo(settings: Settings, only_if_empty: bool) -> None:
    from sqlalchemy import func, select

    from frontdesk.db import Database
    from frontdesk.knowledge.models import Entry

    database = Database(settings.database_url, settings.sqlite_synchronous)
    try:
        async with database.session() as session:
            count = await session.scalar(select(func.count(Entry.id))) or 0
        if count and only_if_empty:
            out.print(f"knowledge already has {count} entries; demo store not loaded again")
            return
        for path in sorted(DEMO_FOLDER.iterdir()):
            if path.name.startswith("."):
                continue
            await _import(database, path)
    finally:
        await database.dispose()


async def _demo_admin(settings: Settings) -> str | None:
    """The demo's admin when the store has no users yet: its random password, to print once; None otherwise."""
    import secrets

    from frontdesk.db import Database
    from frontdesk.users import service

    database = Database(settings.database_url, settings.sqlite_synchronous)
    try:
        async with database.session() as session:
            if await service.any_users(session):
                return None
            password = secrets.token_urlsafe(12)
            await service.create_user(session, DEMO_ADMIN, "admin", password, name="Demo admin")
            return password
    finally:
        await database.dispose()


async def _import(database: Any, path: Path) -> bool:
    from frontdesk.knowledge import importers, service

    try:
        with _progress() as progress:
            task = progress.add_task(f"importing {path.name}", total=importers.import_units(path) or None)
            async with database.session() as session:
                report = await service.import_path(session, None, path, lambda n: progress.advance(task, n))
    except importers.ImportFormatError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        err.print("nothing was imported")
        return False
    for problem in report.problems:
        err.print(f"[yellow]skipped[/yellow] {problem}", highlight=False)
    out.print(f"{path.name}: imported {report.imported}, skipped {report.skipped}")
    return True


@kb.command("import")
def kb_import(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders: .md, .html, .csv, .jsonl, sitemap .xml")],
) -> None:
    """Import knowledge; each file in one transaction. Bad rows are reported with file, line and reason."""
    from frontdesk.db import Database
    from frontdesk.db import migrate as run_migrations

    settings = _settings()
    run_migrations(settings.database_url)

    async def go() -> bool:
        database = Database(settings.database_url, settings.sqlite_synchronous)
        try:
            results = [await _import(database, p) for p in paths]
            if any(results):
                await _embed_kept(database, settings)
        finally:
            await database.dispose()
        return all(results)

    if not _run(go()):
        raise typer.Exit(code=1)


async def _embed_kept(database: Any, settings: Settings) -> None:
    """Embed the texts that have no kept vector yet, with a progress bar, so that the server's start reads them
    instead of embedding (minutes for a large catalogue). The entries are saved either way."""
    from frontdesk.retrieval.confidence import CalibrationError
    from frontdesk.retrieval.embedders import EmbedderError

    try:
        knowledge = _new_knowledge(settings)
    except (CalibrationError, EmbedderError) as exc:
        err.print(f"[yellow]not embedded now[/yellow] ({exc}); the server embeds the texts when it starts")
        return
    with _progress() as progress:
        task = progress.add_task("embedding new texts", total=None)
        async with database.session() as session:
            await knowledge.load(session, lambda done, total: progress.update(task, completed=done, total=total))


@kb.command("list")
def kb_list(
    kind: Annotated[str | None, typer.Option(help="faq, article or product")] = None,
    contains: Annotated[str | None, typer.Option(help="Text in the title or body")] = None,
    limit: int = 50,
) -> None:
    """List knowledge entries."""
    from frontdesk.knowledge import service
    from frontdesk.knowledge.schemas import EntryKind

    async def go() -> None:
        async with _session() as (session, _):
            rows, total = await service.list_entries(
                session, kind=EntryKind(kind) if kind else None, text=contains, limit=limit
            )
        table = Table("id", "kind", "ref", "title", title=f"{len(rows)} of {total} entries")
        for row in rows:
            table.add_row(str(row.id), row.kind, row.ref or "", row.title)
        out.print(table)

    _run(go())


@kb.command("add")
def kb_add(
    kind: Annotated[str, typer.Option(help="faq, article or product")],
    title: Annotated[str, typer.Option(help="The question (FAQ) or the title")],
    body: Annotated[str, typer.Option(help="The answer, article text or product description")] = "",
    alternate: Annotated[list[str] | None, typer.Option(help="Another phrasing of a FAQ question (repeatable)")] = None,
    url: str | None = None,
    price: str | None = None,
    availability: str | None = None,
    ref: str | None = None,
) -> None:
    """Add one entry."""
    from pydantic import ValidationError

    from frontdesk.knowledge import service
    from frontdesk.knowledge.schemas import EntryIn

    try:
        data = EntryIn.model_validate(
            {
                "kind": kind,
                "title": title,
                "body": body,
                "alternates": alternate or [],
                "url": url,
                "price": price,
                "availability": availability,
                "ref": ref,
            }
        )
    except ValidationError as exc:
        raise _fail(_errors(exc)) from exc

    async def go() -> int:
        async with _session() as (session, knowledge):
            return (await service.create_entry(session, knowledge, data, source="cli")).id

    try:
        out.print(f"added entry {_run(go())}")
    except service.KnowledgeError as exc:
        raise _fail(str(exc)) from exc


@kb.command("edit")
def kb_edit(
    entry_id: int,
    title: Annotated[str | None, typer.Option(help="New question or title")] = None,
    body: Annotated[str | None, typer.Option(help="New answer, article text or description")] = None,
    alternate: Annotated[list[str] | None, typer.Option(help="Replace the alternate phrasings (repeatable)")] = None,
    url: str | None = None,
    price: str | None = None,
    availability: str | None = None,
) -> None:
    """Change fields of one entry; the index follows at once."""
    from pydantic import ValidationError

    from frontdesk.knowledge import service
    from frontdesk.knowledge.schemas import EntryPatch

    given = {"title": title, "body": body, "alternates": alternate, "url": url, "price": price}
    given["availability"] = availability
    try:
        patch = EntryPatch.model_validate({k: v for k, v in given.items() if v is not None})
    except ValidationError as exc:
        raise _fail(_errors(exc)) from exc

    async def go() -> None:
        async with _session() as (session, knowledge):
            await service.update_entry(session, knowledge, entry_id, patch)

    try:
        _run(go())
    except service.KnowledgeError as exc:
        raise _fail(str(exc)) from exc
    except ValidationError as exc:
        raise _fail(_errors(exc)) from exc
    out.print(f"updated entry {entry_id}")


@kb.command("search")
def kb_search(query: str, k: Annotated[int, typer.Option(help="How many entries")] = 5) -> None:
    """The entries closest in meaning to QUERY, as the agent finds them."""

    async def go() -> list[Any]:
        async with _session(load=True) as (_, knowledge):
            return knowledge.retrieve(query, k=k)[1]

    table = Table("id", "kind", "score", "title")
    for view, score in _run(go()):
        table.add_row(str(view.id), view.kind.value, f"{score:.3f}", view.title)
    out.print(table)


def _errors(exc: Any) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'entry'}: {e['msg']}" for e in exc.errors())


@kb.command("delete")
def kb_delete(entry_id: int) -> None:
    """Delete one entry by id."""
    from frontdesk.knowledge import service

    async def go() -> None:
        async with _session() as (session, knowledge):
            await service.delete_entry(session, knowledge, entry_id)

    try:
        _run(go())
    except service.KnowledgeError as exc:
        raise _fail(str(exc)) from exc
    out.print(f"deleted entry {entry_id}")


@users.command("create")
def users_create(
    email: Annotated[str, typer.Argument(help="The email the user signs in with")],
    role: Annotated[str, typer.Option(help="admin (settings and inbox) or agent (inbox)")],
    name: Annotated[str, typer.Option(help="The name shoppers and colleagues see")] = "",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from the first line of stdin")
    ] = False,
) -> None:
    """Add a user who can sign in; asks for the password (hidden, twice) unless --password-stdin."""
    from frontdesk.users import service

    if role not in service.ROLES:
        raise _fail(f"the role must be admin or agent, not {role!r}")
    try:
        service.normalize_email(email)
    except service.UserError as exc:
        raise _fail(str(exc)) from exc
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True)
        if typer.prompt("Password again", hide_input=True) != password:
            raise _fail("the two passwords differ; nothing was created")

    async def go() -> Any:
        async with _team_session() as session:
            return await service.create_user(session, email, role, password, name=name)

    try:
        user = _run(go())
    except service.UserError as exc:
        raise _fail(str(exc)) from exc
    out.print(f"created {user.role} {user.email} (id {user.id})", highlight=False)


@users.command("reset-password")
def users_reset_password(
    email: Annotated[str, typer.Argument(help="The email the user signs in with")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the new password from the first line of stdin")
    ] = False,
) -> None:
    """Give a user a new password: a random one, printed once, unless --password-stdin. Their browsers are signed
    out."""
    import secrets

    from frontdesk.users import service

    password = sys.stdin.readline().rstrip("\r\n") if password_stdin else secrets.token_urlsafe(12)

    async def go() -> Any:
        async with _team_session() as session:
            return await service.set_password(session, email, password)

    try:
        user = _run(go())
    except service.UserError as exc:
        raise _fail(str(exc)) from exc
    if password_stdin:
        out.print(f"new password set for {user.email}", highlight=False)
    else:
        out.print(f"new password for {user.email}: {password}", highlight=False)
        out.print("shown this once: sign in with it, then keep it somewhere safe")


@asynccontextmanager
async def _team_session() -> AsyncIterator[Any]:
    """A session on the configured database, migrated first; unlike `_session`, no embedder is loaded."""
    from frontdesk.db import Database
    from frontdesk.db import migrate as run_migrations

    settings = _settings()
    run_migrations(settings.database_url)
    database = Database(settings.database_url, settings.sqlite_synchronous)
    try:
        async with database.session() as session:
            yield session
    finally:
        await database.dispose()


@users.command("list")
def users_list() -> None:
    """List the store's team."""
    from frontdesk.users import service

    async def go() -> list[Any]:
        async with _team_session() as session:
            return list(await service.list_users(session))

    rows = _run(go())
    table = Table("id", "email", "name", "role", "active", "last sign-in", title=f"{len(rows)} users")
    for user in rows:
        last = user.last_sign_in_at.strftime("%Y-%m-%d %H:%M") if user.last_sign_in_at else "never"
        table.add_row(str(user.id), user.email, user.name, user.role, "yes" if user.active else "no", last)
    out.print(table)


@app.command()
def ask(
    question: str,
    previous: Annotated[
        list[str] | None, typer.Option(help="An earlier shopper message (repeatable, oldest first)")
    ] = None,
) -> None:
    """Ask the agent a question: prints the decision, the entry, the confidence and the runners-up."""
    from frontdesk.agent import engine

    async def go() -> tuple[engine.Decision, float]:
        async with _session(load=True) as (_, knowledge):
            conversation = engine.Dialogue([engine.Line("shopper", t) for t in [*(previous or []), question]])
            settings = _settings()
            cut = (
                knowledge.index.calibration.threshold
                if settings.answer_threshold is None
                else settings.answer_threshold
            )
            return engine.decide(conversation, knowledge, settings.answer_threshold, settings.max_question_chars), cut

    try:
        decision, cut = _run(go())
    except engine.QuestionError as exc:
        raise _fail(str(exc)) from exc
    _print_decision(decision, cut)


def _print_decision(decision: Any, threshold: float) -> None:
    from frontdesk.agent import engine

    match decision:
        case engine.Answer():
            out.print(
                f"[bold green]answer[/bold green]  confidence {decision.confidence:.3f} (threshold {threshold:.3f})"
            )
            out.print(f"entry   #{decision.entry.id} [{decision.entry.kind}] {decision.entry.title}", highlight=False)
            out.print(decision.text, highlight=False, markup=False)
            runners = decision.runners_up
        case engine.Unknown():
            out.print(f"[bold yellow]unknown[/bold yellow]  {decision.reason}", highlight=False)
            runners = decision.runners_up
        case engine.HumanRequested():
            out.print(f"[bold magenta]human requested[/bold magenta]  ({decision.reason})")
            runners = ()
        case engine.SmallTalk():
            out.print(f"[bold cyan]small talk[/bold cyan]  ({decision.kind})")
            runners = ()
    if runners:
        table = Table("runner-up", "kind", "score", title=None)
        for runner in runners:
            table.add_row(f"#{runner.entry.id} {runner.entry.title}", runner.entry.kind.value, f"{runner.score:.3f}")
        out.print(table)


class _session:
    """A database session plus the loaded knowledge, for one CLI command."""

    def __init__(self, load: bool = False) -> None:
        self.load = load

    async def __aenter__(self) -> Any:
        from frontdesk.db import Database
        from frontdesk.db import migrate as run_migrations

        settings = _settings()
        run_migrations(settings.database_url)
        self.database = Database(settings.database_url, settings.sqlite_synchronous)
        self.session = self.database.sessions()
        knowledge = _knowledge(settings)
        if self.load:
            await knowledge.load(self.session)
        return self.session, knowledge

    async def __aexit__(self, *exc: object) -> None:
        await self.session.close()
        await self.database.dispose()


ModelOption = Annotated[
    Path | None,
    typer.Option("--model", help="A confidence model JSON (as `make confidence` writes) instead of the shipped one"),
]


@app.command("eval")
def evaluate(
    knowledge_file: Annotated[Path, typer.Option("--knowledge", help="Knowledge JSONL (the eval sets' format)")],
    queries_file: Annotated[Path, typer.Option("--queries", help="Questions JSONL: {text, expected}")],
    predictions_file: Annotated[Path, typer.Option("--predictions", help="Where to write one JSON line per question")],
    calibration_file: Annotated[
        Path | None,
        typer.Option("--calibration", help="Labelled questions JSONL to choose the answer/hand-off threshold on"),
    ] = None,
    model_file: ModelOption = None,
) -> None:
    """Answer each question as a fresh conversation over a throwaway copy of the knowledge, and score it.

    When the questions carry a `kind` (the store sets), a breakdown by kind follows the metrics.
    """
    from frontdesk.agent import evaluation

    for path in (knowledge_file, queries_file, calibration_file, model_file):
        if path is not None and not path.is_file():
            raise _fail(f"{path}: no such file")
    try:
        queries = evaluation.read_queries(queries_file)
        calibration = evaluation.read_queries(calibration_file) if calibration_file else None
    except evaluation.EvalFileError as exc:
        raise _fail(str(exc)) from exc
    started = time.perf_counter()
    predictions, threshold = _run(_eval(knowledge_file, queries, calibration, model_file))
    elapsed = time.perf_counter() - started
    _write_predictions(predictions_file, predictions)
    scores = evaluation.score(queries, predictions)
    table = Table("metric", "value", title=f"{queries_file} ({len(queries)} questions, threshold {threshold:.3f})")
    for name, value in scores.as_dict().items():
        table.add_row(name.replace("_", " "), f"{value:.3f}" if isinstance(value, float) else str(value))
    table.add_row("seconds", f"{elapsed:.1f}")
    out.print(table)
    kinds = evaluation.score_by_kind(queries, predictions)
    if kinds:
        columns = ("questions", "answered_right", "misrouted", "handed_off")
        by_kind = Table("kind", *(c.replace("_", " ") for c in columns), title="by kind")
        for kind, row in kinds.items():
            by_kind.add_row(kind, *(_cell(row.get(c)) for c in columns))
        out.print(by_kind)
    out.print(json.dumps({**scores.as_dict(), **({"by_kind": kinds} if kinds else {})}), highlight=False)


@app.command("eval-sets")
def evaluate_sets(
    folder: Annotated[Path, typer.Argument(help="A folder of eval sets, each with knowledge.jsonl and test.jsonl")],
    split: Annotated[str, typer.Option(help="Which questions to answer: test or calibration")] = "test",
    predictions_folder: Annotated[Path, typer.Option("--predictions", help="Where to write each set's predictions")] = (
        Path(".eval")
    ),
    model_file: ModelOption = None,
    summary_file: Annotated[Path | None, typer.Option("--summary", help="Also write the table as JSON here")] = None,
    left_out_folder: Annotated[
        Path | None,
        typer.Option(
            "--left-out",
            help="A folder of models fit without each set (without-SET.json, as `python -m frontdesk.agent.fitting "
            "--leave-each-out` writes): each set gets a second row, scored by the model that never saw it",
        ),
    ] = None,
) -> None:
    """Every set of a folder (`make eval`: ../shared/data/eval), default settings, in one table."""
    from frontdesk.agent import evaluation

    sets = sorted(p.parent for p in folder.glob(f"*/{split}.jsonl") if (p.parent / "knowledge.jsonl").is_file())
    if not sets:
        raise _fail(f"{folder}: no folder with knowledge.jsonl and {split}.jsonl")
    if model_file is not None and not model_file.is_file():
        raise _fail(f"{model_file}: no such file")
    if left_out_folder is not None:
        missing = [p.name for p in sets if not (left_out_folder / f"without-{p.name}.json").is_file()]
        if missing:
            raise _fail(f"{left_out_folder}: no model fit without {', '.join(missing)} (without-SET.json)")
    columns = {
        "resolution": "resolution",
        "wrong_answer": "wrong answer",
        "handoff_recall": "hand-off recall",
        "misroute": "misroute",
        "top1": "top-1",
        "resolution_at_85_recall": "res. at recall ≥ 0.85",
        "resolution_at_10_wrong": "res. at ≤ 10 % wrong",
        "auroc": "AUROC",
    }
    table = Table("set", *columns.values(), "asks for a person handed off", title=f"{folder} ({split})")
    summary: dict[str, Any] = {}
    for path in sets:
        queries = evaluation.read_queries(path / f"{split}.jsonl")
        runs = [(path.name, model_file)]
        if left_out_folder is not None:
            runs.append((f"{path.name}, left out", left_out_folder / f"without-{path.name}.json"))
        for name, model in runs:
            predictions, threshold = _run(_eval(path / "knowledge.jsonl", queries, None, model))
            suffix = "" if model is model_file else ".left-out"
            _write_predictions(predictions_folder / f"{path.name}.{split}{suffix}.predictions.jsonl", predictions)
            scores = evaluation.score(queries, predictions).as_dict()
            kinds = evaluation.score_by_kind(queries, predictions)
            human = kinds.get("human", {}).get("handed_off")
            table.add_row(name, *(_cell(scores[c]) for c in columns), _cell(human))
            summary[name] = {**scores, "threshold": round(threshold, 4), **({"by_kind": kinds} if kinds else {})}
    Console(width=200).print(table)  # one row a set, never cut to the terminal
    if summary_file is not None:
        summary_file.parent.mkdir(parents=True, exist_ok=True)
        summary_file.write_text(json.dumps(summary, indent=1), encoding="utf-8")


def _cell(value: object) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "—"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _write_predictions(path: Path, predictions: list[Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for p in predictions:
            row = {"text": p.text, "article": p.article, "confidence": round(p.confidence, 6), "top": p.top}
            handle.write(json.dumps(row) + "\n")


async def _eval(
    knowledge_file: Path, queries: list[Any], calibration: list[Any] | None, model_file: Path | None = None
) -> tuple[list[Any], float]:
    import numpy as np

    from frontdesk.agent import engine, evaluation
    from frontdesk.db import Database
    from frontdesk.db import migrate as run_migrations
    from frontdesk.knowledge import importers, service
    from frontdesk.knowledge import threshold as store_threshold

    settings = _settings()
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite+aiosqlite:///{folder}/eval.db"
        run_migrations(url)
        database = Database(url)
        knowledge = _knowledge(settings, model_file)
        try:
            with _progress() as progress:
                task = progress.add_task("importing knowledge", total=importers.import_units(knowledge_file) or None)
                async with database.session() as session:
                    report = await service.import_path(
                        session, knowledge, knowledge_file, lambda n: progress.advance(task, n)
                    )
        except importers.ImportFormatError as exc:
            raise _fail(str(exc)) from exc
        finally:
            await database.dispose()
    if report.problems:
        for problem in report.problems[:20]:
            err.print(f"[yellow]skipped[/yellow] {problem}", highlight=False)
    refs = {view.id: view.ref or str(view.id) for view in knowledge.entries.values()}
    by_ref = {ref: entry_id for entry_id, ref in refs.items()}

    if calibration:  # the store's labelled questions, as the product uses them (knowledge/threshold.py)
        confidence, labels, answerable = [], [], []
        with _progress() as progress:
            task = progress.add_task("calibrating", total=len(calibration))
            for query in calibration:
                progress.advance(task)
                if query.kind == "human":  # an ask for a person is the phrase rules', and never labelled
                    continue
                retrieval = knowledge.index.retrieve(query.text)
                top = retrieval.candidates[0].entry_id if retrieval.candidates else None
                confidence.append(retrieval.confidence)
                labels.append(query.expected is not None and top == by_ref.get(query.expected))
                answerable.append(query.expected is not None)
        chosen, _ = store_threshold.choose(
            knowledge.default_threshold, np.array(confidence), np.array(labels), np.array(answerable, dtype=bool)
        )
        knowledge.index.calibration = dataclasses.replace(knowledge.index.calibration, threshold=chosen)

    threshold = knowledge.index.calibration.threshold
    predictions: list[evaluation.Prediction] = []
    with _progress() as progress:
        task = progress.add_task("answering", total=len(queries))
        for query in queries:
            try:
                decision = engine.decide(engine.Dialogue.single(query.text), knowledge)
            except engine.QuestionError:
                decision = engine.Unknown("empty question")
            if isinstance(decision, engine.Answer):
                ref = refs[decision.entry.id]
                predictions.append(evaluation.Prediction(query.text, ref, decision.confidence, ref))
            elif isinstance(decision, engine.Unknown):
                top = refs[decision.best.id] if decision.best is not None else None
                predictions.append(evaluation.Prediction(query.text, None, decision.confidence, top))
            else:
                predictions.append(evaluation.Prediction(query.text, None, 0.0))
            progress.advance(task)
    return predictions, threshold


def _safe_url(url: str) -> str:
    """The database URL without its password, for printing (SQLAlchemy's own rendering: "***")."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:  # not a URL SQLAlchemy reads: Settings refuses it before anything is printed
        return url


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
