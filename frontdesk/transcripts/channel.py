"""The Channel interface: what the turn, the team's replies and the outbox ask of the way a shopper talks to the store.

The core (conversations, handoff, the outbox worker) holds a `Channels` registry and asks it for a conversation's
channel; it never names one. The implementations live in `frontdesk/channels/` (web chat, SMS; email and WhatsApp
later) and the app hands them in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from frontdesk.outbox.delivery import Delivery
from frontdesk.transcripts.models import Conversation, Message


class Continuation(StrEnum):
    """How a conversation goes on once the team's ticket exists."""

    here = "here"  # the team answers in this conversation: the AI stays silent, the team's replies come here
    by_email = "by_email"  # the helpdesk answers by email itself; the conversation ends where it is


class Channel(Protocol):
    name: str
    #: How the console names it ("Web chat").
    label: str
    #: Whether a shopper is offered a person and asked for an email before a handoff (a phone number already says
    #: who texts, so SMS hands off at once).
    asks_consent: bool
    #: Whether the team's close asks the shopper to rate the team (a one-tap rating needs buttons).
    asks_team_rating: bool

    def shape_answer(
        self, text: str, link: str | None, card: dict[str, object] | None
    ) -> tuple[str, dict[str, object]]:
        """An answer from the knowledge as this channel shows it: its text, and what the answer's meta carries
        (a product's `card`, a `source` link)."""
        ...

    def shape_custom(self, markdown: str) -> str:
        """The store's custom message (the rich-text subset) as this channel shows it."""
        ...

    async def deliver(self, session: AsyncSession, conversation: Conversation, messages: Sequence[Message],
                      now: datetime) -> bool:  # fmt: skip
        """What the AI or the system said, on its way to the shopper in the transaction that stores it; says whether
        an outbox row was queued (the worker is woken after the commit). The event bus carries it to live chats."""
        ...

    async def reach_away(self, session: AsyncSession, conversation: Conversation, seq: int, now: datetime) -> bool:
        """A team member's reply (message `seq`) for a shopper who may not be there, queued in the message's
        transaction; says whether an outbox row was queued."""
        ...

    def after_handoff(self, target: str) -> Continuation:
        """How the conversation goes on once the ticket exists at `target` (builtin, zendesk, gorgias)."""
        ...

    def deliveries(self) -> Mapping[str, Delivery]:
        """The senders of the outbox rows this channel sends itself (SMS: texts), by kind; claimed, leased and retried
        by the outbox worker like any other row."""
        ...


LiveEvent = Callable[[Message], dict[str, object]]


class Channels:
    """The channels the app serves, by name. A conversation of a channel this process does not serve is an error.
    `live_event` is the wire format of a message on the live conversation topic (the web chat's, which the inbox's
    page reads too), handed in with the channels so the core never names it."""

    def __init__(self, channels: Mapping[str, Channel] | None = None, live_event: LiveEvent | None = None) -> None:
        self._by_name = dict(channels or {})
        self._live_event = live_event

    def names(self) -> tuple[str, ...]:
        return tuple(self._by_name)

    def labels(self) -> dict[str, str]:
        """Each channel's name and the label the console shows for it."""
        return {name: channel.label for name, channel in self._by_name.items()}

    def event_of(self, message: Message) -> dict[str, object]:
        """The event the live conversation topic carries for a stored message."""
        if self._live_event is None:
            raise LookupError("no wire format of the live topic was handed in with the channels")
        return self._live_event(message)

    def of(self, conversation: Conversation) -> Channel:
        try:
            return self._by_name[conversation.channel]
        except KeyError:
            raise LookupError(f"no channel {conversation.channel!r} is served by this process") from None

    def deliveries(self) -> dict[str, Delivery]:
        """Every channel's own deliveries, by the kind of outbox row they send."""
        return {kind: found for channel in self._by_name.values() for kind, found in channel.deliveries().items()}
