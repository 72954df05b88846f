"""The built-in inbox: its page, its API (queues, one conversation, claim, reply, notes, hand back, close, away) and
the WebSocket that keeps an open inbox page live and tells the server the agent is there."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, WebSocket, WebSocketDisconnect, status
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from frontdesk.deps import get_session
from frontdesk.inbox import service
from frontdesk.inbox.models import InboxTicket
from frontdesk.inbox.schemas import (
    AvailabilityOut,
    AwayIn,
    ConversationDetailOut,
    EarlierConversationOut,
    InboxMessageOut,
    LastMessage,
    NoteOut,
    QueueOut,
    SavedReplyIn,
    SavedReplyOut,
    SavedReplyPatch,
    TextIn,
    TicketOut,
)
from frontdesk.pages import render
from frontdesk.params import RowId
from frontdesk.realtime.bus import INBOX_TOPIC, EventBus, conversation_topic
from frontdesk.transcripts import service as conversations
from frontdesk.users import service as users
from frontdesk.users.access import Principal, agent_page, require_admin, require_agent

#: Seconds between two "is typing" events an agent's page sends the shopper's chat.
TYPING_EVERY = 2.0
log = logging.getLogger("frontdesk.inbox")
router = APIRouter(prefix="/api/inbox", tags=["inbox"])
pages = APIRouter(include_in_schema=False)
Session = Annotated[AsyncSession, Depends(get_session)]
Agent = Annotated[Principal, Depends(require_agent)]
Admin = Annotated[Principal, Depends(require_admin)]


@pages.get("/inbox", response_class=HTMLResponse, dependencies=[Depends(agent_page)])
async def inbox_page(request: Request) -> Response:
    return render(request, "inbox.html", {"title": "Inbox"})


def _user_id(principal: Principal) -> int:
    if principal.user_id is None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this needs an agent signed in, not the API token")
    return principal.user_id


def _member(principal: Principal) -> service.Member:
    return service.Member(principal.user_id, principal.is_admin)


def _refused(error: Exception) -> HTTPException:
    if isinstance(error, service.TicketNotFound | conversations.ConversationNotFound):
        return HTTPException(status.HTTP_404_NOT_FOUND, str(error))
    return HTTPException(status.HTTP_409_CONFLICT, str(error))


async def _tickets_out(session: AsyncSession, tickets: list[InboxTicket], reader: int | None = None) -> list[TicketOut]:
    """The tickets as the inbox lists them; with `reader`, each says how many shopper messages they have not read."""
    ids = [ticket.conversation_id for ticket in tickets]
    found = await conversations.with_profiles(session, ids)
    last = await conversations.last_messages(session, ids)
    unread = await service.unread(session, reader, ids)
    names = await users.display_names(session, [t.assignee_id for t in tickets if t.assignee_id is not None])
    out = []
    for ticket in tickets:
        conversation, profile = found[ticket.conversation_id]
        newest = last.get(ticket.conversation_id)
        out.append(TicketOut(
            conversation_id=ticket.conversation_id, ref=ticket.ref, state=ticket.state, status=conversation.status,
            reason=ticket.reason, channel=conversation.channel,
            email=conversation.email or (profile.email if profile else None),
            phone=profile.phone if profile else None,
            assignee_id=ticket.assignee_id,
            assignee=names.get(ticket.assignee_id) if ticket.assignee_id is not None else None,
            opened_at=ticket.opened_at, closed_at=ticket.closed_at,
            last_message=LastMessage(author=newest.author, text=newest.text[:200], at=newest.created_at)
            if newest else None,
            unread=unread.get(ticket.conversation_id, 0),
        ))  # fmt: skip
    return out


@router.get("/queues/{queue}", response_model=QueueOut)
async def queue(queue: service.Queue, principal: Agent, session: Session) -> QueueOut:
    """One queue (unassigned, mine, open, closed) with the count of every queue."""
    tickets = await service.list_queue(session, queue, principal.user_id)
    return QueueOut(
        queue=queue,
        counts=await service.queue_counts(session, principal.user_id),
        tickets=await _tickets_out(session, tickets, principal.user_id),
    )


@router.get("/tickets", response_model=list[TicketOut])
async def tickets(
    principal: Agent, session: Session, state: Literal["open", "handed_back", "closed"] | None = "open"
) -> list[TicketOut]:
    """Every ticket in a state, newest first (the queues above are what the inbox page shows)."""
    return await _tickets_out(session, await service.list_tickets(session, state))


@router.get("/conversations/{conversation_id}", response_model=ConversationDetailOut)
async def conversation(conversation_id: str, principal: Agent, session: Session) -> ConversationDetailOut:
    """The whole transcript (the AI's answers before the handoff included), who the shopper is, the notes and the
    shopper's other conversations. Opening it marks it read for this agent."""
    try:
        ticket = await service.ticket_for(session, conversation_id)
    except service.InboxError as exc:
        raise _refused(exc) from exc
    found = await conversations.with_profiles(session, [conversation_id])
    chat, _ = found[conversation_id]
    if principal.user_id is not None:
        await _mark_read(session, principal.user_id, conversation_id, chat.last_seq)
    [summary] = await _tickets_out(session, [ticket], principal.user_id)
    earlier = await service.earlier_conversations(session, conversation_id)
    in_inbox = await service.with_tickets(session, [c.id for c in earlier])
    messages = await conversations.messages_after(session, conversation_id, 0)
    notes = await service.notes_of(session, ticket.id)
    authors = await users.display_names(session, [n.author_id for n in notes if n.author_id is not None])
    return ConversationDetailOut(
        **summary.model_dump(),
        profile_id=chat.profile_id,
        signed_in=chat.signed_in,
        outcome_reason=chat.outcome_reason,
        messages=[
            InboxMessageOut(
                seq=m.seq,
                author=m.author,
                kind=m.kind,
                text=m.text,
                at=m.created_at,
                agent=_str_or_none((m.meta or {}).get("agent")),
                confidence=_float_or_none((m.meta or {}).get("confidence")) if m.author == "ai" else None,
            )
            for m in messages
        ],
        notes=[
            NoteOut(
                id=n.id,
                author=authors.get(n.author_id, "someone") if n.author_id else "API",
                text=n.text,
                at=n.created_at,
            )
            for n in notes
        ],
        earlier=[
            EarlierConversationOut(
                conversation_id=c.id,
                channel=c.channel,
                status=c.status,
                started_at=c.created_at,
                in_inbox=c.id in in_inbox,
            )
            for c in earlier
        ],
    )


async def _mark_read(session: AsyncSession, user_id: int, conversation_id: str, seq: int) -> None:
    try:
        await service.mark_read(session, user_id, conversation_id, seq)
        await session.commit()
    except IntegrityError:  # the same agent's other tab marked it at the same moment: read either way
        await session.rollback()


@router.get("/search", response_model=list[TicketOut])
async def search(
    principal: Agent, session: Session, q: Annotated[str, Query(min_length=1, max_length=200)]
) -> list[TicketOut]:
    """Conversations of every queue (closed too) whose shopper's email or name, or whose messages, contain `q`."""
    text = q.replace("\x00", "").strip()
    if not text:
        return []
    return await _tickets_out(session, await service.search(session, text), principal.user_id)


@router.get("/saved-replies", response_model=list[SavedReplyOut])
async def saved_replies(principal: Agent, session: Session) -> list[SavedReplyOut]:
    """The team's saved replies, by name (agents insert them with `/name` in the reply box)."""
    return [SavedReplyOut(id=r.id, name=r.name, text=r.text) for r in await service.saved_replies(session)]


@router.post("/saved-replies", response_model=SavedReplyOut, status_code=status.HTTP_201_CREATED)
async def add_saved_reply(body: SavedReplyIn, principal: Admin, session: Session, request: Request) -> SavedReplyOut:
    try:
        reply = await service.add_saved_reply(session, body.name, body.text,
                                              request.app.state.flow.clock())  # fmt: skip
        await session.commit()
    except (service.InboxError, IntegrityError) as exc:
        await session.rollback()
        raise HTTPException(status.HTTP_409_CONFLICT, f"a saved reply is already called {body.name}") from exc
    return SavedReplyOut(id=reply.id, name=reply.name, text=reply.text)


@router.patch("/saved-replies/{reply_id}", response_model=SavedReplyOut)
async def edit_saved_reply(
    reply_id: RowId, body: SavedReplyPatch, principal: Admin, session: Session, request: Request
) -> SavedReplyOut:
    try:
        reply = await service.edit_saved_reply(session, reply_id, body.name, body.text,
                                               request.app.state.flow.clock())  # fmt: skip
        await session.commit()
    except service.InboxError as exc:
        await session.rollback()
        raise _refused(exc) from exc
    except IntegrityError as exc:
        await session.rollback()
        raise HTTPException(status.HTTP_409_CONFLICT, f"a saved reply is already called {body.name}") from exc
    return SavedReplyOut(id=reply.id, name=reply.name, text=reply.text)


@router.delete("/saved-replies/{reply_id}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_saved_reply(reply_id: RowId, principal: Admin, session: Session) -> Response:
    try:
        await service.remove_saved_reply(session, reply_id)
    except service.InboxError as exc:
        raise _refused(exc) from exc
    await session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _float_or_none(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None


async def _announce(request: Request, event: dict[str, Any]) -> None:
    bus: EventBus = request.app.state.bus
    await bus.publish(INBOX_TOPIC, event)


@router.post("/conversations/{conversation_id}/claim", response_model=TicketOut)
async def claim(conversation_id: str, principal: Agent, session: Session, request: Request) -> TicketOut:
    """Assign to me. Of two agents claiming at once exactly one wins; the other gets 409 and is told."""
    user_id = _user_id(principal)
    try:
        ticket = await service.claim(session, conversation_id, user_id, request.app.state.flow.clock())
    except service.InboxError as exc:
        await session.rollback()
        raise _refused(exc) from exc
    await session.commit()
    [out] = await _tickets_out(session, [ticket])
    await _announce(request, {"type": "ticket", "conversation_id": conversation_id, "change": "claimed",
                              "assignee_id": user_id, "assignee": out.assignee})  # fmt: skip
    return out


@router.post("/conversations/{conversation_id}/release", response_model=TicketOut)
async def release(conversation_id: str, principal: Agent, session: Session, request: Request) -> TicketOut:
    try:
        ticket = await service.release(session, conversation_id, _user_id(principal))
    except service.InboxError as exc:
        raise _refused(exc) from exc
    await session.commit()
    [out] = await _tickets_out(session, [ticket])
    await _announce(request, {"type": "ticket", "conversation_id": conversation_id, "change": "released"})
    return out


@router.post("/conversations/{conversation_id}/reply", status_code=status.HTTP_201_CREATED)
async def reply(conversation_id: str, body: TextIn, principal: Agent, request: Request) -> dict[str, str]:
    """Send a reply to the shopper's chat (live when they are connected). An unclaimed conversation becomes mine."""
    user_id = _user_id(principal)
    try:
        claimed_now = await request.app.state.team.reply(
            conversation_id, principal.name or principal.email, body.text.strip(), agent_id=user_id
        )
    except (service.InboxError, conversations.FlowError, conversations.ConversationNotFound) as exc:
        raise _refused(exc) from exc
    if claimed_now:
        await _announce(request, {"type": "ticket", "conversation_id": conversation_id, "change": "claimed",
                                  "assignee_id": user_id, "assignee": principal.name or principal.email})  # fmt: skip
    return {"status": "sent"}


@router.post("/conversations/{conversation_id}/notes", response_model=NoteOut, status_code=status.HTTP_201_CREATED)
async def add_note(conversation_id: str, body: TextIn, principal: Agent, session: Session, request: Request) -> NoteOut:
    """An internal note: the team sees it, the shopper never does."""
    try:
        note = await service.add_note(session, conversation_id, principal.user_id, body.text.strip())
    except service.InboxError as exc:
        raise _refused(exc) from exc
    await session.commit()
    await _announce(request, {"type": "note", "conversation_id": conversation_id})
    return NoteOut(id=note.id, author=principal.name or principal.email, text=note.text, at=note.created_at)


@router.post("/conversations/{conversation_id}/hand-back")
async def hand_back(conversation_id: str, principal: Agent, request: Request) -> dict[str, str]:
    """The AI answers this conversation again from now on. An agent hands back what they hold or nobody holds; an
    admin anyone's."""
    try:
        await request.app.state.team.hand_back(conversation_id, principal.name or principal.email, _member(principal))
    except (service.InboxError, conversations.FlowError, conversations.ConversationNotFound) as exc:
        raise _refused(exc) from exc
    return {"status": "ai"}


@router.post("/conversations/{conversation_id}/close")
async def close(conversation_id: str, principal: Agent, request: Request) -> dict[str, str]:
    """End a conversation with the team. An agent closes what they hold or nobody holds; an admin anyone's."""
    try:
        await request.app.state.team.close(
            conversation_id, principal.name or principal.email, member=_member(principal)
        )
    except (service.InboxError, conversations.FlowError, conversations.ConversationNotFound) as exc:
        raise _refused(exc) from exc
    return {"status": "closed"}


@router.get("/availability", response_model=AvailabilityOut)
async def availability(principal: Agent, session: Session, request: Request) -> AvailabilityOut:
    presence: service.Presence = request.app.state.presence
    within_office_hours = await request.app.state.team.office_hours_open(session)
    await session.commit()
    away = principal.user_id is not None and await users.is_away(session, principal.user_id)
    return AvailabilityOut(online=await presence.online(), within_office_hours=within_office_hours, away=away)


@router.put("/away", response_model=AvailabilityOut)
async def set_away(body: AwayIn, principal: Agent, session: Session, request: Request) -> AvailabilityOut:
    """Away: not counted as available (the shopper gets the auto-response) while the inbox stays open."""
    user_id = _user_id(principal)
    await users.set_away(session, user_id, body.away)
    await session.commit()
    await request.app.state.presence.set_away(user_id, body.away)
    await _announce(request, {"type": "presence", "online": await request.app.state.presence.online()})
    return await availability(principal, session, request)


@pages.websocket("/ws/inbox")
async def live(websocket: WebSocket) -> None:
    """Live updates for an open inbox page (new handoffs, shopper messages, claims, notes); while it is open the
    agent counts as online. The client may `{"type": "watch", "conversation_id": ...}` to get that conversation's
    messages as they happen."""
    principal = await _socket_user(websocket)
    if principal is None:
        return
    state = websocket.app.state
    presence: service.Presence = state.presence
    bus: EventBus = state.bus
    async with state.database.session() as session:
        away = await users.is_away(session, principal.user_id)
    await websocket.accept()
    page = await presence.arrive(principal.user_id, away)
    open_pages = state.telemetry.websockets.labels("inbox")
    open_pages.inc()
    await bus.publish(INBOX_TOPIC, {"type": "presence", "online": await presence.online()})
    watcher: asyncio.Task[None] | None = None
    watched: str | None = None
    typed_at = 0.0
    try:
        async with bus.subscribe(INBOX_TOPIC) as subscription:
            forward = asyncio.create_task(_pump(websocket, subscription))
            try:
                await websocket.send_json({"type": "hello", "online": await presence.online()})
                while True:
                    frame = await websocket.receive_json()
                    if not isinstance(frame, dict):
                        continue
                    if frame.get("type") == "watch":
                        if watcher:
                            watcher.cancel()
                        target = frame.get("conversation_id")
                        watched = target if isinstance(target, str) and len(target) <= 64 else None
                        watcher = asyncio.create_task(_watch(websocket, bus, watched)) if watched else None
                    elif frame.get("type") == "typing" and watched and frame.get("conversation_id") == watched:
                        # The shopper's chat says who is writing to them; once per TYPING_EVERY, whatever is sent.
                        if time.monotonic() - typed_at >= TYPING_EVERY:
                            typed_at = time.monotonic()
                            typing = {"type": "typing", "author": "agent", "name": principal.name or "Our team"}
                            await bus.publish(conversation_topic(watched), typing)
                    elif frame.get("type") == "ping":
                        await websocket.send_json({"type": "pong"})
            finally:
                forward.cancel()
                if watcher:
                    watcher.cancel()
    except (WebSocketDisconnect, ValueError, RuntimeError):
        pass
    finally:
        open_pages.dec()
        with contextlib.suppress(Exception):
            await presence.leave(page)
            await bus.publish(INBOX_TOPIC, {"type": "presence", "online": await presence.online()})


async def _pump(websocket: WebSocket, subscription: Any) -> None:
    while True:
        event = await subscription.next()
        if subscription.lost:
            subscription.lost = False
            event = {"type": "resync"}
        await websocket.send_json(event)


async def _watch(websocket: WebSocket, bus: EventBus, conversation_id: str) -> None:
    async with bus.subscribe(conversation_topic(conversation_id)) as subscription:
        while True:
            event = await subscription.next()
            if event.get("type") == "typing" and event.get("author") == "agent":
                continue  # the team's own typing is for the shopper
            await websocket.send_json({**event, "conversation_id": conversation_id})


async def _socket_user(websocket: WebSocket) -> Any:
    """The signed-in agent behind an inbox socket, or None (the socket is refused). The Origin must be this site's:
    a page elsewhere cannot ride the agent's cookie into the inbox."""
    state = websocket.app.state
    origin = websocket.headers.get("origin")
    host = websocket.headers.get("host", "")
    allowed = {f"http://{host}", f"https://{host}", state.settings.public_url.rstrip("/")}
    if origin is not None and origin.rstrip("/") not in allowed:
        await websocket.close(code=4403)
        return None
    token = websocket.cookies.get(users.COOKIE)
    found = None
    if token:
        async with state.database.session() as session:
            found = await users.session_of(session, token, state.flow.clock())
    if found is None or found[0].role not in ("agent", "admin"):
        await websocket.close(code=4401)
        return None
    user, _ = found
    return Principal(user_id=user.id, email=user.email, role=user.role, name=user.name, csrf_token=None)
