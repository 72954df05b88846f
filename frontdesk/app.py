"""create_app(): the web service — routes, and a lifespan that opens the database and loads the knowledge."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from frontdesk import __version__, stored_secrets
from frontdesk.agent.views import router as agent_router
from frontdesk.api_docs import mount_api_docs
from frontdesk.channels.service import every_channel
from frontdesk.channels.sms.status_views import router as sms_status_router
from frontdesk.channels.sms.views import router as sms_router
from frontdesk.channels.webchat import service as webchat
from frontdesk.channels.webchat.limits import WebchatLimits
from frontdesk.channels.webchat.service import Connections, DemoIdentity
from frontdesk.channels.webchat.views import router as webchat_router
from frontdesk.channels.webchat.views import settings_router as widget_settings_router
from frontdesk.channels.webchat.views import widget_source
from frontdesk.config import Settings
from frontdesk.console.views import router as console_router
from frontdesk.conversations.team import TeamActions
from frontdesk.conversations.turn import ChatFlow
from frontdesk.conversations.views import router as conversations_router
from frontdesk.crashpoints import crash_at
from frontdesk.db import Database
from frontdesk.handoff.deliveries import outbox_worker
from frontdesk.handoff.views import router as handoff_router
from frontdesk.handoff.webhooks import router as webhooks_router
from frontdesk.http_guard import RequestBodyGuard
from frontdesk.inbox.mail import Mailer
from frontdesk.inbox.service import Presence
from frontdesk.inbox.views import pages as inbox_pages
from frontdesk.inbox.views import router as inbox_router
from frontdesk.integrations.views import router as integrations_router
from frontdesk.knowledge import threshold as knowledge_threshold
from frontdesk.knowledge.service import Knowledge
from frontdesk.knowledge.sync import KnowledgeSync
from frontdesk.knowledge.views import IMPORT_PATH
from frontdesk.knowledge.views import router as knowledge_router
from frontdesk.metrics.prometheus import CONTENT_TYPE as PROMETHEUS_CONTENT_TYPE
from frontdesk.metrics.prometheus import ObservedBus, OutboxFigures, RequestTimer, Telemetry, token_matches
from frontdesk.metrics.views import router as metrics_router
from frontdesk.outbox import service as outbox_service
from frontdesk.outbox.views import router as outbox_router
from frontdesk.pages import mount_static
from frontdesk.realtime.bus import EventBus
from frontdesk.realtime.redis_backend import Shared
from frontdesk.realtime.state import MemoryState
from frontdesk.retrieval.confidence import calibration_for
from frontdesk.retrieval.embedders import load_embedder
from frontdesk.security_headers import SecurityHeaders
from frontdesk.transcripts.service import ResumeLinks
from frontdesk.users.access import PageRefused
from frontdesk.users.service import SignIns
from frontdesk.users.views import router as users_router
from frontdesk.vault import VaultError

log = logging.getLogger("frontdesk")


def _return_freed_memory() -> None:
    """Hand the heap freed after embedding the whole knowledge back to the OS (glibc keeps it otherwise)."""
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to do
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def utc_now() -> datetime:
    return datetime.now(UTC)


async def refused_page(_request: Request, refused: Exception) -> Response:
    assert isinstance(refused, PageRefused)
    return refused.response


def create_app(
    settings: Settings | None = None, clock: Callable[[], datetime] = utc_now, demo: bool = False
) -> FastAPI:
    """The web service; `demo` (`frontdesk serve --demo`) adds the demo shop page at / and its `?as=` sign-in."""
    settings = settings or Settings()
    telemetry = Telemetry()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        database = Database(settings.database_url, settings.sqlite_synchronous)
        try:  # before anything slow: a key that does not open the stored secrets refuses to start (VaultError)
            vault, secret_key = await stored_secrets.open_vault(settings, database)
        except BaseException:
            await database.dispose()
            raise
        knowledge = Knowledge(
            load_embedder(settings.embedder), calibration_for(settings.embedder, settings.confidence_model)
        )
        async with database.session() as session:
            await knowledge.load(session)
            await knowledge_threshold.refresh(session, knowledge)  # the store's labelled questions sharpen it
        _return_freed_memory()
        shared = None
        if settings.redis_url is not None:
            shared = Shared(settings.redis_url.get_secret_value(), settings.redis_prefix, secret_key.encode())
            await shared.start()
        bus = ObservedBus(shared.bus if shared else EventBus(), telemetry)
        state = shared.state if shared else MemoryState()
        presence = Presence(state)
        knowledge_sync = KnowledgeSync(knowledge, bus, database.sessions, shared.origin if shared else "this process")
        await knowledge_sync.start()
        wake = asyncio.Event()
        app.state.settings = settings
        app.state.clock = clock
        app.state.database = database
        app.state.knowledge = knowledge
        app.state.bus = bus
        app.state.presence = presence
        app.state.vault = vault
        app.state.resume_links = ResumeLinks.from_secret_key(secret_key, settings.public_url)
        app.state.shared = shared
        app.state.connections = Connections(state)
        app.state.demo_identity = DemoIdentity() if demo else None
        app.state.widget_source = widget_source()
        # Wall-clock time: with Redis, every process refills the same buckets.
        app.state.limits = WebchatLimits.from_settings(settings, time.time, state)
        app.state.sign_ins = SignIns(settings.rate_ip_sign_ins_per_minute, shared=state)
        channels = every_channel(database.sessions, clock, settings, vault, app.state.connections)
        app.state.channels = channels
        app.state.flow = ChatFlow(
            database.sessions, knowledge, bus, clock, wake, settings.answer_threshold, settings.max_question_chars,
            presence=presence, crash=crash_at(settings.crash_at), store_address=webchat.store_url, channels=channels,
            observe=telemetry.decided,
        )  # fmt: skip
        app.state.team = TeamActions(app.state.flow)
        # A shopper input stored just before the last stop got no answer: it gets one now, before anything new.
        if answered := await app.state.flow.answer_awaiting():
            log.warning("answered %d shopper message(s) left unanswered when the service last stopped", answered)
        worker = outbox_worker(database.sessions, bus, presence, clock, wake, Mailer.from_settings(settings, clock),
                              app.state.resume_links, app.state.vault, settings, channels=channels,
                              store_name=webchat.store_name)  # fmt: skip
        worker_task = asyncio.create_task(worker.run(), name="outbox-worker") if settings.run_worker else None
        app.state.worker = worker
        # What start-up made (the knowledge, the embedder, the routes) lives as long as the process: out of the
        # collector's way, so a full collection under load walks only what requests made, not hundreds of MB.
        gc.collect()
        gc.freeze()
        app.state.ready = True
        try:
            yield
        finally:
            app.state.ready = False
            gc.unfreeze()  # an app made and closed in one process (the tests) leaves nothing uncollectable behind
            if worker_task:
                worker_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await worker_task
            await worker.aclose()
            await knowledge_sync.aclose()
            if shared:
                await shared.aclose()
            await database.dispose()

    app = FastAPI(
        title="frontdesk",
        version=__version__,
        description="A self-hosted AI customer agent for online stores: answers from the store's knowledge, "
        "and hands off to people when it does not know.",
        lifespan=lifespan,
        docs_url=None,  # served by mount_api_docs, with no CDN
        redoc_url=None,
    )
    app.include_router(knowledge_router)
    app.include_router(agent_router)
    app.include_router(handoff_router)
    app.include_router(outbox_router)
    app.include_router(widget_settings_router)
    app.include_router(conversations_router)
    app.include_router(inbox_router)
    app.include_router(inbox_pages)
    app.include_router(console_router)
    app.include_router(metrics_router)
    app.include_router(webchat_router)
    app.include_router(users_router)
    app.include_router(integrations_router)
    app.include_router(webhooks_router)
    app.include_router(sms_router)
    app.include_router(sms_status_router)
    app.add_exception_handler(PageRefused, refused_page)
    app.add_middleware(RequestBodyGuard, limit=settings.max_body_bytes, larger={IMPORT_PATH: settings.max_upload_bytes})
    app.add_middleware(SecurityHeaders)
    app.add_middleware(RequestTimer, telemetry=telemetry)
    # Outermost: every limit and log below sees the shopper's address, not the proxy's.
    app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.forwarded_allow_ips)
    mount_static(app)
    mount_api_docs(app)
    app.state.telemetry = telemetry
    app.state.ready = False

    @app.get("/healthz", tags=["ops"], responses={503: {"description": "The database, Redis or the secret key fails"}})
    async def healthz() -> Any:
        """Liveness: the database answers, the secret key opens every stored secret, and Redis answers (when set)."""
        try:
            await stored_secrets.check(settings, app.state.database, app.state.vault)
        except VaultError as exc:
            return JSONResponse({"status": "error", "detail": str(exc)}, status_code=503)
        except (SQLAlchemyError, OSError):
            log.exception("health check: the database does not answer")
            return JSONResponse({"status": "error", "detail": "the database does not answer"}, status_code=503)
        if app.state.shared is not None:
            try:
                await asyncio.wait_for(app.state.shared.ping(), 2)
            except (RedisError, OSError, TimeoutError):
                return JSONResponse({"status": "error", "detail": "Redis does not answer"}, status_code=503)
        return {"status": "ok", "version": __version__, "knowledge_entries": len(app.state.knowledge.entries)}

    @app.get("/readyz", tags=["ops"], responses={503: {"description": "Starting or stopping: send no traffic yet"}})
    async def readyz() -> Any:
        """Readiness: 200 once the knowledge index is loaded and the app serves; 503 before, and while stopping."""
        if not app.state.ready:
            return JSONResponse({"status": "starting"}, status_code=503)
        return {"status": "ready", "knowledge_entries": len(app.state.knowledge.entries)}

    @app.get("/metrics", tags=["ops"], include_in_schema=False)
    async def metrics(request: Request) -> Response:
        """Prometheus metrics, for `Authorization: Bearer $FRONTDESK_METRICS_TOKEN` only."""
        token = settings.metrics_token.get_secret_value() if settings.metrics_token else None
        if not token_matches(request.headers.get("authorization"), token):
            return JSONResponse({"detail": "a metrics token is needed"}, status_code=401,
                                headers={"WWW-Authenticate": "Bearer"})  # fmt: skip

        async def outbox_figures() -> OutboxFigures:
            async with app.state.database.session() as session:
                return await outbox_service.figures(session)

        body = await telemetry.render(outbox_figures, clock())
        return Response(body, media_type=PROMETHEUS_CONTENT_TYPE)

    return app
