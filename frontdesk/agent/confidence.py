"""Calibrated confidence: a small logistic regression over retrieval features, plus the answer/hand-off threshold.

The probability is P(the top candidate is the right entry). It is fit with Newton's method (IRLS) on labelled
questions; the threshold is chosen on the same data to keep wrong answers to unanswerable questions rare.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: Wrong-answer rate the threshold rule allows on the fitting data. The default calibration is fit on shape-varied
#: stores whose small-store unanswerable questions are easy, so 0.10 on the pool lands at ~0.12-0.13 wrong on a
#: plain FAQ store (0.12 let it drift above 0.15 on clinc150).
TARGET_WRONG_ANSWER_RATE = 0.10
#: L2 penalty on the (standardised) weights, per fitting row. Strong on purpose: the features are collinear
#: (score, dense_max,
#: soft_match...), and a weak penalty let them take large opposite weights that broke on other entry shapes.
RIDGE_PER_ROW = 2.5e-3
DEFAULT_CALIBRATION_FILE = Path(__file__).with_name("calibration_default.json")


@dataclass(frozen=True)
class Calibration:
    """Logistic coefficients over named features, and the probability cut below which the agent hands off."""

    weights: tuple[float, ...]
    bias: float
    threshold: float
    feature_names: tuple[str, ...]

    def probability(self, features: np.ndarray) -> np.ndarray | float:
        """sigmoid(w·x + b): a float for one feature vector, an array for a (n, d) matrix."""
        x = np.asarray(features, dtype=np.float64)
        if x.shape[-1] != len(self.weights):
            raise ValueError(f"expected {len(self.weights)} features ({', '.join(self.feature_names)}), got {x.shape}")
        z = np.clip(np.nan_to_num(x) @ np.asarray(self.weights) + self.bias, -40.0, 40.0)
        p = 1.0 / (1.0 + np.exp(-z))
        return float(p) if x.ndim == 1 else p

    def to_json(self) -> str:
        """The calibration as a JSON document (what `calibration_default.json` holds)."""
        return json.dumps(
            {
                "feature_names": list(self.feature_names),
                "weights": list(self.weights),
                "bias": self.bias,
                "threshold": self.threshold,
            },
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str) -> Calibration:
        """Parse a calibration written by `to_json`."""
        data = json.loads(text)
        return cls(
            weights=tuple(float(w) for w in data["weights"]),
            bias=float(data["bias"]),
            threshold=float(data["threshold"]),
            feature_names=tuple(str(n) for n in data["feature_names"]),
        )


def _logistic_newton(
    x: np.ndarray, y: np.ndarray, ridge_per_row: float = RIDGE_PER_ROW, iterations: int = 50
) -> np.ndarray:
    """Ridge-penalised logistic regression by Newton/IRLS on columns already standardised; last weight = bias."""
    ridge = ridge_per_row * len(x)
    design = np.column_stack([x, np.ones(len(x))])
    penalty = ridge * np.diag(np.r_[np.ones(x.shape[1]), 0.0])
    w = np.zeros(design.shape[1])
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(design @ w, -40.0, 40.0)))
        gradient = design.T @ (p - y) + penalty @ w
        hessian = (design * (p * (1.0 - p))[:, None]).T @ design + penalty
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.max(np.abs(step)) < 1e-8:
            break
    return w


def choose_threshold(
    probabilities: np.ndarray, labels: np.ndarray, answerable: np.ndarray, target: float = TARGET_WRONG_ANSWER_RATE
) -> float:
    """The probability cut with the best resolution among cuts answering at most `target` of unanswerable questions.

    Ties go to the highest such cut. Without unanswerable questions the cut that maximises right - wrong answers
    (misroutes included) is used, so a threshold still exists.
    """
    p = np.asarray(probabilities, dtype=np.float64)
    right = np.asarray(labels, dtype=bool) & np.asarray(answerable, dtype=bool)
    unanswerable = ~np.asarray(answerable, dtype=bool)
    order = np.argsort(-p, kind="stable")
    cut_values = p[order]
    # a cut at cut_values[i] answers every question with p >= cut_values[i]; only distinct values are real cuts
    last_of_value = np.r_[cut_values[1:] != cut_values[:-1], True]
    right_answered = np.cumsum(right[order])
    if unanswerable.any():
        wrong_rate = np.cumsum(unanswerable[order]) / unanswerable.sum()
        ok = last_of_value & (wrong_rate <= target)
        if not ok.any():
            return float(min(1.0, cut_values[0] + 1e-6))
        gain = np.where(ok, right_answered, -1)
    else:
        gain = np.where(last_of_value, 2 * right_answered - np.arange(1, len(p) + 1), -(10**9))
    best = int(np.argmax(gain))  # first maximum = highest cut reaching it
    return float(cut_values[best])


def fit_calibration(features: np.ndarray, labels: np.ndarray, answerable: np.ndarray) -> Calibration:
    """Fit P(top candidate right) on labelled questions and pick the threshold with `choose_threshold`.

    features: (n, d) retrieval feature vectors; labels: 1 when the expected entry is not null and was ranked first;
    answerable: whether the question had an expected entry. Feature names are the index's current ones.
    """
    from frontdesk.agent.index import FEATURE_NAMES

    x = np.nan_to_num(np.asarray(features, dtype=np.float64))
    y = np.asarray(labels, dtype=np.float64)
    if x.ndim != 2 or len(x) != len(y) or len(y) != len(answerable):
        raise ValueError("features must be (n, d) with one label and one answerable flag per row")
    names = FEATURE_NAMES if x.shape[1] == len(FEATURE_NAMES) else tuple(f"f{i}" for i in range(x.shape[1]))
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    w = _logistic_newton((x - mean) / scale, y)
    weights = w[:-1] / scale
    bias = float(w[-1] - np.sum(weights * mean))
    provisional = Calibration(tuple(float(v) for v in weights), bias, 0.5, names)
    threshold = choose_threshold(np.asarray(provisional.probability(x)), labels, answerable)
    return Calibration(provisional.weights, bias, threshold, names)


def load_calibration(path: Path) -> Calibration:
    """Read a calibration JSON file."""
    return Calibration.from_json(path.read_text(encoding="utf-8"))


DEFAULT_CALIBRATION: Calibration = load_calibration(DEFAULT_CALIBRATION_FILE)
