"""The conversation state machine: the only place that changes `conversation.status`.

ai ──offer──▶ offered ──yes──▶ needs_email ──email──▶ handing_off ──ticket──▶ with_team
 ▲              │  └─────────────yes (email known)──────▶ ┘                      │
 └──────no──────┘                                                                │
 ▲───────────────────────────── hand back (built-in inbox agent) ◀──────────────┘
Any status ──close──▶ closed.  SMS hands off without the offer: ai ──handoff──▶ handing_off.
"""

from __future__ import annotations

from enum import StrEnum

from frontdesk.transcripts.models import Conversation, ConversationEvent


class Status(StrEnum):
    ai = "ai"
    offered = "offered"
    needs_email = "needs_email"
    handing_off = "handing_off"
    with_team = "with_team"
    closed = "closed"


class Transition(StrEnum):
    offer = "offer"
    decline = "decline"
    ask_email = "ask_email"
    hand_off = "hand_off"
    ticket_created = "ticket_created"
    hand_back = "hand_back"
    resume = "resume"
    close = "close"


ALLOWED: dict[Transition, tuple[frozenset[Status], Status]] = {
    Transition.offer: (frozenset({Status.ai}), Status.offered),
    Transition.decline: (frozenset({Status.offered, Status.needs_email}), Status.ai),
    # A shopper who types a new question instead of clicking withdraws the offer.
    Transition.resume: (frozenset({Status.offered}), Status.ai),
    Transition.ask_email: (frozenset({Status.offered}), Status.needs_email),
    Transition.hand_off: (frozenset({Status.ai, Status.offered, Status.needs_email}), Status.handing_off),
    Transition.ticket_created: (frozenset({Status.handing_off}), Status.with_team),
    Transition.hand_back: (frozenset({Status.with_team}), Status.ai),
    Transition.close: (frozenset(set(Status) - {Status.closed}), Status.closed),
}

TEAM_OWNS = frozenset({Status.handing_off, Status.with_team})


class TransitionRefused(Exception):
    """The change does not apply to the conversation's current status (e.g. a second Yes click)."""


def can(conversation: Conversation, transition: Transition) -> bool:
    sources, _ = ALLOWED[transition]
    return Status(conversation.status) in sources


def apply(conversation: Conversation, transition: Transition, reason: str, actor: str) -> ConversationEvent:
    """Move the conversation along `transition`, or raise TransitionRefused; the caller adds the event and commits.

    The guard is the point: a double click, a retry or a second tab finds the status already moved on.
    """
    sources, target = ALLOWED[transition]
    current = Status(conversation.status)
    if current not in sources:
        raise TransitionRefused(f"cannot {transition.value} a conversation that is {current.value}")
    conversation.status = target.value
    return ConversationEvent(
        conversation_id=conversation.id, from_status=current.value, to_status=target.value, reason=reason, actor=actor
    )


def offer(conversation: Conversation, reason: str, actor: str) -> ConversationEvent:
    """A person offered; the reason is kept for the handoff a Yes makes of it."""
    event = apply(conversation, Transition.offer, reason, actor)
    conversation.handoff_reason = reason
    return event


def hand_off(conversation: Conversation, method: str, reason: str, actor: str) -> ConversationEvent:
    """The handoff accepted: the status, the method it goes by and its reason, in one guarded change."""
    event = apply(conversation, Transition.hand_off, reason, actor)
    conversation.handoff_method, conversation.handoff_reason = method, reason
    return event


def ticket_created(conversation: Conversation, ticket_ref: str, actor: str) -> ConversationEvent:
    """The ticket exists: the conversation is the team's, and knows its ticket."""
    event = apply(conversation, Transition.ticket_created, f"ticket {ticket_ref}", actor)
    conversation.ticket_ref = ticket_ref
    return event


def start(conversation: Conversation) -> ConversationEvent:
    conversation.status = Status.ai.value
    return ConversationEvent(
        conversation_id=conversation.id, from_status=None, to_status=Status.ai.value, reason="started", actor="shopper"
    )
