"""Text processing for retrieval: words and their Snowball stems, an entry's whole document, long texts cut into
passages."""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

import Stemmer

#: An entry's document is its texts and answer joined, cut to this many words (a long article is read by its start).
DOC_WORDS = 200
#: Texts longer than this many words are split into passages of PASSAGE_WORDS words.
LONG_TEXT_WORDS = 120
PASSAGE_WORDS = 60

_WORD = re.compile(r"[a-z0-9]+")
_STOPWORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "am",
        "i",
        "me",
        "my",
        "we",
        "our",
        "you",
        "your",
        "it",
        "its",
        "this",
        "that",
        "these",
        "those",
        "to",
        "of",
        "in",
        "on",
        "at",
        "for",
        "from",
        "by",
        "with",
        "and",
        "or",
        "but",
        "do",
        "does",
        "did",
        "can",
        "could",
        "would",
        "should",
        "will",
        "shall",
        "how",
        "what",
        "when",
        "where",
        "why",
        "who",
        "which",
        "there",
        "here",
        "please",
        "just",
        "so",
        "if",
        "as",
        "not",
        "no",
        "any",
        "some",
        "have",
        "has",
        "had",
        "get",
        "got",
    ]
)


_STEMMER = Stemmer.Stemmer("english")


@functools.lru_cache(maxsize=131072)
def _stem(word: str) -> str:
    """The Snowball (Porter 2) English stem: "shipping" -> "ship", "string" stays "string"."""
    return str(_STEMMER.stemWord(word))


def terms(text: str, keep_stopwords: bool = False) -> list[str]:
    """Content words of a text: lower-cased, stop words dropped (unless kept), Snowball-stemmed."""
    return [_stem(w) for w in _WORD.findall(text.lower()) if keep_stopwords or w not in _STOPWORDS]


def document(texts: Sequence[str], answer: str = "") -> str:
    """An entry's whole document, the one text its document vector is made from: its texts and its answer, joined
    and cut to DOC_WORDS words."""
    return " ".join(" ".join([*texts, answer]).split()[:DOC_WORDS])


def split_passages(texts: Sequence[str]) -> list[str]:
    """The non-empty texts; long ones cut per paragraph into ~PASSAGE_WORDS-word passages (short tails merged)."""
    out: list[str] = []
    for text in texts:
        words = text.split()
        if not words:
            continue
        if len(words) <= LONG_TEXT_WORDS:
            out.append(" ".join(words))
            continue
        for paragraph in re.split(r"\n\s*\n", text):
            para = paragraph.split()
            chunks = [para[i : i + PASSAGE_WORDS] for i in range(0, len(para), PASSAGE_WORDS)]
            if len(chunks) > 1 and len(chunks[-1]) < PASSAGE_WORDS // 3:
                chunks[-2].extend(chunks.pop())
            out.extend(" ".join(c) for c in chunks)
    return out
