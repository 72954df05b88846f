"""Scoring of answer-or-hand-off predictions, on hand-worked examples."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from frontdesk.agent.evaluation import (
    EvalFileError,
    Prediction,
    Query,
    auroc,
    read_queries,
    score,
    score_by_kind,
)


def test_scores_follow_the_readme_definitions() -> None:
    queries = [Query("a", "x"), Query("b", "y"), Query("c", "x"), Query("d", None), Query("e", None)]
    predictions = [
        Prediction("a", "x", 0.9),  # right
        Prediction("b", "x", 0.6),  # misroute
        Prediction("c", None, 0.3),  # answerable but handed off
        Prediction("d", "y", 0.7),  # wrong answer
        Prediction("e", None, 0.1),  # right hand-off
    ]
    scores = score(queries, predictions)
    assert scores.resolution == pytest.approx(1 / 3)
    assert scores.misroute == pytest.approx(1 / 3)
    assert scores.wrong_answer == pytest.approx(1 / 2)
    # One right answer (0.9) against unanswerable 0.7 and 0.1: ranked above both.
    assert scores.auroc == pytest.approx(1.0)
    # Cutting at 0.9 answers no unanswerable question and keeps the one right answer.
    assert scores.resolution_at_10_wrong == pytest.approx(1 / 3)


def test_auroc_counts_ties_as_half() -> None:
    import numpy as np

    assert auroc(np.array([0.5]), np.array([0.5])) == pytest.approx(0.5)
    assert auroc(np.array([0.2, 0.8]), np.array([0.5])) == pytest.approx(0.5)
    assert math.isnan(auroc(np.array([]), np.array([0.5])))


def test_malformed_queries_file_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text('{"text": "ok", "expected": null}\n{"text": "broken"\n', encoding="utf-8")
    with pytest.raises(EvalFileError, match=r"q\.jsonl:2"):
        read_queries(path)


def test_top1_and_resolution_at_recall_read_the_top_entry_even_when_handed_off() -> None:
    queries = [Query("a", "x"), Query("b", "y"), Query("c", None), Query("d", None)]
    predictions = [
        Prediction("a", None, 0.4, top="x"),  # handed off, but ranked right: counts for top-1 and any cut
        Prediction("b", None, 0.2, top="x"),  # ranked wrong
        Prediction("c", None, 0.3, top="y"),
        Prediction("d", None, 0.1, top="x"),
    ]
    scores = score(queries, predictions)
    assert scores.resolution == 0.0
    assert scores.handoff_recall == 1.0
    assert scores.top1 == pytest.approx(1 / 2)
    # a cut at 0.4 answers "a" rightly and no unanswerable question: recall 1.0 >= 0.85
    assert scores.resolution_at_85_recall == pytest.approx(1 / 2)


def test_breakdown_by_kind_says_how_each_kind_was_handled() -> None:
    queries = [Query("a", "x", "answer"), Query("b", "x", "answer"), Query("c", None, "human"), Query("d", None)]
    predictions = [
        Prediction("a", "x", 0.9),
        Prediction("b", "y", 0.8),
        Prediction("c", None, 0.0),
        Prediction("d", "x", 0.7),
    ]
    kinds = score_by_kind(queries, predictions)
    assert kinds == {
        "answer": {"questions": 2, "handed_off": 0.0, "answered_right": 0.5, "misrouted": 0.5},
        "human": {"questions": 1, "handed_off": 1.0},
    }


def test_kind_is_read_when_a_question_carries_it(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text('{"text": "a", "expected": null, "kind": "human"}\n{"text": "b", "expected": "x"}\n', "utf-8")
    assert read_queries(path) == [Query("a", None, "human"), Query("b", "x", None)]
