"""The store's answer threshold: the shipped default, sharpened by the store's own labelled questions.

A label is a shopper question whose right move became known after it was asked:
- a handed-off question the team added as a phrasing of an FAQ: "should have answered" (with that FAQ);
- a handed-off question the team made into a new entry: "not covered" (the knowledge had nothing for it);
- an AI answer the shopper rated helpful: answered right; rated "didn't help": should not have answered.

Each keeps the engine's confidence when the question was asked and whether its first entry was the right one, so
the threshold is chosen on what the engine really said (`agent.confidence.choose_threshold`), not on a rerun
against knowledge that has since learned the answer. Few labels say little, so the choice is pulled towards the
default by PRIOR_LABELS labels' worth of belief in it, and never moved more than MAX_SHIFT from it.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from frontdesk.db import utcnow
from frontdesk.knowledge.models import Label
from frontdesk.knowledge.service import Knowledge
from frontdesk.retrieval.confidence import TARGET_WRONG_ANSWER_RATE, choose_threshold
from frontdesk.transcripts.models import Message

#: Below this many labels, or this many of either kind, the default stands.
MIN_LABELS = 10
MIN_OF_EACH = 3
#: How many labels' worth of belief the default carries against the store's own.
PRIOR_LABELS = 20
#: The farthest labels may move the threshold from the default: shoppers' ratings are labels, and a shopper who
#: rates every answer 👍 from many chats must not be able to make the agent answer anything.
MAX_SHIFT = 0.15
#: The newest labels read (a store's questions drift; old ones say less of today's knowledge).
READ_LABELS = 5000
#: Shopper messages of the same text looked at when a gap's question is labelled, and how far back (the range is
#: on the indexed `created_at`, so creating an entry never scans every message the store ever had).
SAME_TEXT_MESSAGES = 50
LABEL_WINDOW = timedelta(days=90)
_END = re.compile(r"[\s?.!]+$")


@dataclass(frozen=True)
class StoreThreshold:
    """The threshold in force, where it comes from, and how it does on the store's labelled questions."""

    threshold: float
    default: float
    source: str  # "default", "labels" or "setting" (FRONTDESK_ANSWER_THRESHOLD)
    labelled: int
    should_answer: int
    not_covered: int
    resolution: float | None  # labelled answerable questions it answers with the right entry
    wrong_answers: float | None  # labelled questions it should not answer that it answers


def _same(text: str) -> str:
    return _END.sub("", " ".join(text.lower().split()))


def choose(
    default: float, confidence: np.ndarray, first_was_right: np.ndarray, covered: np.ndarray
) -> tuple[float, str]:
    """The store's threshold from labels: the cut with the best resolution at the target wrong-answer rate, pulled
    towards the default; the default while there are too few labels."""
    n, answerable = len(covered), int(covered.sum())
    if n < MIN_LABELS or answerable < MIN_OF_EACH or n - answerable < MIN_OF_EACH:
        return default, "default"
    own = choose_threshold(confidence, first_was_right, covered, TARGET_WRONG_ANSWER_RATE)
    pulled = (n * own + PRIOR_LABELS * default) / (n + PRIOR_LABELS)
    return float(np.clip(pulled, default - MAX_SHIFT, default + MAX_SHIFT)), "labels"


def measure(
    threshold: float, confidence: np.ndarray, first_was_right: np.ndarray, covered: np.ndarray
) -> tuple[float | None, float | None]:
    """Resolution and wrong-answer rate of a threshold on labelled questions (None where there are none)."""
    answered = confidence >= threshold
    resolution = float(np.mean(answered[covered] & first_was_right[covered])) if covered.any() else None
    wrong = float(np.mean(answered[~covered])) if (~covered).any() else None
    return resolution, wrong


async def _labels(session: AsyncSession) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows = (
        await session.execute(
            select(Label.confidence, Label.first_was_right, Label.covered)
            .order_by(Label.created_at.desc(), Label.id.desc())
            .limit(READ_LABELS)
        )
    ).all()
    return (
        np.array([r[0] for r in rows], dtype=np.float64),
        np.array([bool(r[1]) for r in rows], dtype=bool),
        np.array([bool(r[2]) for r in rows], dtype=bool),
    )


async def current(session: AsyncSession, knowledge: Knowledge, setting: float | None = None) -> StoreThreshold:
    """The threshold in force and its figures on the labelled questions."""
    confidence, right, covered = await _labels(session)
    default = knowledge.default_threshold
    if setting is not None:
        threshold, source = setting, "setting"
    else:
        threshold, source = choose(default, confidence, right, covered)
    resolution, wrong = measure(threshold, confidence, right, covered)
    return StoreThreshold(
        threshold=threshold,
        default=default,
        source=source,
        labelled=len(covered),
        should_answer=int(covered.sum()),
        not_covered=int((~covered).sum()),
        resolution=resolution,
        wrong_answers=wrong,
    )


async def refresh(session: AsyncSession, knowledge: Knowledge) -> float:
    """Re-choose the threshold from the labels and put it in force in the index; returns it."""
    confidence, right, covered = await _labels(session)
    threshold, _ = choose(knowledge.default_threshold, confidence, right, covered)
    knowledge.index.calibration = dataclasses.replace(knowledge.index.calibration, threshold=threshold)
    return threshold


async def label(
    session: AsyncSession, message: Message, source: str, covered: bool, entry_id: int | None, text: str | None = None
) -> bool:
    """Label one question by the message that holds the engine's word on it (the shopper's question, or the AI's
    answer to it), replacing its earlier label; False when no confidence was kept (an ask for a person, small talk),
    so it cannot be used."""
    meta = message.meta or {}
    confidence = meta.get("confidence")
    if not isinstance(confidence, int | float) or isinstance(confidence, bool):
        return False
    first = meta.get("entry") if meta.get("decision", "answer") == "answer" else meta.get("best")
    message_id = message.id or await session.scalar(  # a message just inserted holds no id (a Core INSERT)
        select(Message.id).where(Message.conversation_id == message.conversation_id, Message.seq == message.seq)
    )
    existing = await session.scalar(select(Label).where(Label.message_id == message_id))
    row = existing or Label(message_id=message_id)
    row.text = message.text if text is None else text
    row.source, row.covered, row.entry_id = source, covered, entry_id
    row.confidence = float(confidence)
    row.first_was_right = covered and entry_id is not None and first == entry_id
    if existing is None:
        session.add(row)
    await session.flush()
    return True


async def label_handed_off(
    session: AsyncSession, texts: Sequence[str], source: str, covered: bool, entry_id: int | None
) -> int:
    """Label the newest handed-off shopper question of each text (a knowledge gap's question, as the console sends
    it) with what the team did with it; returns how many were labelled."""
    done, since = 0, utcnow() - LABEL_WINDOW
    for same in {_same(t) for t in texts if _same(t)}:
        spelled = [same, *(same + end for end in ("?", ".", "!", " ?"))]
        candidates = await session.scalars(
            select(Message)
            .where(Message.created_at >= since, Message.author == "shopper")
            .where(func.lower(func.trim(Message.text)).in_(spelled))
            .order_by(Message.id.desc())
            .limit(SAME_TEXT_MESSAGES)
        )
        for message in candidates:
            if (message.meta or {}).get("decision") == "unknown":
                done += await label(session, message, source, covered, entry_id)
                break
    return done
