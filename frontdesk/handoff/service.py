"""Handoff settings and the handoff's outbox rows: what happens when the agent cannot answer, and the record that it
must."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from frontdesk import credentials, rich_text
from frontdesk.handoff import office_hours
from frontdesk.handoff.models import HandoffSettings, RelayedComment
from frontdesk.handoff.schemas import HandoffSettingsIn, Method
from frontdesk.outbox import service as outbox
from frontdesk.outbox.models import OutboxItem

DEFAULTS = {
    "method": Method.builtin.value,
    "custom_message": "",
    "offer_text": "I'm not sure I can answer that. Would you like to connect with a person from our team?",
    "yes_text": "Yes, connect me with an agent",
    "no_text": "No thanks",
    "email_prompt": "What email address can our team reach you at?",
    "auto_response": "Thanks! Our team has your conversation and will reply as soon as someone is free — "
    "you'll get the answer here, or by email if you've left.",
    "office_hours_message": "Thanks! Our team is away right now; they'll reply during office hours, here or by email.",
    "timezone": "UTC",
    "office_hours": {},
    "holidays": [],
}
SETTINGS_LISTENERS = "handoff_settings_listeners"  # key of the sessions' `info`: who caches the settings
HANDOFF, TICKET_MESSAGE = "handoff", "ticket_message"  # outbox kinds of a helpdesk target
HELPDESKS = frozenset({Method.zendesk.value, Method.gorgias.value})  # targets whose tickets live elsewhere


class HandoffSettingsError(ValueError):
    """Settings that cannot be saved; `conflict` marks the ones refused because of the store's state (409)."""

    def __init__(self, message: str, conflict: bool = False) -> None:
        super().__init__(message)
        self.conflict = conflict


async def get_settings(session: AsyncSession) -> HandoffSettings:
    settings = await session.get(HandoffSettings, 1)
    if settings is None:
        settings = HandoffSettings(id=1, **DEFAULTS)
        session.add(settings)
        await session.flush()
    return settings


def on_settings_change(sessions: async_sessionmaker[AsyncSession], listener: Callable[[], None]) -> None:
    """Call `listener` whenever `update_settings` runs in a session made by `sessions`, and again when that session
    commits: how a cache of the settings in this process (the chat flow's) forgets them. Other processes do not
    hear it; their caches must expire on their own."""
    sessions.kw.setdefault("info", {}).setdefault(SETTINGS_LISTENERS, []).append(listener)


def _settings_changed(session: AsyncSession) -> None:
    listeners: list[Callable[[], None]] = list(session.info.get(SETTINGS_LISTENERS, ()))
    if not listeners:
        return

    def tell(*_: object) -> None:
        for listener in listeners:
            listener()

    tell()  # now, and after the commit: a reader in between may have cached the old row again
    event.listen(session.sync_session, "after_commit", tell, once=True)


async def update_settings(session: AsyncSession, change: HandoffSettingsIn) -> HandoffSettings:
    settings = await get_settings(session)
    values = change.model_dump(exclude_unset=True)
    method = values.get("method")
    if method in (Method.zendesk, Method.gorgias) and not await credentials.is_connected(session, method.value):
        raise HandoffSettingsError(
            f"{method.value.capitalize()} is not connected yet: connect it under Integrations "
            f"(POST /api/integrations/{method.value}) before choosing it as the handoff method",
            conflict=True,
        )
    if "custom_message" in values:
        values["custom_message"] = rich_text.sanitise(values["custom_message"] or "")
    final_method = method or Method(settings.method)
    final_message = values.get("custom_message", settings.custom_message)
    if final_method is Method.none and not final_message:
        raise HandoffSettingsError("custom_message: with method 'none' the shopper needs a message pointing to help")
    office_hours.validate(
        values.get("office_hours", settings.office_hours),
        values.get("timezone", settings.timezone),
        values.get("holidays", settings.holidays),
    )
    for name, value in values.items():
        setattr(settings, name, value.value if isinstance(value, Method) else value)
    await session.flush()
    _settings_changed(session)
    return settings


def team_is_open(settings: HandoffSettings, now: datetime) -> bool:
    return office_hours.is_open(now, settings.office_hours, settings.timezone, settings.holidays)


def team_notice(settings: HandoffSettings, now: datetime, agents_online: bool) -> str | None:
    """What a shopper handed to the built-in inbox is told of who answers: None when a person is there to join (the
    caller says so), else the office-hours message when the team is closed (outside hours, or a holiday — even with
    someone signed in), and the auto-response when it is open but nobody is available."""
    if not team_is_open(settings, now):
        return settings.office_hours_message
    return None if agents_online else settings.auto_response


async def enqueue_handoff(
    session: AsyncSession, conversation_id: str, target: str, now: datetime, transcript_seq: int | None = None
) -> OutboxItem:
    """The outbox row, in the caller's transaction. A conversation has one: after a hand back to the AI, a new
    handoff sends the same row again, so the conversation keeps its one ticket (the target reopens it). The ticket's
    transcript ends at `transcript_seq`; what the shopper writes later goes to the ticket as `ticket_message` rows."""
    item = await outbox.enqueue(session, conversation_id, HANDOFF, target, now)
    item.transcript_seq = transcript_seq
    return item


def ticket_message_kind(seq: int) -> str:
    return f"{TICKET_MESSAGE}:{seq}"


def ticket_message_seq(kind: str) -> int | None:
    """The message seq of a `ticket_message:<seq>` kind; None for any other kind."""
    prefix, _, seq = kind.partition(":")
    return int(seq) if prefix == TICKET_MESSAGE and seq.isdigit() else None


async def enqueue_ticket_message(
    session: AsyncSession, conversation_id: str, seq: int, target: str, now: datetime
) -> OutboxItem:
    """A shopper's message for the conversation's helpdesk ticket, in the transaction that stored it: the worker adds
    it once the ticket exists, after the messages before it."""
    return await outbox.enqueue(session, conversation_id, ticket_message_kind(seq), target, now)


async def record_own_comment(
    session: AsyncSession, source: str, comment_id: str, conversation_id: str, now: datetime
) -> None:
    """A comment frontdesk added to the helpdesk's ticket itself (a shopper's later message). The helpdesk's trigger
    cannot tell it from an agent's reply and sends it back; the relay finds its id here and shows nothing."""
    taken = await session.scalar(
        select(RelayedComment.id).where(RelayedComment.source == source, RelayedComment.external_id == comment_id)
    )
    if taken is None:
        session.add(RelayedComment(source=source, external_id=comment_id, conversation_id=conversation_id, seq=None,
                                   received_at=now))  # fmt: skip
