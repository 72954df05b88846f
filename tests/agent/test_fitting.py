"""The recipe that makes the default confidence model: its synthetic catalogues and a whole (small) fit."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from frontdesk.agent import fitting
from frontdesk.retrieval.confidence import TARGET_WRONG_ANSWER_RATE
from frontdesk.retrieval.embedders import load_embedder
from frontdesk.retrieval.index import FEATURE_NAMES

TOPICS = {
    "returns": ["what is your return policy", "can i return an item", "how do i send something back", "refund rules"],
    "shipping": ["how long does shipping take", "when will my order arrive", "delivery time", "shipping speed"],
    "abroad": ["do you ship internationally", "can you deliver abroad", "shipping to other countries", "ship to uk"],
    "password": ["how do i reset my password", "forgot my password", "can't sign in", "change my password"],
    "gift": ["do you sell gift cards", "gift card", "can i buy a voucher", "gift certificates"],
    "track": ["where is my order", "track my package", "order status", "tracking number"],
}
ASKED = {
    "returns": ["i want to return my shoes", "how do returns work"],
    "shipping": ["how many days until my order comes", "how fast is delivery"],
    "abroad": ["do you deliver to canada", "international shipping"],
    "password": ["i can't remember my password", "reset password"],
    "gift": ["do you have gift cards", "voucher for a friend"],
    "track": ["where's my package", "has my order shipped"],
}
UNANSWERABLE = ["are you hiring", "do you sell bikes", "what's the weather", "can i bring my dog", "who won the game"]


def test_catalogues_are_repeatable_and_ask_both_kinds_of_question() -> None:
    first, again, other = fitting.catalogue(1), fitting.catalogue(1), fitting.catalogue(2)
    assert first == again and first != other
    products, questions = first
    refs = {ref for ref, _ in products}
    assert len(refs) == len(products) >= 10
    assert all(q.expected in refs for q in questions if q.expected is not None)
    answerable = sum(q.expected is not None for q in questions)
    assert answerable >= 20 and len(questions) - answerable >= 10
    named = [q for q in questions if q.expected is not None and q.expected.split()[0].lower() in q.text]
    assert named, "shoppers name the products they ask about"


def write_set(root: Path, name: str) -> None:
    folder = root / name
    folder.mkdir(parents=True)
    entries = [{"id": k, "title": k.title(), "questions": v, "answer": ""} for k, v in TOPICS.items()]
    (folder / "knowledge.jsonl").write_text("\n".join(json.dumps(e) for e in entries), encoding="utf-8")
    asked = [{"text": t, "expected": k} for k, texts in ASKED.items() for t in texts]
    asked += [{"text": t, "expected": None} for t in UNANSWERABLE]
    (folder / "calibration.jsonl").write_text("\n".join(json.dumps(q) for q in asked), encoding="utf-8")


def test_the_recipe_fits_trees_that_trust_right_answers_more_than_unanswerable_questions(tmp_path: Path) -> None:
    # the recipe's mechanics do not depend on the embedder: the fastest one, each text embedded once
    embedder = fitting.CachedEmbedder(load_embedder("wordllama"))
    for name in (*fitting.DATASETS, *fitting.AS_PUBLISHED):
        write_set(tmp_path, name)
    seen: list[str] = []
    calibration = fitting.fit_default(embedder, tmp_path, progress=seen.append)
    assert calibration.feature_names == FEATURE_NAMES
    assert calibration.embedder == "wordllama"
    assert "clinc150: small store" in seen and "catalogue 1" in seen and "store-petfood: as published" in seen
    left_out: list[str] = []
    list(fitting.pool(embedder, tmp_path, left_out.append, without="store-petfood"))
    assert "store-petfood: as published" not in left_out and "store-skincare: as published" in left_out
    parts = fitting.tagged_pool(embedder, tmp_path)
    assert {tag for tag, _ in parts} == {*fitting.DATASETS, *fitting.AS_PUBLISHED, "catalogue"}
    rows = [r for _, r in parts]
    assert all(len(r.features) == len(r.right) == len(r.question) for r in rows)
    picked = [r.picks(np.asarray(calibration.probability(r.features))) for r in rows]
    p = np.concatenate([confidence for confidence, _ in picked])
    right = np.concatenate([is_right for _, is_right in picked])
    answerable = np.concatenate([r.answerable for r in rows])
    assert p[right].mean() > p[~answerable].mean() + 0.2
    # the threshold holds wrong answers to the store pages' unanswerable questions at the target
    stores = [r for tag, r in parts if tag.startswith("store-")]
    p = np.concatenate([r.picks(np.asarray(calibration.probability(r.features)))[0] for r in stores])
    answerable = np.concatenate([r.answerable for r in stores])
    answered = p >= calibration.threshold
    assert answered[~answerable].mean() <= TARGET_WRONG_ANSWER_RATE + 1e-9
