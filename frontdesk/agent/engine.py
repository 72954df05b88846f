"""decide(): answer from the store's knowledge, admit not knowing, notice a wish for a person, or just be polite."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from frontdesk.agent import phrases
from frontdesk.agent.index import Retrieval
from frontdesk.knowledge.schemas import EntryKind
from frontdesk.knowledge.service import EntryView, Knowledge

Author = Literal["shopper", "ai", "agent", "system"]
SNIPPET_CHARS = 320
#: The line the Shopify importer adds to a product's body ("Type: Tents; Vendor: Juniper & Pine; Tags: …").
PRODUCT_DETAILS = re.compile(r"^(Type|Vendor|Tags): ")


class Turn(Protocol):
    author: str
    text: str


class ConversationLike(Protocol):
    """What decide() reads of a conversation: its messages, oldest first."""

    @property
    def messages(self) -> Sequence[Turn]: ...


@dataclass(frozen=True)
class Line:
    """One message of a dialogue held in memory (named apart from the stored `conversations.models.Message`)."""

    author: Author
    text: str


@dataclass
class Dialogue:
    """A conversation held in memory, for the CLI, eval and tests; the stored one comes from conversations/."""

    messages: list[Line] = field(default_factory=list)

    @classmethod
    def single(cls, question: str) -> Dialogue:
        return cls([Line("shopper", question)])


@dataclass(frozen=True)
class Runner:
    entry: EntryView
    score: float


@dataclass(frozen=True)
class Answer:
    entry: EntryView
    text: str
    confidence: float
    runners_up: tuple[Runner, ...] = ()
    query: str = ""


@dataclass(frozen=True)
class Unknown:
    reason: str
    confidence: float = 0.0
    best: EntryView | None = None
    runners_up: tuple[Runner, ...] = ()
    query: str = ""


@dataclass(frozen=True)
class HumanRequested:
    reason: Literal["asked_for_person", "frustrated"]


@dataclass(frozen=True)
class SmallTalk:
    kind: Literal["greeting", "thanks"]


Decision = Answer | Unknown | HumanRequested | SmallTalk


class QuestionError(ValueError):
    """The shopper's message cannot be read as a question (empty)."""


def decide(
    conversation: ConversationLike, knowledge: Knowledge, threshold: float | None = None, max_chars: int = 4000
) -> Decision:
    """Decide what to do with the conversation's last shopper message.

    Below the confidence threshold the agent does not guess: it returns Unknown with the reason.
    """
    shopper = [m.text for m in conversation.messages if m.author == "shopper"]
    if not shopper or not shopper[-1].strip():
        raise QuestionError("the shopper's message is empty")
    # Very long messages are read by their beginning: that is where people put the question.
    text = " ".join(shopper[-1].split())[:max_chars]
    if phrases.asks_for_person(text):
        return HumanRequested("asked_for_person")
    if phrases.is_frustrated(text):
        return HumanRequested("frustrated")
    if phrases.is_small_talk(text):
        return SmallTalk("greeting" if phrases.SMALL_TALK_GREETING.match(text) else "thanks")
    cut = knowledge.index.calibration.threshold if threshold is None else threshold

    query = text
    retrieval, hits = knowledge.retrieve(text)
    if len(shopper) > 1 and phrases.looks_like_follow_up(text):
        previous = " ".join(shopper[-2].split())[:max_chars]
        joined = f"{previous} {text}"
        joined_retrieval, joined_hits = knowledge.retrieve(joined)
        if joined_retrieval.confidence > retrieval.confidence and _adds_to(joined_retrieval, text, knowledge):
            query, retrieval, hits = joined, joined_retrieval, joined_hits

    runners = tuple(Runner(entry, score) for entry, score in hits[1:])
    if not hits:
        return Unknown("the store's knowledge is empty", query=query)
    best = hits[0][0]
    if retrieval.confidence < cut:
        reason = (
            f"confidence {retrieval.confidence:.2f} is below the threshold {cut:.2f} (closest entry: {best.title!r})"
        )
        return Unknown(reason, retrieval.confidence, best, runners, query)
    return Answer(best, answer_text(best), retrieval.confidence, runners, query)


#: Share of a follow-up's own words (idf-weighted) that the entry of the joined reading must hold.
FOLLOW_UP_WORDS_HELD = 0.5


def _adds_to(joined: Retrieval, follow_up: str, knowledge: Knowledge) -> bool:
    """Whether the reading of the follow-up with the previous turn is about what the follow-up says: its own words
    ("canada" in "and to canada?") are in the entry found. "what about parking near your warehouse?" after a
    shipping question says nothing the shipping answer holds, so it is read alone (and handed off)."""
    if not joined.candidates:
        return False
    share = knowledge.index.word_share(joined.candidates[0].entry_id, phrases.follow_up_words(follow_up))
    return share is None or share >= FOLLOW_UP_WORDS_HELD


def answer_text(entry: EntryView) -> str:
    """The reply a shopper reads, as plain text: the FAQ answer, an article's opening, or a product's facts. An
    entry's link is the channel's to show: a web chat card or source link, the full address in a text message."""
    if entry.kind is EntryKind.faq:
        return entry.body
    if entry.kind is EntryKind.article:
        return _snippet(entry.body)
    card = product_card(entry)
    facts = [card["title"], *(card[name] for name in ("price", "availability") if card[name])]
    text = " — ".join(facts) + "."
    return f"{text} {card['description']}" if card["description"] else text


def product_card(entry: EntryView) -> dict[str, str | None]:
    """What a product's card in the chat shows: its name, price, availability and a one-line description (the
    importer's line of type, vendor and tags is for matching questions, not for reading)."""
    description = "\n".join(line for line in entry.body.splitlines() if not PRODUCT_DETAILS.match(line))
    return {
        "title": entry.title,
        "price": f"${entry.price:,.2f}" if entry.price is not None else None,
        "availability": entry.availability.replace("_", " ") if entry.availability else None,
        "description": _first_sentence(description) if description.strip() else None,
    }


def _first_sentence(text: str, limit: int = 160) -> str:
    """A card's one line: the first sentence of a description, or its first words when that is longer."""
    flat = _snippet(text)
    for end in (". ", "! ", "? "):
        if (at := flat.find(end)) != -1 and at < limit:
            return flat[: at + 1]
    return flat if len(flat) <= limit else flat[:limit].rsplit(" ", 1)[0] + "…"


def _snippet(body: str) -> str:
    flat = " ".join(line.lstrip("#>*- ").strip() for line in body.splitlines() if line.strip())
    if len(flat) <= SNIPPET_CHARS:
        return flat
    cut = flat[:SNIPPET_CHARS]
    end = max(cut.rfind(". "), cut.rfind("! "), cut.rfind("? "))
    return cut[: end + 1] if end > SNIPPET_CHARS // 2 else cut.rsplit(" ", 1)[0] + "…"
