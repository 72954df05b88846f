"""The web chat: the WebSocket endpoint (docs/webchat-protocol.md), the widget script and the demo shop page."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from html import escape
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from frontdesk.channels.webchat import service
from frontdesk.channels.webchat.events import message_event
from frontdesk.channels.webchat.schemas import IdentitySecretOut, WidgetSettingsIn, WidgetSettingsOut
from frontdesk.deps import get_session
from frontdesk.pages import render
from frontdesk.realtime.bus import Subscription, conversation_topic
from frontdesk.transcripts import service as conversations
from frontdesk.transcripts.models import Conversation
from frontdesk.transcripts.service import FlowError
from frontdesk.users.access import require_admin

log = logging.getLogger("frontdesk.webchat")
router = APIRouter(tags=["web chat"])
STATIC = Path(__file__).parent / "static"
RICH_TEXT = Path(__file__).parents[2] / "static" / "rich-text.js"  # the console's preview draws with it too
HELLO_SECONDS = 10.0
MAX_FRAME_BYTES = 32_000
#: What a WebSocket message may weigh before the server stops reading it (closed with 1009): the most that
#: MAX_FRAME_BYTES characters can take in UTF-8. Set on the server (`ws_max_size`), so a 15 MB frame is never read.
MAX_WEBSOCKET_MESSAGE = 4 * MAX_FRAME_BYTES
MAX_SEQ = 2**31 - 1  # messages.seq is a 32-bit integer
NOT_A_SHOP = (
    "This is the store's customer agent. The team signs in at /inbox, the store's admin at /console; the chat "
    "widget goes on the store's own pages. The demo shop is served here by `frontdesk serve --demo` only."
)


class Refused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def widget_source() -> str:
    """widget.js with the custom message's renderer put in its scope: one file for the store's page to load."""
    widget = (STATIC / "widget.js").read_text(encoding="utf-8")
    return widget.replace("  /* rich-text.js */\n", RICH_TEXT.read_text(encoding="utf-8"), 1)


@router.get("/widget.js", include_in_schema=False)
async def widget_script(request: Request) -> Response:
    source: str = request.app.state.widget_source
    return Response(source, media_type="text/javascript", headers={"Cache-Control": "no-cache"})


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def demo_shop(
    request: Request,
    session: Annotated[AsyncSession, Depends(get_session)],
    signed_in_as: Annotated[str | None, Query(alias="as", max_length=320)] = None,
) -> Response:
    """The demo store's page with the widget, in demo mode only. `?as=email` plays the store's server signing a
    shopper in, with the demo's own secret (service.DemoIdentity): the store's identity secret signs nothing here."""
    demo: service.DemoIdentity | None = request.app.state.demo_identity
    if demo is None:
        return render(request, "base.html", {"heading": "frontdesk is running", "message": NOT_A_SHOP})
    widget = await service.get_settings(session)
    attributes = ""
    if signed_in_as:
        attributes = f' data-email="{escape(signed_in_as, quote=True)}" data-user-hash="{demo.user_hash(signed_in_as)}"'
    page = (STATIC / "demo.html").read_text(encoding="utf-8")
    page = page.replace("{{store_name}}", escape(widget.store_name)).replace("{{widget_attributes}}", attributes)
    return HTMLResponse(page)


@router.get("/chat", response_class=HTMLResponse, include_in_schema=False)
async def chat_page(session: Annotated[AsyncSession, Depends(get_session)]) -> HTMLResponse:
    """The chat on a page of its own: where the link in an agent's reply by email (`?resume=`) leads."""
    widget = await service.get_settings(session)
    page = (STATIC / "chat.html").read_text(encoding="utf-8").replace("{{store_name}}", escape(widget.store_name))
    # The resume value in the address opens the conversation: keep it out of Referer headers, caches and indexes.
    private = {"Referrer-Policy": "no-referrer", "Cache-Control": "no-store", "X-Robots-Tag": "noindex"}
    return HTMLResponse(page, headers=private)


@router.websocket("/ws/webchat")
async def webchat(websocket: WebSocket) -> None:
    state = websocket.app.state
    ip = websocket.client.host if websocket.client else "unknown"
    await websocket.accept()
    socket_handle = await state.limits.sockets.open(ip)
    if socket_handle is None:
        too_many = "too many open chats from this address; close some and try again"
        await websocket.send_json({"type": "error", "code": "too_many_connections", "message": too_many})
        await websocket.close(code=4429)
        return
    try:
        await _converse(websocket, ip)
    finally:
        await state.limits.sockets.close(ip, socket_handle)


async def _converse(websocket: WebSocket, ip: str) -> None:
    state = websocket.app.state
    try:
        hello = await asyncio.wait_for(_receive(websocket), HELLO_SECONDS)
    except (TimeoutError, Refused, WebSocketDisconnect):
        with contextlib.suppress(Exception):
            await websocket.send_json({"type": "error", "code": "hello_required", "message": "send hello first"})
            await websocket.close(code=4401)
        return
    if hello.get("type") != "hello":
        await websocket.send_json({"type": "error", "code": "hello_required", "message": "send hello first"})
        await websocket.close(code=4401)
        return
    try:
        conversation_id, token, resumed = await _open(websocket, hello, ip)
    except Refused as refused:
        await websocket.send_json({"type": "error", "code": refused.code, "message": str(refused)})
        await websocket.close(code=4429)
        return

    connection = await state.connections.opened(conversation_id)
    open_sockets = state.telemetry.websockets.labels("webchat")
    open_sockets.inc()
    try:
        async with state.bus.subscribe(conversation_topic(conversation_id)) as subscription:
            sent = await _catch_up(websocket, conversation_id, 0 if resumed else _seq(hello.get("last_seq")))
            writer = asyncio.create_task(_forward(websocket, subscription, conversation_id, sent))
            try:
                await _read(websocket, conversation_id, token, ip)
            except WebSocketDisconnect:
                pass
            finally:
                writer.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await writer
    finally:
        open_sockets.dec()
        await state.connections.closed(conversation_id, connection)


async def _receive(websocket: WebSocket) -> dict[str, Any]:
    message = await websocket.receive()
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000), message.get("reason"))
    raw = message.get("text")
    if raw is None:
        raise Refused("bad_frame", "frames are JSON text, not binary")
    if len(raw) > MAX_FRAME_BYTES:
        raise Refused("too_long", "frame too large")
    try:
        frame = json.loads(raw)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise Refused("bad_frame", f"not JSON: {getattr(exc, 'msg', 'nested too deep')}") from exc
    if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
        raise Refused("bad_frame", "a frame is a JSON object with a type")
    if "\\u" in raw:  # an escape may spell a lone surrogate ("\ud800"): text no database or socket can take
        try:
            json.dumps(frame, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError as exc:
            raise Refused("bad_frame", "text must be valid Unicode (a lone surrogate is not)") from exc
    return frame


def _seq(value: object) -> int:
    """A client's `last_seq`: a message number it has, or 0; out of range (negative, past any conversation) is 0
    or the end, never a number the database cannot hold."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        return 0
    return min(value, MAX_SEQ)


async def _open(websocket: WebSocket, hello: dict[str, Any], ip: str) -> tuple[str, str, bool]:
    """Find the visitor's conversation by token or resume link, or start one; sign the shopper in when the hash is
    valid. Also says whether the conversation was opened by a resume link (it is then sent from the start)."""
    state = websocket.app.state
    token = hello.get("token") if isinstance(hello.get("token"), str) else None
    resume = hello.get("resume") if isinstance(hello.get("resume"), str) else None
    async with state.database.session() as session:
        conversation = None
        if resume is not None:
            token = None  # the link alone says which conversation: a token sent with it is not consulted
            conversation = await _resumed(websocket, session, resume, ip)
            if conversation is not None:
                token = await conversations.add_visitor_token(session, conversation.id)
        elif token and len(token) < 200:
            conversation = await conversations.by_token(session, token)
        resumed = conversation is not None and resume is not None
        if conversation is None:
            if token:
                unknown = "that conversation was not found; a new one is started"
                await websocket.send_json({"type": "error", "code": "unknown_token", "message": unknown})
            if not await state.limits.ip_conversations.allow(ip):
                raise Refused("rate_limited", "too many new conversations from this address; try again in a minute")
            token = conversations.new_visitor_token()
            conversation = await conversations.create(session, "webchat", token)
        email = await service.verified_email(
            session, state.vault, _text(hello.get("email")), _text(hello.get("user_hash")), state.demo_identity
        )
        if email:
            conversation.signed_in = True
            await conversations.link_profile(
                session, conversation, email=email, name=_text(hello.get("name")), verified=True
            )
        widget = await service.get_settings(session)
        await session.commit()
        assert token is not None
        await websocket.send_json({
            "type": "welcome",
            "token": token,
            "conversation_id": conversation.id,
            "status": conversation.status,
            "signed_in": conversation.signed_in,
            "store": {"name": widget.store_name, "greeting": widget.greeting, "colour": widget.colour},
            "email_transcript": bool(state.settings.smtp_host),
        })  # fmt: skip
        return conversation.id, token, resumed


async def _resumed(websocket: WebSocket, session: AsyncSession, resume: str, ip: str) -> Conversation | None:
    """The conversation of a valid resume link; for a forged, altered or expired one, a `bad_resume_link` error (a
    new conversation follows, never someone else's)."""
    state = websocket.app.state
    conversation_id = state.resume_links.conversation_id(resume, state.flow.clock())
    conversation = None
    if conversation_id is not None:
        with contextlib.suppress(conversations.ConversationNotFound):
            conversation = await conversations.get(session, conversation_id)
    if conversation is None:
        bad = "this chat link is not valid or has expired; a new conversation is started"
        await websocket.send_json({"type": "error", "code": "bad_resume_link", "message": bad})
        return None
    # Each use of a link adds a token: limited like new conversations, so a leaked link cannot flood the table.
    if not await state.limits.ip_conversations.allow(ip):
        raise Refused("rate_limited", "too many new conversations from this address; try again in a minute")
    return conversation


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


async def _catch_up(websocket: WebSocket, conversation_id: str, after: int) -> int:
    async with websocket.app.state.database.session() as session:
        missed = await conversations.messages_after(session, conversation_id, after)
    for message in missed:
        await websocket.send_json(message_event(message))
    return missed[-1].seq if missed else after


async def _forward(websocket: WebSocket, subscription: Subscription, conversation_id: str, sent: int) -> None:
    """Events of this conversation to the client, in order and without repeats (seq is the order)."""
    while True:
        event = await subscription.next()
        if subscription.lost:
            subscription.lost = False
            sent = await _catch_up(websocket, conversation_id, sent)
        if event.get("type") == "message":
            if int(event["seq"]) <= sent:
                continue
            if int(event["seq"]) > sent + 1:  # something in between was published elsewhere first: fetch it
                sent = await _catch_up(websocket, conversation_id, sent)
                continue
            sent = int(event["seq"])
        await websocket.send_json(event)


async def _read(websocket: WebSocket, conversation_id: str, token: str, ip: str) -> None:
    state = websocket.app.state
    max_chars = state.settings.max_question_chars
    while True:
        try:
            frame = await _receive(websocket)
            kind = frame["type"]
            if kind == "ping":
                await websocket.send_json({"type": "pong"})
            elif kind == "typing":
                continue
            elif kind == "message":
                text = frame.get("text")
                client_id = frame.get("client_id")
                if not isinstance(text, str) or not text.strip():
                    raise Refused("bad_frame", "a message needs a non-empty text")
                if len(text) > max_chars:
                    raise Refused("too_long", f"messages are limited to {max_chars} characters")
                if client_id is not None and (not isinstance(client_id, str) or len(client_id) > 64):
                    raise Refused("bad_frame", "client_id is a string of at most 64 characters")
                if not await state.limits.visitor_messages.allow(token) or not await state.limits.ip_messages.allow(ip):
                    raise Refused("rate_limited", "you're sending messages too fast; wait a moment")
                with state.telemetry.turn_seconds.time():
                    await state.flow.shopper_message(conversation_id, text.strip(), client_id)
            elif kind == "action":
                action = frame.get("action")
                if not isinstance(action, str):
                    raise Refused("bad_frame", "an action frame needs an action")
                await state.flow.action(conversation_id, action)
            elif kind == "email":
                email = frame.get("email")
                if not isinstance(email, str) or not email.strip():
                    raise Refused("bad_frame", "an email frame needs an email")
                if not await state.limits.visitor_messages.allow(token):
                    raise Refused("rate_limited", "you're sending messages too fast; wait a moment")
                await state.flow.email(conversation_id, email.strip())
            elif kind == "feedback":
                seq, rating = frame.get("seq"), frame.get("rating")
                if _seq(seq) != seq or not seq or not isinstance(rating, str):
                    raise Refused("bad_frame", "a feedback frame needs the seq of an answer and a rating")
                if not await state.limits.visitor_messages.allow(token):
                    raise Refused("rate_limited", "you're sending messages too fast; wait a moment")
                await state.flow.rate(conversation_id, seq, rating)
            elif kind == "transcript":
                email = frame.get("email")
                if email is not None and not isinstance(email, str):
                    raise Refused("bad_frame", "email is a string")
                if not state.settings.smtp_host:
                    raise Refused("unavailable", "this store does not send email")
                if not await state.limits.visitor_messages.allow(token):
                    raise Refused("rate_limited", "you're sending messages too fast; wait a moment")
                await state.flow.email_transcript(conversation_id, email)
            elif kind == "csat":
                score = frame.get("score")
                if not isinstance(score, int) or isinstance(score, bool):
                    raise Refused("bad_frame", "a csat frame needs a score from 1 to 5")
                if not await state.limits.visitor_messages.allow(token):
                    raise Refused("rate_limited", "you're sending messages too fast; wait a moment")
                await state.flow.rate_team(conversation_id, score)
            elif kind == "hello":
                raise Refused("bad_frame", "already said hello")
            else:
                raise Refused("bad_frame", f"unknown frame type {kind[:40]!r}")
        except (Refused, FlowError) as problem:
            await websocket.send_json({"type": "error", "code": problem.code, "message": str(problem)})
        except WebSocketDisconnect:
            raise
        except Exception:
            log.exception("web chat frame failed in %s", conversation_id)
            failed = "something went wrong on our side; please try again"
            await websocket.send_json({"type": "error", "code": "internal", "message": failed})


settings_router = APIRouter(prefix="/api/settings/widget", tags=["web chat"], dependencies=[Depends(require_admin)])


@settings_router.get("", response_model=WidgetSettingsOut)
async def get_widget_settings(session: Annotated[AsyncSession, Depends(get_session)]) -> WidgetSettingsOut:
    widget = await service.get_settings(session)
    await session.commit()
    return widget_out(widget)


@settings_router.put("", response_model=WidgetSettingsOut)
async def put_widget_settings(
    change: WidgetSettingsIn, session: Annotated[AsyncSession, Depends(get_session)]
) -> WidgetSettingsOut:
    widget = await service.update_settings(session, change)
    await session.commit()
    return widget_out(widget)


@settings_router.post("/identity-secret", response_model=IdentitySecretOut)
async def rotate_identity_secret(
    request: Request, session: Annotated[AsyncSession, Depends(get_session)]
) -> IdentitySecretOut:
    """A new identity-verification secret, shown this once; signed-in shoppers' hashes must use it from now on."""
    secret = await service.rotate_identity_secret(session, request.app.state.vault)
    await session.commit()
    return IdentitySecretOut(identity_secret=secret)


def widget_out(widget: Any) -> WidgetSettingsOut:
    """The widget's settings as the API and the console show them: whether a secret is set, never the secret."""
    return WidgetSettingsOut(
        store_name=widget.store_name,
        greeting=widget.greeting,
        colour=widget.colour,
        store_url=widget.store_url,
        identity_verification=widget.identity_secret_encrypted is not None,
    )
