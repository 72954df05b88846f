"""The turn of a conversation: a shopper's message, a click or an email in; deciding, replying, small talk, the offer
of a person, the email question, the handoff and the outcome out.

Every shopper input is stored (and committed) before anything else is done with it. Replies and status changes
are published on the event bus after their transaction commits.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol
from urllib.parse import urljoin

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import event
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from frontdesk.agent import engine, phrases
from frontdesk.crashpoints import no_crash
from frontdesk.handoff import service as handoff
from frontdesk.handoff.schemas import Method
from frontdesk.inbox import emails
from frontdesk.inbox import service as inbox
from frontdesk.knowledge import threshold
from frontdesk.knowledge.schemas import EntryKind
from frontdesk.knowledge.service import Knowledge
from frontdesk.realtime.bus import INBOX_TOPIC, EventBus, conversation_topic
from frontdesk.transcripts import outcomes
from frontdesk.transcripts import service as conversations
from frontdesk.transcripts.channel import Channels
from frontdesk.transcripts.models import Conversation, Message
from frontdesk.transcripts.service import FlowError
from frontdesk.transcripts.state import TEAM_OWNS, Status, Transition, TransitionRefused, can

Clock = Callable[[], datetime]
StoreAddress = Callable[[AsyncSession], Awaitable[str | None]]
log = logging.getLogger("frontdesk.flow")

NO_THANKS_REPLY = "No problem — I'm still here if you have another question."
GREETING_REPLY = "Hi! What can I help you with today?"
THANKS_REPLY = "You're welcome! Is there anything else I can help with?"
HUMAN_OFFER = "Of course. Would you like to connect with a person from our team?"
ON_ITS_WAY = "Thanks! I'm passing this conversation to our team now."
HANDOFF_YES, HANDOFF_NO = "handoff_yes", "handoff_no"
HELPFUL, NOT_HELPFUL = "helpful", "not_helpful"
CSAT_QUESTION = "How would you rate the help you got from our team?"
CSAT_ACTIONS = [{"id": f"csat_{score}", "label": label}
                for score, label in enumerate(("Very poor", "Poor", "OK", "Good", "Excellent"), start=1)]  # fmt: skip
RATINGS = (HELPFUL, NOT_HELPFUL)


class Receipt(Protocol):
    """A channel's own record of an inbound message (SMS: Twilio's MessageSid), kept in the transaction that stores
    the message, so a redelivery of the same message is found and taken as done."""

    async def seen(self, session: AsyncSession) -> bool: ...

    async def keep(self, session: AsyncSession, message: Message) -> None: ...


class TurnTaken(Exception):
    """The shopper message's turn was committed by another transaction first: this one's reply is not needed."""


async def no_store_address(_session: AsyncSession) -> str | None:
    return None


@dataclass(frozen=True)
class SettingsView:
    """What the chat flow reads of the handoff settings, copied out of the row (no ORM state to expire)."""

    method: str
    custom_message: str
    offer_text: str
    yes_text: str
    no_text: str
    email_prompt: str


@dataclass
class SettingsCache:
    """The handoff settings, read at most once per `ttl` seconds instead of on every message. A change saved in this
    process clears it at once (`handoff.service.on_settings_change`); one saved by another process is seen within
    `ttl`."""

    ttl: float = 3.0
    monotonic: Callable[[], float] = time.monotonic
    _value: SettingsView | None = None
    _until: float = 0.0
    _generation: int = 0

    def clear(self) -> None:
        self._value = None
        self._generation += 1

    async def get(self, session: AsyncSession) -> SettingsView:
        now = self.monotonic()
        if self._value is not None and now < self._until:
            return self._value
        generation = self._generation
        row = await handoff.get_settings(session)
        value = SettingsView(
            method=row.method, custom_message=row.custom_message, offer_text=row.offer_text,
            yes_text=row.yes_text, no_text=row.no_text, email_prompt=row.email_prompt,
        )  # fmt: skip
        if generation == self._generation:  # not cleared while reading: keep it
            self._value, self._until = value, now + self.ttl
        return value


@dataclass
class ChatFlow:
    sessions: async_sessionmaker[AsyncSession]
    knowledge: Knowledge
    bus: EventBus
    clock: Clock
    wake_worker: asyncio.Event
    threshold: float | None = None
    max_chars: int = 4000
    handoff_settings: SettingsCache = field(default_factory=SettingsCache)
    presence: inbox.Presence | None = None
    # Crash tests name a point where the process dies (crashpoints.py); nothing happens anywhere else.
    crash: Callable[[str], None] = no_crash
    # The store's own site, which relative entry links are read against (a setting of the web chat's, handed in so the
    # core names no channel).
    store_address: StoreAddress = no_store_address
    # How each channel shapes and carries what the turn says (frontdesk/channels/, handed in by the app).
    channels: Channels = field(default_factory=Channels)
    # Told each decision and the seconds it took (the app's Prometheus metrics).
    observe: Callable[[object, float], None] = lambda decision, seconds: None

    def __post_init__(self) -> None:
        handoff.on_settings_change(self.sessions, self.handoff_settings.clear)

    async def shopper_message(
        self, conversation_id: str, text: str, client_id: str | None = None, receipt: Receipt | None = None
    ) -> None:
        """Store the message first; then let the AI answer, or pass it to the team that owns the conversation.

        One session does both: the message is committed (`awaiting_turn`), the conversation read with it stays loaded,
        the decision is made while no connection is held, and the reply is written in a second transaction that also
        takes the message's turn and whose conversation update is checked against the version the first one wrote.
        When another writer changed the conversation in between, that update fails and the reply is worked out again
        from a fresh read (`retrying`). A crash between the two transactions leaves the message awaiting its turn:
        `answer_awaiting` answers it after the restart, and so does a resend of it (same `client_id`) before that."""
        resent: Message | None = None

        async def store(session: AsyncSession) -> tuple[Conversation, Message] | None:
            nonlocal resent
            if client_id and (earlier := await conversations.by_client_id(session, conversation_id, client_id)):
                resent = earlier if earlier.awaiting_turn else None  # answered already: a resend to drop
                return None
            if receipt is not None and await receipt.seen(session):
                return None
            conversation = await conversations.get(session, conversation_id)
            message = await conversations.insert_message(
                session, conversation, "shopper", text, client_id=client_id, awaiting_turn=True
            )
            if receipt is not None:
                await receipt.keep(session, message)  # a concurrent redelivery fails here, and finds it on retry
            if Status(conversation.status) in TEAM_OWNS and conversation.handoff_method in handoff.HELPDESKS:
                # Queued in the message's own transaction, so none is lost; the worker adds it to the ticket once
                # the ticket exists (it may not yet), in seq order.
                await handoff.enqueue_ticket_message(
                    session, conversation.id, message.seq, conversation.handoff_method, self.clock()
                )
                event.listen(session.sync_session, "after_commit", lambda _: self.wake_worker.set(), once=True)
            return conversation, message

        message: Message | None = None
        async with self.sessions() as session:
            try:
                stored = await store(session)
                await session.commit()
            except (StaleDataError, IntegrityError):
                await session.rollback()
            else:
                if stored is None:
                    if resent is not None:  # stored before a crash, never answered: answer it now
                        message = resent
                        await self._respond(conversation_id, message)
                    return
                conversation, message = stored
                await self.publish(conversation_id, [message])
                self.crash("message.stored")
                try:
                    out, statuses = await self._reply(session, conversation, message, release=True)
                    await session.commit()
                except (StaleDataError, IntegrityError):
                    await session.rollback()  # the conversation changed meanwhile: read it again below
                except TurnTaken:
                    await session.rollback()
                    return
                else:
                    await self.publish(conversation_id, out, statuses)
                    return
        if message is None:  # storing met another writer: the ordinary retry, each attempt in a fresh session
            resent = None
            stored = await conversations.retrying(self.sessions, store)
            if stored is None:
                if resent is not None:
                    await self._respond(conversation_id, resent)
                return
            message = stored[1]
            await self.publish(conversation_id, [message])
        await self._respond(conversation_id, message)

    async def answer_awaiting(self) -> int:
        """After a restart: the turn of every shopper input that was stored but never answered (the process stopped
        in between), oldest first. Says how many were answered; one that fails is logged and left for the next."""
        answered = 0
        after = 0
        while True:
            async with self.sessions() as session:
                waiting = await conversations.awaiting_turns(session, after)
            if not waiting:
                return answered
            for message in waiting:
                after = message.id
                try:
                    await self._respond(message.conversation_id, message)
                except Exception:
                    log.exception("could not answer message %s of %s", message.seq, message.conversation_id)
                else:
                    answered += 1

    async def _respond(self, conversation_id: str, shopper: Message) -> None:
        async def respond(session: AsyncSession) -> tuple[list[Message], list[str]]:
            conversation = await conversations.get(session, conversation_id)
            return await self._reply(session, conversation, shopper, release=False)

        try:
            out, statuses = await conversations.retrying(self.sessions, respond)
        except TurnTaken:
            return  # answered by another transaction meanwhile
        await self.publish(conversation_id, out, statuses)

    async def _reply(
        self, session: AsyncSession, conversation: Conversation, shopper: Message, release: bool
    ) -> tuple[list[Message], list[str]]:
        """The turn that follows a shopper's message; what it says goes on its way through the conversation's channel
        in the same transaction (SMS: queued as texts, which the worker sends after the commit wakes it)."""
        out, statuses = await self._turn(session, conversation, shopper, release)
        if not await conversations.take_turn(session, conversation.id, shopper.seq):
            raise TurnTaken
        if out and await self.channels.of(conversation).deliver(session, conversation, out, self.clock()):
            event.listen(session.sync_session, "after_commit", lambda _: self.wake_worker.set(), once=True)
        return out, statuses

    async def _turn(
        self, session: AsyncSession, conversation: Conversation, shopper: Message, release: bool
    ) -> tuple[list[Message], list[str]]:
        """The AI's turn for a stored shopper message (`shopper` is a value holder, not in the session). With
        `release`, nothing in the session is pending and the read of a follow-up's previous turn is committed
        before the decision, so the (single, on SQLite) connection is not held while the engine computes."""
        status = Status(conversation.status)
        if status in TEAM_OWNS:
            return await self._team_turn(session, conversation, shopper), []
        if status is Status.closed:
            return [], []
        if shopper.kind == "email" and status is not Status.needs_email:
            return [], []  # an email given for a request that is no longer open: nothing to do with it
        if status is Status.needs_email:
            return await self._take_email(session, conversation, shopper.text, shopper.seq)
        # The previous turn is only read for a message that leans on it ("and for international orders?").
        if phrases.looks_like_follow_up(shopper.text):
            texts = await conversations.recent_shopper_texts(session, conversation.id)
            if release:
                await session.commit()
        else:
            texts = [shopper.text]
        dialogue = engine.Dialogue([engine.Line("shopper", text) for text in texts])
        started = time.perf_counter()
        decision = engine.decide(dialogue, self.knowledge, self.threshold, self.max_chars)
        self.observe(decision, time.perf_counter() - started)
        statuses = []
        if status is Status.offered:
            await conversations.transition(session, conversation, Transition.resume, "shopper asked again", "shopper")
            statuses.append(Status.ai.value)
        out, more = await self._answer(session, conversation, shopper, decision)
        return out, statuses + more

    async def _team_turn(self, session: AsyncSession, conversation: Conversation, shopper: Message) -> list[Message]:
        """The team owns the conversation: the AI stays silent; the inbox hears of the message at once. While nobody
        is there to answer, the shopper is told so — at most once per conversation and day."""
        await self.bus.publish(INBOX_TOPIC, {"type": "activity", "conversation_id": conversation.id,
                                             "seq": shopper.seq, "author": "shopper"})  # fmt: skip
        if conversation.handoff_method in handoff.HELPDESKS:
            return []  # queued for the ticket with the message itself (`store`); the helpdesk's team answers there
        if Status(conversation.status) is not Status.with_team or self.presence is None:
            return []
        now = self.clock()
        settings = await handoff.get_settings(session)
        text = handoff.team_notice(settings, now, await self.presence.online() > 0)
        if text is None or not await inbox.take_auto_response_day(session, conversation.id, now.date().isoformat()):
            return []
        return [await conversations.insert_message(session, conversation, "system", text, kind="notice")]

    async def _answer(
        self, session: AsyncSession, conversation: Conversation, shopper: Message, decision: engine.Decision
    ) -> tuple[list[Message], list[str]]:
        settings = await self.handoff_settings.get(session)
        out: list[Message] = []
        statuses: list[str] = []
        meta: dict[str, object]
        match decision:
            case engine.Answer():
                meta = {"decision": "answer", "entry": decision.entry.id, "confidence": decision.confidence}
                self._count(conversation, "answer", shopper.text)
                text = decision.text
                link = await entry_link(session, decision.entry.url, self.store_address)
                card = engine.product_card(decision.entry) if decision.entry.kind is EntryKind.product else None
                text, shown = self.channels.of(conversation).shape_answer(text, link, card)
                answer = {"entry": decision.entry.id, "confidence": round(decision.confidence, 4), **shown}
                out.append(await conversations.insert_message(session, conversation, "ai", text, meta=answer))
            case engine.SmallTalk():
                meta = {"decision": "small_talk"}
                self._count(conversation, "small_talk", shopper.text)
                reply = GREETING_REPLY if decision.kind == "greeting" else THANKS_REPLY
                out.append(await conversations.insert_message(session, conversation, "ai", reply))
            case engine.Unknown() | engine.HumanRequested():
                human = isinstance(decision, engine.HumanRequested)
                reason = f"asked for a person ({decision.reason})" if human else "the agent could not answer"
                best = decision.best if isinstance(decision, engine.Unknown) else None
                meta = {
                    "decision": "human_requested" if human else "unknown",
                    "confidence": getattr(decision, "confidence", None),
                    "best": best.id if best else None,  # the entry it would have answered with: a label's check
                    "reason": reason,
                }
                self._count(conversation, str(meta["decision"]), shopper.text)
                channel = self.channels.of(conversation)
                if settings.method == Method.none.value:
                    custom = channel.shape_custom(settings.custom_message)
                    out.append(await conversations.insert_message(session, conversation, "ai", custom, kind="custom"))
                elif not channel.asks_consent:
                    # No consent step (SMS: the phone number says who the shopper is), so the team gets it now.
                    out, statuses = await self._hand_off(session, conversation, reason)
                else:
                    await conversations.offer(session, conversation, reason)
                    statuses.append(Status.offered.value)
                    actions = [
                        {"id": HANDOFF_YES, "label": settings.yes_text},
                        {"id": HANDOFF_NO, "label": settings.no_text},
                    ]
                    text = HUMAN_OFFER if human else settings.offer_text
                    out.append(await conversations.insert_message(
                        session, conversation, "ai", text, kind="offer", meta={"actions": actions}
                    ))  # fmt: skip
            case _:
                raise AssertionError(f"unexpected decision {decision!r}")
        await conversations.set_message_meta(session, conversation.id, shopper.seq, meta)
        outcomes.update(conversation)
        return out, statuses

    async def action(self, conversation_id: str, action: str) -> None:
        """A click on an offer's button. Only the first click of an open offer counts."""
        if action not in (HANDOFF_YES, HANDOFF_NO):
            raise FlowError("bad_frame", f"unknown action {action!r}")

        async def click(session: AsyncSession) -> tuple[list[Message], list[str]]:
            conversation = await conversations.get(session, conversation_id)
            if action == HANDOFF_NO:
                if not can(conversation, Transition.decline):
                    raise FlowError("not_offered", "this offer is no longer open")
                await conversations.transition(session, conversation, Transition.decline, "shopper said no", "shopper")
                conversation.handoff_declined = True
                message = await conversations.insert_message(session, conversation, "ai", NO_THANKS_REPLY)
                outcomes.update(conversation)
                return [message], [Status.ai.value]
            if Status(conversation.status) is not Status.offered:
                raise FlowError("not_offered", "this offer is no longer open")
            if conversation.email:
                return await self._hand_off(session, conversation, self._offered_reason(conversation))
            await conversations.transition(session, conversation, Transition.ask_email, "shopper said yes", "shopper")
            settings = await self.handoff_settings.get(session)
            message = await conversations.insert_message(session, conversation, "ai", settings.email_prompt,
                                                      kind="email_request")  # fmt: skip
            self.crash("action.written")
            return [message], [Status.needs_email.value]

        out, statuses = await conversations.retrying(self.sessions, click)
        self.crash("action.committed")
        await self.publish(conversation_id, out, statuses)

    async def email(self, conversation_id: str, address: str) -> None:
        """The shopper's answer to the email request: stored as their message, then checked."""

        async def store(session: AsyncSession) -> Message:
            conversation = await conversations.get(session, conversation_id)
            if Status(conversation.status) is not Status.needs_email:
                raise FlowError("not_offered", "no email address was asked for")
            return await conversations.insert_message(
                session, conversation, "shopper", address[:320], kind="email", awaiting_turn=True
            )

        message = await conversations.retrying(self.sessions, store)
        await self.publish(conversation_id, [message])
        self.crash("email.stored")
        await self._respond(conversation_id, message)

    async def _take_email(
        self, session: AsyncSession, conversation: Conversation, address: str, seq: int
    ) -> tuple[list[Message], list[str]]:
        try:
            valid = validate_email(address.strip(), check_deliverability=False)
        except EmailNotValidError as exc:
            settings = await self.handoff_settings.get(session)
            text = f"That doesn't look like an email address: {exc} {settings.email_prompt}"
            message = await conversations.insert_message(session, conversation, "ai", text, kind="email_request",
                                                      meta={"invalid_email": True})  # fmt: skip
            return [message], []
        # Typed, so unverified: it joins no signed-in customer's profile (conversations.link_profile).
        await conversations.link_profile(session, conversation, email=valid.normalized, verified=False)
        return await self._hand_off(session, conversation, self._offered_reason(conversation))

    @staticmethod
    def _offered_reason(conversation: Conversation) -> str:
        """Why the person was offered (kept by the offer), for the handoff the shopper's Yes makes of it."""
        return conversation.handoff_reason or "the shopper asked for a person"

    async def _hand_off(
        self, session: AsyncSession, conversation: Conversation, reason: str
    ) -> tuple[list[Message], list[str]]:
        """The status change and the outbox row, in one transaction: accepted means never lost, and only once."""
        settings = await self.handoff_settings.get(session)
        await conversations.hand_off(session, conversation, settings.method, reason)
        message = await conversations.insert_message(session, conversation, "system", ON_ITS_WAY, kind="notice")
        # The ticket's transcript ends here, at the notice: what the shopper writes next reaches the ticket on its own.
        await handoff.enqueue_handoff(session, conversation.id, settings.method, self.clock(), message.seq)
        return [message], [Status.handing_off.value]

    async def email_transcript(self, conversation_id: str, address: str | None) -> str:
        """Queue the shopper's copy of the chat by email: to the conversation's email, or to `address` when it has
        none yet (then kept as the conversation's, unverified, as at a handoff). Says where it goes."""

        async def queue(session: AsyncSession) -> str:
            conversation = await conversations.get(session, conversation_id)
            to = conversation.email
            if to is None:
                if not address:
                    raise FlowError("email_needed", "give an email address to send the conversation to")
                try:
                    to = validate_email(address.strip()[:320], check_deliverability=False).normalized
                except EmailNotValidError as exc:
                    raise FlowError("invalid_email", str(exc)) from exc
                await conversations.link_profile(session, conversation, email=to, verified=False)
            if not await emails.enqueue_transcript(session, conversation_id, self.clock()):
                raise FlowError("too_soon", "this conversation was emailed a moment ago; try again in a few minutes")
            event.listen(session.sync_session, "after_commit", lambda _: self.wake_worker.set(), once=True)
            return to

        to = await conversations.retrying(self.sessions, queue)
        await self.bus.publish(conversation_topic(conversation_id), {"type": "transcript", "email": to})
        return to

    async def rate_team(self, conversation_id: str, score: int) -> None:
        """The shopper's answer to the rating asked when the team closed the conversation (1 to 5; the last counts)."""
        if not 1 <= score <= 5:
            raise FlowError("bad_frame", "a rating of the team is 1 to 5")

        async def keep(session: AsyncSession) -> None:
            conversation = await conversations.get(session, conversation_id)
            asked = await conversations.last_message_of_kind(session, conversation_id, "csat")
            if asked is None:
                raise FlowError("not_offered", "no rating of the team was asked in this conversation")
            conversation.csat_score, conversation.csat_at = score, self.clock()
            await conversations.set_message_meta(
                session, conversation_id, asked.seq, {**(asked.meta or {}), "score": score}
            )

        await conversations.retrying(self.sessions, keep)
        rated = {"type": "csat", "score": score}  # every tab shows it
        await self.bus.publish(conversation_topic(conversation_id), rated)

    async def rate(self, conversation_id: str, seq: int, rating: str) -> None:
        """The shopper's 👍 ("helpful") or 👎 ("not_helpful") on one of the AI's answers; the last one counts. An
        answer rated "didn't help" is not an answer for the conversation's outcome."""
        if rating not in RATINGS:
            raise FlowError("bad_frame", "a rating is helpful or not_helpful")

        async def keep(session: AsyncSession) -> str | None:
            conversation = await conversations.get(session, conversation_id)
            answer = await conversations.message_at(session, conversation_id, seq)
            if answer is None or not is_rateable(answer):
                raise FlowError("not_rateable", "only the assistant's answers can be rated")
            before = (answer.meta or {}).get("rating")
            if before == rating:
                return None
            await conversations.set_message_meta(
                session, conversation_id, seq, {**(answer.meta or {}), "rating": rating}
            )
            conversation.rated_unhelpful += (rating == NOT_HELPFUL) - (before == NOT_HELPFUL)
            outcomes.update(conversation)
            # the shopper's word on the answer labels it for the store's threshold: right, or should not have been
            helpful = rating != NOT_HELPFUL
            entry = (answer.meta or {}).get("entry")
            question = await conversations.message_at(session, conversation_id, seq - 1)
            if await threshold.label(
                session, answer, rating, helpful, entry if helpful and isinstance(entry, int) else None,
                text=question.text if question is not None and question.author == "shopper" else "",
            ):  # fmt: skip
                await threshold.refresh(session, self.knowledge)
            return rating

        if await conversations.retrying(self.sessions, keep):
            await self.bus.publish(
                conversation_topic(conversation_id), {"type": "rating", "seq": seq, "rating": rating}
            )

    @staticmethod
    def _count(conversation: Conversation, decision: str, question: str) -> None:
        if decision == "small_talk":
            conversation.small_talk = True
            return
        conversation.questions += 1
        conversation.answered += decision == "answer"
        conversation.last_decision, conversation.last_question = decision, question

    async def publish(self, conversation_id: str, messages: list[Message], statuses: list[str] | None = None) -> None:
        for message in messages:
            await self.bus.publish(conversation_topic(conversation_id), self.channels.event_of(message))
        for status in statuses or []:
            if status == Status.handing_off.value:
                self.wake_worker.set()  # only now: the outbox row is committed and visible to the worker
            await self.bus.publish(conversation_topic(conversation_id), {"type": "status", "status": status})
            if status in (Status.handing_off.value, Status.with_team.value):
                await self.bus.publish(INBOX_TOPIC, {"type": "conversation", "conversation_id": conversation_id,
                                                     "status": status})  # fmt: skip


async def entry_link(session: AsyncSession, url: str | None, store_address: StoreAddress) -> str | None:
    """An entry's link as a shopper can open it: a relative one ("/products/basin-tent") on the store's own site when
    its address is set (`store_address`, read only then), else as it is (a widget on the store's pages opens it
    there); only web addresses."""
    if not url:
        return None
    if url.startswith(("https://", "http://")):
        return url
    if not url.startswith("/") or url.startswith("//"):
        return None
    store = await store_address(session)
    return urljoin(store.rstrip("/") + "/", url.lstrip("/")) if store else url


def is_rateable(message: Message) -> bool:
    """An answer of the AI from the knowledge (not small talk, an offer or a notice): what the shopper may rate."""
    return message.author == "ai" and message.kind == "text" and "entry" in (message.meta or {})


__all__ = ["ChatFlow", "FlowError", "TransitionRefused"]
