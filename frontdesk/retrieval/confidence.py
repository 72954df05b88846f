"""Calibrated confidence: gradient-boosted trees over retrieval features, plus the answer/hand-off threshold.

The probability is P(the top candidate is the right entry). The trees are fit once, by the reproducible recipe in
`fitting.py` (scikit-learn, only needed to fit), and shipped as arrays, one file per embedder it was fit on
(`calibration_<embedder>.json`); answering needs numpy alone. A store's own labelled questions re-choose the
threshold (`refit_threshold`).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from frontdesk.retrieval.embedders import DEFAULT_EMBEDDER

#: Wrong-answer rate the threshold rule allows on the fitting data.
TARGET_WRONG_ANSWER_RATE = 0.10
#: The embedders a fitted model ships for; another embedder needs a model fit by the recipe.
SHIPPED_EMBEDDERS = ("minilm", "wordllama")


def shipped_model_file(embedder: str) -> Path:
    """Where the model shipped for an embedder lives (whether or not one ships for it)."""
    return Path(__file__).with_name(f"calibration_{embedder}.json")


DEFAULT_CALIBRATION_FILE = shipped_model_file(DEFAULT_EMBEDDER)


@dataclass(frozen=True, eq=False)
class Trees:
    """A sum of regression trees giving the log-odds; arrays are (trees, nodes), padded with leaves of value 0.

    A sample goes left at a node when its feature value is <= the node's threshold.
    """

    feature: np.ndarray
    threshold: np.ndarray
    left: np.ndarray
    right: np.ndarray
    value: np.ndarray
    leaf: np.ndarray
    baseline: float
    depth: int

    def log_odds(self, features: np.ndarray) -> np.ndarray:
        """Raw score of each row of an (n, d) matrix, walking all trees at once through the flattened arrays; only
        the (row, tree) pairs not yet at a leaf take the next step."""
        x = np.atleast_2d(np.nan_to_num(np.asarray(features, dtype=np.float64)))
        roots, left, right = self._children
        feature, threshold, leaf, value = self._flat
        node = np.tile(roots, len(x))  # row-major: (row, tree)
        offset = np.repeat(np.arange(len(x)) * x.shape[1], len(roots))
        flat = x.ravel()
        active = np.flatnonzero(~leaf[node])
        while active.size:
            at = node[active]
            goes_left = flat[offset[active] + feature[at]] <= threshold[at]
            step = np.where(goes_left, left[at], right[at])
            node[active] = step
            active = active[~leaf[step]]
        return self.baseline + value[node].reshape(len(x), len(roots)).sum(axis=1)

    @functools.cached_property
    def _flat(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        return self.feature.ravel(), self.threshold.ravel(), self.leaf.ravel(), self.value.ravel()

    @functools.cached_property
    def _children(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each tree's root and each node's children as indices into the flattened (trees * nodes) arrays."""
        trees, width = self.feature.shape
        offsets = (np.arange(trees) * width)[:, None]
        return offsets.ravel(), (self.left + offsets).ravel(), (self.right + offsets).ravel()

    def probability(self, features: np.ndarray) -> np.ndarray:
        """sigmoid(log-odds) of each row."""
        return 1.0 / (1.0 + np.exp(-np.clip(self.log_odds(features), -40.0, 40.0)))

    @classmethod
    def from_sklearn(cls, model: Any) -> Trees:
        """Export a fitted binary `HistGradientBoostingClassifier` (numeric features, no missing values)."""
        nodes = [predictors[0].nodes for predictors in model._predictors]
        width = max(len(n) for n in nodes)
        shape = (len(nodes), width)
        out = {
            "feature": np.zeros(shape, dtype=np.int64),
            "threshold": np.zeros(shape),
            "left": np.zeros(shape, dtype=np.int64),
            "right": np.zeros(shape, dtype=np.int64),
            "value": np.zeros(shape),
            "leaf": np.ones(shape, dtype=bool),
        }
        for t, n in enumerate(nodes):
            size = len(n)
            out["feature"][t, :size] = n["feature_idx"]
            out["threshold"][t, :size] = n["num_threshold"]
            out["left"][t, :size] = n["left"]
            out["right"][t, :size] = n["right"]
            out["value"][t, :size] = np.where(n["is_leaf"].astype(bool), n["value"], 0.0)
            out["leaf"][t, :size] = n["is_leaf"].astype(bool)
        depth = int(max(int(n["depth"].max()) for n in nodes))
        return cls(**out, baseline=float(np.ravel(model._baseline_prediction)[0]), depth=depth)

    def as_dict(self) -> dict[str, Any]:
        return {
            "baseline": self.baseline,
            "depth": self.depth,
            "feature": self.feature.tolist(),
            "threshold": self.threshold.tolist(),  # exact: a rounded cut moves rows that sit on it
            "left": self.left.tolist(),
            "right": self.right.tolist(),
            "value": [[float(f"{v:.7g}") for v in row] for row in self.value],
            "leaf": self.leaf.astype(int).tolist(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Trees:
        return cls(
            feature=np.asarray(data["feature"], dtype=np.int64),
            threshold=np.asarray(data["threshold"], dtype=np.float64),
            left=np.asarray(data["left"], dtype=np.int64),
            right=np.asarray(data["right"], dtype=np.int64),
            value=np.asarray(data["value"], dtype=np.float64),
            leaf=np.asarray(data["leaf"], dtype=bool),
            baseline=float(data["baseline"]),
            depth=int(data["depth"]),
        )


@dataclass(frozen=True)
class Calibration:
    """The confidence model over named features, and the probability cut below which the agent hands off."""

    trees: Trees
    threshold: float
    feature_names: tuple[str, ...]
    #: The embedder whose features the trees were fit on: another one's cosines mean something else.
    embedder: str = "wordllama"

    def probability(self, features: np.ndarray) -> np.ndarray | float:
        """P(top candidate right): a float for one feature vector, an array for a (n, d) matrix."""
        x = np.asarray(features, dtype=np.float64)
        if x.shape[-1] != len(self.feature_names):
            raise ValueError(
                f"expected {len(self.feature_names)} features ({', '.join(self.feature_names)}), got {x.shape}"
            )
        p = self.trees.probability(x.reshape(-1, x.shape[-1]))
        return float(p[0]) if x.ndim == 1 else p

    def to_json(self) -> str:
        """The calibration as a JSON document (what the shipped `calibration_<embedder>.json` files hold)."""
        document = {
            "feature_names": list(self.feature_names),
            "embedder": self.embedder,
            "threshold": self.threshold,
            "trees": self.trees.as_dict(),
        }
        return json.dumps(document, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Calibration:
        """Parse a calibration written by `to_json`."""
        data = json.loads(text)
        return cls(
            trees=Trees.from_dict(data["trees"]),
            threshold=float(data["threshold"]),
            feature_names=tuple(str(n) for n in data["feature_names"]),
            embedder=str(data.get("embedder", "wordllama")),
        )


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


def refit_threshold(
    calibration: Calibration, features: np.ndarray, right: np.ndarray, answerable: np.ndarray
) -> Calibration:
    """The same model with the threshold chosen on a store's own labelled questions (`choose_threshold`).

    features: (n, d) retrieval feature vectors; right: the expected entry is not null and was ranked first;
    answerable: whether the question had an expected entry.
    """
    x = np.nan_to_num(np.asarray(features, dtype=np.float64))
    if x.ndim != 2 or len(x) != len(right) or len(right) != len(answerable):
        raise ValueError("features must be (n, d) with one label and one answerable flag per row")
    threshold = choose_threshold(np.asarray(calibration.probability(x)), right, answerable)
    return Calibration(calibration.trees, threshold, calibration.feature_names, calibration.embedder)


def load_calibration(path: Path) -> Calibration:
    """Read a calibration JSON file."""
    return Calibration.from_json(path.read_text(encoding="utf-8"))


DEFAULT_CALIBRATION: Calibration = load_calibration(DEFAULT_CALIBRATION_FILE)


class CalibrationError(ValueError):
    """A confidence model cannot be used: unreadable, or fit on another embedder's features."""


@functools.cache
def _shipped(embedder: str) -> Calibration:
    return DEFAULT_CALIBRATION if embedder == DEFAULT_EMBEDDER else load_calibration(shipped_model_file(embedder))


def calibration_for(embedder: str, path: Path | None = None) -> Calibration:
    """The confidence model for an embedder: the one shipped for it, or a file fit for it by the recipe
    (FRONTDESK_CONFIDENCE_MODEL). One fit on another embedder's features is refused: its cosines mean other things."""
    wanted = embedder.strip()
    if path is None and wanted not in SHIPPED_EMBEDDERS:
        raise CalibrationError(
            f"no confidence model ships for {wanted} (only for {', '.join(SHIPPED_EMBEDDERS)}). Fit one for it: "
            f"python -m frontdesk.agent.fitting --embedder {wanted} --out model.json, "
            "then set FRONTDESK_CONFIDENCE_MODEL=model.json"
        )
    where = f"the confidence model shipped for {wanted}" if path is None else f"the confidence model {path}"
    try:
        calibration = _shipped(wanted) if path is None else load_calibration(path)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CalibrationError(f"{where} cannot be read: {exc}") from exc
    if calibration.embedder != wanted:
        raise CalibrationError(
            f"{where} was fit on {calibration.embedder}'s features, not {wanted}'s. Fit one for it: "
            f"python -m frontdesk.agent.fitting --embedder {wanted} --out model.json, "
            "then set FRONTDESK_CONFIDENCE_MODEL=model.json"
        )
    return calibration
