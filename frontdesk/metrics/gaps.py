"""Knowledge gaps: the questions the agent could not answer, grouped by what they mean and ranked by how often.

Questions are first normalised (case, spacing, punctuation, typographic quotes), so the same words asked twice are
one phrasing. Phrasings are then grouped greedily, most asked first: each joins the group whose centroid is nearest
(by the knowledge index's own embedder) when the cosine reaches the threshold, or when their content words mostly
overlap with the group's first phrasing, else it starts a group of its own.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from frontdesk.retrieval.embedders import Embedder
from frontdesk.retrieval.text import terms
from frontdesk.transcripts.service import Unanswered

#: Cosine to a group's centroid from which a phrasing joins it ("do you gift wrap?" ~ "can you gift wrap my order?"
#: is 0.89 with wordllama, "do you offer engraving?" ~ "do you offer gift wrapping?" 0.41).
SIMILARITY = 0.7
#: Share of content words two phrasings hold in common from which they are one group whatever the embedder says.
SAME_WORDS = 0.8
EXAMPLES = 5

_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})
_EDGES = re.compile(r"^[\W_]+|[\W_]+$")


def normalise(text: str) -> str:
    """What a question says, without what varies between two shoppers typing it: case, spaces, end punctuation."""
    flat = unicodedata.normalize("NFKC", text).translate(_QUOTES).lower()
    return _EDGES.sub("", " ".join(flat.split()))


@dataclass
class Phrasing:
    """One normalised question and every time it was asked (newest first)."""

    key: str
    asked: list[Unanswered]
    vector: np.ndarray | None = field(default=None, repr=False)

    @property
    def text(self) -> str:
        return self.asked[0].text.strip()

    @property
    def last_asked_at(self) -> datetime:
        return self.asked[0].at


@dataclass
class Group:
    """Phrasings of one question, the most asked first."""

    phrasings: list[Phrasing]
    centroid: np.ndarray = field(repr=False)
    words: frozenset[str] = frozenset()  # the content words of the phrasing that started the group

    @property
    def count(self) -> int:
        return sum(len(p.asked) for p in self.phrasings)

    @property
    def conversations(self) -> int:
        return len({q.conversation_id for p in self.phrasings for q in p.asked})

    @property
    def last_asked_at(self) -> datetime:
        return max(p.last_asked_at for p in self.phrasings)

    @property
    def typical(self) -> Phrasing:
        """The phrasing asked most often; among equals, the one nearest the group's centroid."""

        def closeness(phrasing: Phrasing) -> float:
            return float(phrasing.vector @ self.centroid) if phrasing.vector is not None else 0.0

        return max(self.phrasings, key=lambda p: (len(p.asked), closeness(p)))

    def draft_answer(self) -> Unanswered | None:
        """The asked question with a reply from the team: the typical phrasing's newest, else the group's newest."""
        replied = [q for q in self.typical.asked if q.reply]
        if not replied:
            replied = sorted((q for p in self.phrasings for q in p.asked if q.reply), key=lambda q: q.at, reverse=True)
        return replied[0] if replied else None


def phrasings(questions: Sequence[Unanswered]) -> list[Phrasing]:
    """The questions merged by their normalised text, most asked first (then most recent); empty ones dropped."""
    merged: dict[str, Phrasing] = {}
    for question in sorted(questions, key=lambda q: q.at, reverse=True):
        key = normalise(question.text)
        if key:
            merged.setdefault(key, Phrasing(key, [])).asked.append(question)
    return sorted(merged.values(), key=lambda p: (len(p.asked), p.last_asked_at), reverse=True)


def _overlap(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


def group(
    questions: Sequence[Unanswered],
    embedder: Embedder,
    similarity: float = SIMILARITY,
    same_words: float = SAME_WORDS,
) -> list[Group]:
    """The questions in groups of the same meaning, the most asked group first (then the most recently asked)."""
    found = phrasings(questions)
    if not found:
        return []
    vectors = np.asarray(embedder.embed_queries([p.key for p in found]), dtype=np.float32)
    groups: list[Group] = []
    # Row i: group i's count-weighted sum of vectors (its centroid once normalised); one matrix product per phrasing.
    sums = np.zeros_like(vectors)
    centroids = np.zeros_like(vectors)
    by_word: dict[str, list[int]] = {}  # the groups whose first phrasing holds a word: the only ones it can overlap
    for phrasing, vector in zip(found, vectors, strict=True):
        phrasing.vector = vector
        words = frozenset(terms(phrasing.key))
        scores = centroids[: len(groups)] @ vector
        for index in {i for word in words for i in by_word.get(word, ())}:
            if _overlap(words, groups[index].words) >= same_words:
                scores[index] = 1.0
        best = int(np.argmax(scores)) if len(groups) else -1
        if best >= 0 and scores[best] >= similarity:
            groups[best].phrasings.append(phrasing)
        else:
            best = len(groups)
            groups.append(Group([phrasing], centroids[best], words))  # a view: follows the row as it moves
            for word in words:
                by_word.setdefault(word, []).append(best)
        sums[best] += vector * len(phrasing.asked)
        norm = float(np.linalg.norm(sums[best]))
        centroids[best] = sums[best] / norm if norm > 1e-12 else sums[best]
    return sorted(groups, key=lambda g: (g.count, g.last_asked_at), reverse=True)
