"""The web chat's wire format of a stored message: the event the live conversation topic carries to the widget and
the inbox (docs/webchat-protocol.md)."""

from __future__ import annotations

from frontdesk.conversations.turn import is_rateable
from frontdesk.transcripts.models import Message
from frontdesk.transcripts.transcript import iso


def message_event(message: Message) -> dict[str, object]:
    event: dict[str, object] = {
        "type": "message",
        "seq": message.seq,
        "author": message.author,
        "kind": message.kind,
        "text": message.text,
        "at": iso(message.created_at),
    }
    if message.kind in ("offer", "csat"):
        event["actions"] = (message.meta or {}).get("actions", [])
    if message.kind == "csat":
        event["score"] = (message.meta or {}).get("score")  # the rating given, shown again on reconnect
    if message.client_id:
        event["client_id"] = message.client_id
    if message.author == "agent" and isinstance((message.meta or {}).get("agent"), str):
        event["agent"] = (message.meta or {})["agent"]  # the display name the shopper sees (and its initials)
    if is_rateable(message):
        meta = message.meta or {}
        event["rateable"] = True
        event["rating"] = meta.get("rating")
        for shown in ("card", "source"):  # a product's card, a FAQ's or article's source link
            if meta.get(shown):
                event[shown] = meta[shown]
    return event
