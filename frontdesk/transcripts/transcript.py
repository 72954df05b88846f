"""The ticket content every handoff target uses: the whole transcript and who the shopper is, as text and HTML."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape

AUTHORS = {"shopper": "Shopper", "ai": "AI", "agent": "Agent", "system": "System"}


@dataclass(frozen=True)
class TranscriptLine:
    at: datetime
    author: str
    text: str


@dataclass(frozen=True)
class Ticket:
    subject: str
    text: str
    html: str


def iso(at: datetime) -> str:
    moment = at if at.tzinfo else at.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def render(
    *,
    conversation_id: str,
    channel: str,
    reason: str,
    email: str | None,
    phone: str | None,
    profile_id: str | None,
    link: str,
    lines: Sequence[TranscriptLine],
) -> Ticket:
    """Plain text and escaped HTML of the same facts: contact, profile, channel, reason, link, then every message."""
    first_question = next((line.text for line in lines if line.author == "shopper"), "")
    subject = f"Chat handoff: {first_question[:80]}" if first_question else f"Chat handoff ({channel})"
    facts = [
        ("Email", email or "—"),
        ("Phone", phone or "—"),
        ("Profile", profile_id or "—"),
        ("Channel", channel),
        ("Reason", reason),
        ("Conversation", link),
    ]
    text_lines = [f"{name}: {value}" for name, value in facts]
    text_lines.append("")
    text_lines.extend(f"[{iso(line.at)}] {AUTHORS.get(line.author, line.author)}: {line.text}" for line in lines)

    rows = "".join(
        f"<li><b>{escape(name)}:</b> {escape(value)}</li>" for name, value in facts if name != "Conversation"
    )
    rows += f'<li><b>Conversation:</b> <a href="{escape(link, quote=True)}">{escape(link)}</a></li>'
    messages = "".join(
        f"<p><b>{escape(iso(line.at))} {escape(AUTHORS.get(line.author, line.author))}:</b> "
        f"{escape(line.text).replace(chr(10), '<br>')}</p>"
        for line in lines
    )
    return Ticket(subject=subject, text="\n".join(text_lines), html=f"<ul>{rows}</ul>{messages}")
