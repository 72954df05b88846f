"""decide(): answer from the store's knowledge, admit not knowing, notice a wish for a person, or just be polite."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Literal, Protocol

import numpy as np

from frontdesk.agent import phrases
from frontdesk.knowledge.schemas import EntryKind
from frontdesk.knowledge.service import EntryView, Knowledge
from frontdesk.retrieval.index import Candidate, Retrieval

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
        joined_retrieval = _about_follow_up(knowledge.retrieve(joined)[0], text, knowledge)
        if joined_retrieval is not None and joined_retrieval.confidence > retrieval.confidence:
            query, retrieval = joined, joined_retrieval
            hits = [
                (knowledge.entries[c.entry_id], c.score)
                for c in retrieval.candidates
                if c.entry_id in knowledge.entries
            ]

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


def _about_follow_up(joined: Retrieval, follow_up: str, knowledge: Knowledge) -> Retrieval | None:
    """The reading of a follow-up with the previous turn, taken only as an entry about what the follow-up itself
    says: of the entries the joined reading read, the likeliest whose texts hold the follow-up's own words ("canada"
    in "and to canada?" after a shipping-time question: the Canada FAQ, not the shipping-time one). "what about
    parking near your warehouse?" after a shipping question names nothing any of them holds: None, and the
    follow-up is read alone (and handed off)."""
    if not joined.read:
        return None
    words = phrases.follow_up_words(follow_up)
    probability = np.atleast_1d(np.asarray(knowledge.index.calibration.probability(joined.read_features)))
    for i in np.argsort(-probability, kind="stable"):
        entry_id = joined.read[int(i)]
        share = knowledge.index.word_share(entry_id, words)
        if share is None or share >= FOLLOW_UP_WORDS_HELD:
            scores = {c.entry_id: c.score for c in joined.candidates}
            first = Candidate(entry_id, scores.get(entry_id, 0.0))
            rest = [c for c in joined.candidates if c.entry_id != entry_id]
            features = joined.read_features[int(i)]
            return replace(joined, candidates=[first, *rest], confidence=float(probability[i]), features=features)
    return None


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
