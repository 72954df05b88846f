"""Email from the built-in inbox: an agent's reply to a shopper who has left the chat, and an alert to the team when a
handoff arrives and nobody is there to take it. Sent over SMTP (aiosmtplib) by the outbox worker."""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from typing import Literal

import aiosmtplib
from pydantic import SecretStr

from frontdesk.config import Settings
from frontdesk.outbox.delivery import NotConfigured

NOT_CONFIGURED = "email is not configured (FRONTDESK_SMTP_HOST)"
NO_SENDER = "email has no sender address (FRONTDESK_MAIL_FROM)"
Security = Literal["starttls", "tls", "none"]


class EmailNotConfigured(NotConfigured):
    """Nothing can be sent until SMTP is set up; the outbox keeps the email and tries again."""


@dataclass(frozen=True)
class Mailer:
    """Sends one message per call over SMTP, with a new connection each time (the outbox sends few and rarely)."""

    host: str | None
    port: int
    username: str | None
    password: SecretStr | None
    security: Security
    sender: str | None
    clock: Callable[[], datetime]
    timeout: float = 30.0

    @classmethod
    def from_settings(cls, settings: Settings, clock: Callable[[], datetime]) -> Mailer:
        return cls(
            host=settings.smtp_host or None,
            port=settings.smtp_port,
            username=settings.smtp_username,
            password=settings.smtp_password,
            security=settings.smtp_security,
            sender=settings.mail_from,
            clock=clock,
        )

    @property
    def configured(self) -> bool:
        return bool(self.host and self.sender)

    async def send(self, message: EmailMessage) -> None:
        if not self.host:
            raise EmailNotConfigured(NOT_CONFIGURED)
        if not self.sender:
            raise EmailNotConfigured(NO_SENDER)
        del message["From"], message["Date"], message["Message-ID"]
        message["From"] = self.sender
        message["Date"] = format_datetime(self.clock())
        # Mail without a Message-ID in the sender's own domain is scored as spam by most receivers.
        domain = parseaddr(self.sender)[1].rpartition("@")[2] or None
        message["Message-ID"] = make_msgid(domain=domain)
        await aiosmtplib.send(
            message,
            hostname=self.host,
            port=self.port,
            username=self.username,
            password=self.password.get_secret_value() if self.password else None,
            use_tls=self.security == "tls",
            start_tls=self.security == "starttls",
            timeout=self.timeout,
        )


@dataclass(frozen=True)
class HandoffSummary:
    """What a team alert tells about the conversation waiting in the inbox."""

    conversation_id: str
    reason: str
    first_question: str | None
    shopper_email: str | None


def _one_line(text: str, limit: int = 150) -> str:
    """Header-safe: a store name or a reason with a line break would otherwise be refused (or inject headers)."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _html_text(text: str) -> str:
    return html.escape(text).replace("\r\n", "\n").replace("\n", "<br>\n")


def _message(subject: str, to: str | Sequence[str], plain: str, rich: str) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = _one_line(subject, 200)
    message["To"] = to if isinstance(to, str) else ", ".join(to)
    message.set_content(plain)
    message.add_alternative(f'<!doctype html>\n<html><body style="font-family: sans-serif">\n{rich}\n</body></html>\n',
                            subtype="html")  # fmt: skip
    return message


def reply_email(store_name: str, to: str, agent_text: str, link: str) -> EmailMessage:
    """An agent's reply for a shopper who is not in the chat, with the link that reopens it."""
    store = _one_line(store_name)
    plain = (
        f"{agent_text}\n\n— the {store} team\n\n"
        f"Continue the conversation in your browser:\n{link}\n\n"
        "The link works for 14 days. Anyone with it can read this conversation, so please don't forward it.\n"
    )
    rich = (
        f"<p>{_html_text(agent_text)}</p>\n<p>— the {html.escape(store)} team</p>\n"
        f'<p><a href="{html.escape(link, quote=True)}">Continue the conversation</a></p>\n'
        '<p style="color: #666; font-size: 13px">The link works for 14 days. Anyone with it can read this '
        "conversation, so please don't forward it.</p>"
    )
    return _message(f"Re: your chat with {store}", to, plain, rich)


def team_alert(store_name: str, to: Sequence[str], summary: HandoffSummary, inbox_link: str) -> EmailMessage:
    """A handoff is waiting and nobody is available in the inbox (none online, or outside office hours)."""
    question = summary.first_question or "(no question asked)"
    shopper = summary.shopper_email or "anonymous"
    plain = (
        f"A shopper of {_one_line(store_name)} is waiting for a person, and nobody is available in the inbox.\n\n"
        f"Reason: {summary.reason}\nShopper: {shopper}\nFirst question: {question}\n\n"
        f"Open the conversation in the inbox:\n{inbox_link}\n"
    )
    rich = (
        f"<p>A shopper of {html.escape(_one_line(store_name))} is waiting for a person, and nobody is available in "
        "the inbox.</p>\n<ul>\n"
        f"<li>Reason: {html.escape(summary.reason)}</li>\n<li>Shopper: {html.escape(shopper)}</li>\n"
        f"<li>First question: {_html_text(question)}</li>\n</ul>\n"
        f'<p><a href="{html.escape(inbox_link, quote=True)}">Open the conversation in the inbox</a></p>'
    )
    return _message(f"New handoff waiting: {_one_line(summary.reason)}", to, plain, rich)


@dataclass(frozen=True)
class ChatLine:
    """One message of a shopper's own copy of their chat: when, who (as the shopper saw them) and what."""

    at: str
    who: str
    text: str


def transcript_email(store_name: str, to: str, lines: Sequence[ChatLine]) -> EmailMessage:
    """The shopper's copy of their chat with the store: every message they saw, with its time (UTC)."""
    store = _one_line(store_name)
    plain = f"Your conversation with {store}:\n\n" + "\n".join(f"[{line.at}] {line.who}: {line.text}" for line in lines)
    rich = f"<p>Your conversation with {html.escape(store)}:</p>\n" + "\n".join(
        f'<p><span style="color: #666">{html.escape(line.at)}</span> <b>{html.escape(line.who)}:</b> '
        f"{_html_text(line.text)}</p>"
        for line in lines
    )
    return _message(f"Your chat with {store}", to, plain + "\n", rich)
