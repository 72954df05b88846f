"""Scoring of answer-or-hand-off predictions, on hand-worked examples."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from frontdesk.agent.evaluation import EvalFileError, Prediction, Query, auroc, read_queries, score


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
