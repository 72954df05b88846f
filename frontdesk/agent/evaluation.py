"""Scoring answer-or-hand-off predictions, as ../shared/data/eval/README.md defines the metrics."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np


class EvalFileError(ValueError):
    """A queries file that cannot be read, with file and line."""


#: Hand-off recall the issue-14 figure holds: the best resolution any cut reaches while handing off this share.
HANDOFF_RECALL = 0.85


@dataclass(frozen=True)
class Query:
    text: str
    expected: str | None
    kind: str | None = None  # the store sets' "answer", "unknown" or "human"


@dataclass(frozen=True)
class Prediction:
    text: str
    article: str | None  # the entry answered with, or None (handed off)
    confidence: float
    top: str | None = None  # the entry the engine ranked first, answered or not (top-1 is read from it)


@dataclass(frozen=True)
class Scores:
    answerable: int
    unanswerable: int
    resolution: float
    misroute: float
    wrong_answer: float
    auroc: float
    resolution_at_10_wrong: float
    handoff_recall: float = float("nan")  # unanswerable questions handed off / unanswerable questions
    top1: float = float("nan")  # answerable questions whose expected entry was ranked first, answered or not
    resolution_at_85_recall: float = float("nan")  # best resolution of any cut on the top entry, recall >= 0.85

    def as_dict(self) -> dict[str, float | int]:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


def read_queries(path: Path) -> list[Query]:
    queries: list[Query] = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                text, expected, kind = row["text"], row.get("expected"), row.get("kind")
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise EvalFileError(f'{path}:{number}: expected {{"text", "expected"}}: {exc}') from exc
            if not isinstance(text, str) or not (expected is None or isinstance(expected, str)):
                raise EvalFileError(f"{path}:{number}: text must be a string and expected a string or null")
            queries.append(Query(text, expected, kind if isinstance(kind, str) else None))
    return queries


def score(queries: Sequence[Query], predictions: Sequence[Prediction]) -> Scores:
    if len(queries) != len(predictions):
        raise ValueError("one prediction per query is needed")
    answerable = np.array([q.expected is not None for q in queries])
    answered = np.array([p.article is not None for p in predictions])
    pairs = zip(queries, predictions, strict=True)
    right = np.array([q.expected is not None and p.article == q.expected for q, p in pairs])
    confidence = np.array([p.confidence for p in predictions], dtype=float)
    n_ans = int(answerable.sum())
    n_un = len(queries) - n_ans
    wrong_entry = answerable & answered & ~right
    has_top = any(p.top is not None for p in predictions)
    top_right = np.array(
        [q.expected is not None and p.top == q.expected for q, p in zip(queries, predictions, strict=True)]
    )
    wrong_rate = float((answered & ~answerable).sum() / n_un) if n_un else 0.0
    return Scores(
        answerable=n_ans,
        unanswerable=n_un,
        resolution=float(right.sum() / n_ans) if n_ans else 0.0,
        misroute=float(wrong_entry.sum() / n_ans) if n_ans else 0.0,
        wrong_answer=wrong_rate,
        auroc=auroc(confidence[right], confidence[~answerable]),
        resolution_at_10_wrong=resolution_at_wrong(confidence, right, answerable, 0.10),
        handoff_recall=1.0 - wrong_rate if n_un else float("nan"),
        top1=float(top_right.sum() / n_ans) if n_ans and has_top else float("nan"),
        resolution_at_85_recall=(
            resolution_at_wrong(confidence, top_right, answerable, 1.0 - HANDOFF_RECALL) if has_top else float("nan")
        ),
    )


def score_by_kind(queries: Sequence[Query], predictions: Sequence[Prediction]) -> dict[str, dict[str, float | int]]:
    """Per `kind` of question (when the questions carry one): how many, and the share handled as the kind asks —
    answered with the expected entry (`answer`), handed off (`unknown`, `human`); plus misroutes for `answer`."""
    out: dict[str, dict[str, float | int]] = {}
    for kind in sorted({q.kind for q in queries if q.kind}):
        pairs = [(q, p) for q, p in zip(queries, predictions, strict=True) if q.kind == kind]
        answered_right = sum(q.expected is not None and p.article == q.expected for q, p in pairs)
        handed_off = sum(p.article is None for _, p in pairs)
        row: dict[str, float | int] = {"questions": len(pairs), "handed_off": round(handed_off / len(pairs), 4)}
        if any(q.expected is not None for q, _ in pairs):
            row["answered_right"] = round(answered_right / len(pairs), 4)
            row["misrouted"] = round(sum(p.article not in (None, q.expected) for q, p in pairs) / len(pairs), 4)
        out[kind] = row
    return out


def auroc(positives: np.ndarray, negatives: np.ndarray) -> float:
    """Probability that a right answer gets a higher confidence than an unanswerable question (ties count half)."""
    if len(positives) == 0 or len(negatives) == 0:
        return float("nan")
    values = np.concatenate([positives, negatives])
    order = values.argsort(kind="mergesort")
    ranks = np.empty(len(values))
    sorted_values = values[order]
    # Average ranks over ties.
    _, first, counts = np.unique(sorted_values, return_index=True, return_counts=True)
    average = first + (counts - 1) / 2.0 + 1
    ranks[order] = np.repeat(average, counts)
    positive_ranks = ranks[: len(positives)].sum()
    return float((positive_ranks - len(positives) * (len(positives) + 1) / 2) / (len(positives) * len(negatives)))


def resolution_at_wrong(confidence: np.ndarray, right: np.ndarray, answerable: np.ndarray, limit: float) -> float:
    """Best resolution reachable by any confidence cut that answers at most `limit` of the unanswerable."""
    n_ans = int(answerable.sum())
    negatives = np.sort(confidence[~answerable])
    if n_ans == 0:
        return 0.0
    best = 0.0
    for cut in np.unique(confidence):
        wrong = (len(negatives) - np.searchsorted(negatives, cut, side="left")) / max(len(negatives), 1)
        if wrong <= limit:
            best = max(best, float((confidence[right] >= cut).sum() / n_ans))
    return best
