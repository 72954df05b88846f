"""In-memory retrieval index over the store's knowledge, with a calibrated confidence for the best candidate.

Scoring (per entry, over its texts and passages):
  dense   = 0.75 * best cosine + 0.25 * second-best cosine (best alone for a one-text entry)
  rank    = dense + 0.1 * lexical coverage + 0.5 * soft token match + 0.2 * title coverage
            + 0.6 * cosine to the entry's centroid + 0.1 * core-word cover (+ product-name terms, - a size penalty)
            + 2.0 * how much nearer the entry's whole document (texts and answer in one) is than its best text
Candidates are the entries of the nearest texts and of the nearest documents (an FAQ's answer holds the facts a
store page's single phrasing lacks: "how long does shipping to canada take?").
The confidence is gradient-boosted trees (see `confidence.py`) over FEATURE_NAMES, computed for the top entry.
Every structure is updated per entry (upsert/remove touch only that entry's rows, document frequencies and the
running moments of the vectors), so edits never rebuild the index.
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from frontdesk.retrieval.confidence import DEFAULT_CALIBRATION, Calibration, CalibrationError
from frontdesk.retrieval.embedders import Embedder, load_wordllama
from frontdesk.retrieval.text import document, split_passages, terms

BASE_FEATURES: tuple[str, ...] = (
    "score",  # rank score of the top entry
    "margin",  # rank score of the top entry minus the runner-up's
    "knn_share",  # share of the 10 nearest texts that belong to the top entry
    "unseen_terms",  # idf-weighted share of the query's words that no text in the knowledge contains
    "lexical_coverage",  # idf-weighted share of the query's words found in the top entry
    "soft_match",  # idf-weighted mean over query tokens of the best static-token cosine within the top entry
    "score_z",  # top entry's best cosine, standardised against this query's cosines to every text
    "query_length",  # log(1 + content words in the query)
    "dense_margin",  # best cosine of the top entry minus the best cosine of any other entry
    "soft_margin",  # soft_match of the top entry minus the best other candidate's
    "lexical_margin",  # lexical_coverage of the top entry minus the best other candidate's
    "dense_max",  # best cosine of the top entry
    "entry_coherence",  # mean similarity of each of the entry's texts to its nearest sibling text
    "title_lexical",  # idf-weighted share of the query's words found in the top entry's title (first text)
    "title_margin",  # title_lexical of the top entry minus the best other candidate's
    "rare_match",  # idf of the rarest query word the top entry holds / idf of the rarest query word
    "title_cos",  # cosine of the query to the top entry's title
    "dense_rank",  # log(1 + number of candidates whose best cosine beats the top entry's)
    "texts",  # log(number of texts of the top entry): a one-text product and a five-phrasing FAQ differ in kind
    "core_cover",  # weighted share of the top entry's core words (in >= CORE_SHARE of its texts) the query holds
    "core_margin",  # core_cover of the top entry minus the runner-up's
    "extra_words",  # idf-weighted share of the query's words (question words too) in none of the top entry's texts
    "text_recall",  # best over the top entry's texts of the idf-weighted share of its tokens the query matches
    "named",  # how plainly the query names the top entry's title (title precision and rarest word in the title)
    "centroid_cos",  # cosine of the query to the centroid of the top entry's texts
    "centroid_margin",  # centroid_cos of the top entry minus the best other candidate's
    "second_cos",  # second-best cosine among the top entry's texts (its best for a one-text entry)
    "knn_entries",  # log(number of distinct entries among the KNN_TEXTS nearest texts)
    "doc_cos",  # cosine of the query to the top entry's whole document (title, phrasings and answer in one text)
    "doc_margin",  # doc_cos of the top entry minus the best other candidate's
    "doc_rank",  # log(1 + number of entries whose document is nearer to the query than the top entry's)
)
FEATURE_NAMES: tuple[str, ...] = BASE_FEATURES
#: Entries with fewer texts than this (a product: title + description) get the product-name rank bonuses.
MULTI_TEXTS = 3
#: A word is one of an entry's core words when at least this share of its texts hold it. Question words count
#: ("when" in every phrasing of "when should I change my oil" is what sets it apart from "how do I change my oil").
CORE_SHARE = 0.4
CENTROID_WEIGHT = 0.6
#: Rank bonus for the share of an entry's core words the query holds.
CORE_WEIGHT = 0.1
#: Rank weight of how much nearer an entry's whole document is to the question than its best text: a store page has
#: one phrasing per entry, and the facts that tell its entries apart are in the answers.
DOC_WEIGHT = 2.0
#: Entries nearest by document that join the candidates, whatever their texts' cosines.
DOC_CANDIDATES = 10

SECOND_TEXT_WEIGHT = 0.25
LEXICAL_WEIGHT = 0.1
SOFT_WEIGHT = 0.5
TITLE_WEIGHT = 0.2
#: Rank bonus (entries with fewer than MULTI_TEXTS texts only) for title precision (squared-idf-weighted share of
#: the title's words the query names) times title_lexical: a query naming "basin tent" prefers "Basin Backpacking
#: Tent" over "Basin Tent Footprint" (a rare word the query does not name).
TITLE_PRECISION_WEIGHT = 0.5
#: A query word no indexed text holds is read as the candidates' word sharing the most character trigrams with it
#: ("arives", "pasword", "shiping"), when their Dice overlap reaches TYPO_DICE and both have TYPO_MIN_CHARS letters.
TYPO_DICE = 0.6
#: Rank bonus (likewise) when the rarest query word a candidate holds is in its title (idf over the rarest query
#: word's): the query names the product ("how warm is the ember bag" -> "Ember 20°F Down Sleeping Bag").
TITLE_RARE_WEIGHT = 0.15
TYPO_MIN_CHARS = 4
#: Rank penalty per log(texts) of an entry (capped at SIZE_CAP texts): the best of many phrasings is high by chance.
SIZE_PENALTY = 0.1
SIZE_CAP = 8
#: Entries rescored per query (taken in order of their best cosine).
CANDIDATE_ENTRIES = 20
#: Every candidate is read as the answer by the confidence model, which picks the likeliest to be right: one learned
#: model over all candidates (the rank formula is one of its features).
RERANK = CANDIDATE_ENTRIES + DOC_CANDIDATES
#: Texts nearest to the query that vote in `knn_share`.
KNN_TEXTS = 10
#: Up to this many indexed texts every cosine is exact; above it a quarter-dimension prefilter keeps PREFILTER_ROWS.
EXACT_ROWS = 8192
PREFILTER_ROWS = 512
#: Coherence of an entry with a single text (no sibling to compare with): the mean seen on multi-phrasing FAQs.
SINGLE_TEXT_COHERENCE = 0.62
#: At most this many of an entry's texts are compared with each other for `entry_coherence`.
COHERENCE_TEXTS = 16
#: Texts embedded per call while importing.
EMBED_BATCH = 512


def _idf(df: int, n: int) -> float:
    """BM25-style inverse document frequency over indexed texts."""
    return math.log(1.0 + (n - df + 0.5) / (df + 0.5))


@dataclass(frozen=True)
class Candidate:
    """One knowledge entry and its rank score for the query."""

    entry_id: int
    score: float


@dataclass(frozen=True)
class Retrieval:
    """The best entries for a query and the calibrated probability that the first one is right."""

    candidates: list[Candidate]
    confidence: float
    features: np.ndarray = field(default_factory=lambda: np.zeros(len(FEATURE_NAMES)))
    read: tuple[int, ...] = ()  # the entries read as the answer, in rank-score order
    read_features: np.ndarray = field(default_factory=lambda: np.zeros((0, len(FEATURE_NAMES))))


@dataclass
class _Entry:
    """One entry's rows, its words (with how many of its texts hold each) and its distinct tokens (likewise)."""

    rows: np.ndarray
    terms: dict[str, int]
    tokens: np.ndarray
    token_counts: np.ndarray
    coherence: float
    title_terms: frozenset[str]
    core: tuple[tuple[str, float], ...]  # (word, share of the entry's texts holding it)
    words: tuple[str, ...]  # every word of its texts, question words included (a tuple: ~1/7 of a set's memory)
    spread: float  # length of the sum of its text vectors: cosine to the centroid = sum of cosines / spread
    text_tokens: np.ndarray  # distinct token ids of its first COHERENCE_TEXTS texts, one after the other
    text_ends: tuple[int, ...]  # where each of those texts ends in text_tokens
    doc_slot: int  # its row in the document matrix


class _TokenTable:
    """WordLlama's static token vectors (unit length) and tokenizer, shared by every index for soft matching."""

    def __init__(self) -> None:
        # a model of its own, normalised in place and dropped: with another embedder nothing else holds wordllama
        model = load_wordllama()
        self._tokenizer = model.tokenizer
        table = np.asarray(model.embedding, dtype=np.float32)
        norms = np.linalg.norm(table, axis=1, keepdims=True)
        self.vectors = np.divide(table, norms, out=table, where=norms > 1e-12)
        self.vectors[(norms <= 1e-12).ravel()] = 0.0

    def ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of each text (padding dropped), as WordLlama tokenizes them."""
        if not texts:
            return []
        encoded = self._tokenizer.encode_batch(list(texts), is_pretokenized=False, add_special_tokens=False)
        return [[i for i, m in zip(e.ids, e.attention_mask, strict=True) if m] for e in encoded]


@functools.cache
def _token_table() -> _TokenTable:
    """The shared token table, loaded on first use (the model cache)."""
    return _TokenTable()


class KnowledgeIndex:
    """Dense + lexical retrieval over entries (each a list of texts), kept current by cheap per-entry edits."""

    def __init__(self, embedder: Embedder, calibration: Calibration = DEFAULT_CALIBRATION) -> None:
        if calibration.embedder != embedder.name:
            raise CalibrationError(
                f"the confidence model was fit on {calibration.embedder}'s features, not {embedder.name}'s"
            )
        self.embedder = embedder
        self.calibration = calibration
        self._tokens = _token_table()
        self._dim = int(embedder.dim)
        self._split = max(1, self._dim // 4)
        self._head = np.zeros((0, self._split), dtype=np.float32)
        self._tail = np.zeros((0, self._dim - self._split), dtype=np.float32)
        self._row_entry = np.zeros(0, dtype=np.int64)
        self._alive = np.zeros(0, dtype=bool)
        self._used = 0  # rows ever handed out (high-water mark)
        self._free: list[int] = []
        self._entries: dict[int, _Entry] = {}
        self._term_df: Counter[str] = Counter()
        self._core_df: Counter[str] = Counter()  # entries holding each word as a core word
        self._word_df: Counter[str] = Counter()  # entries holding each word, question words included
        self._token_df = np.zeros(self._tokens.vectors.shape[0], dtype=np.int32)
        self._sum = np.zeros(self._dim)
        self._sum_sq = np.zeros((self._dim, self._dim))
        self._rows_alive = 0
        self._docs = np.zeros((0, self._dim), dtype=np.float32)  # one whole-document vector per entry
        self._doc_entry = np.zeros(0, dtype=np.int64)  # entry id of each document row, -1 when free
        self._doc_free: list[int] = []
        self._doc_used = 0

    # ------------------------------------------------------------------ edits

    def __len__(self) -> int:
        """Number of entries with at least one indexed text."""
        return len(self._entries)

    def upsert(self, entry_id: int, texts: Sequence[str], answer: str = "") -> None:
        """Index an entry's texts (texts[0] is its question/title) and its answer, replacing what it had before. The
        texts are matched one by one; the answer only as part of the entry's whole document."""
        self.upsert_many([(entry_id, texts, answer)])

    def upsert_many(
        self, items: Sequence[tuple[int, Sequence[str], str]], known: Mapping[str, np.ndarray] | None = None
    ) -> None:
        """Upsert several entries with one batched embedding call (imports); a later duplicate id wins. `known` holds
        vectors already made for some of the texts (`texts_to_embed`): those are not embedded again."""
        latest = {int(entry_id): (split_passages(texts), document(texts, answer)) for entry_id, texts, answer in items}
        flat = [p for passages, _ in latest.values() for p in passages]
        documents = [doc for passages, doc in latest.values() if passages]
        known = known or {}
        made = self.embed([t for t in dict.fromkeys([*flat, *documents]) if t not in known])
        vectors = np.stack([known.get(t, made.get(t)) for t in flat]) if flat else np.zeros((0, self._dim), np.float32)
        doc_vectors = [known.get(d, made.get(d)) for d in documents]
        token_ids: list[list[int]] = []
        for start in range(0, len(flat), EMBED_BATCH):
            token_ids.extend(self._tokens.ids(flat[start : start + EMBED_BATCH]))
        start = doc = 0
        for entry_id, (passages, _) in latest.items():
            self.remove(entry_id)
            stop = start + len(passages)
            if passages:
                self._add(entry_id, passages, vectors[start:stop], token_ids[start:stop], doc_vectors[doc])
                doc += 1
            start = stop

    @staticmethod
    def texts_to_embed(items: Sequence[tuple[int, Sequence[str], str]]) -> list[str]:
        """Every text `upsert_many` needs a vector for: each entry's passages and its whole document, once each."""
        texts: dict[str, None] = {}
        for _, entry_texts, answer in items:
            passages = split_passages(entry_texts)
            if passages:
                texts.update(dict.fromkeys(passages))
                texts[document(entry_texts, answer)] = None
        return list(texts)

    def embed(self, texts: Sequence[str], progress: Callable[[int, int], None] | None = None) -> dict[str, np.ndarray]:
        """Passage vectors of texts, in bounded batches (they keep the tokenizer's memory small); `progress` is told
        (texts done, texts in all) after each batch."""
        made: dict[str, np.ndarray] = {}
        for start in range(0, len(texts), EMBED_BATCH):
            batch = list(texts[start : start + EMBED_BATCH])
            made.update(zip(batch, np.asarray(self.embedder.embed_passages(batch), dtype=np.float32), strict=True))
            if progress is not None:
                progress(len(made), len(texts))
        return made

    def remove(self, entry_id: int) -> None:
        """Drop an entry and its texts; unknown ids are ignored."""
        entry = self._entries.pop(int(entry_id), None)
        if entry is None:
            return
        rows = entry.rows
        block = self._vectors(rows).astype(np.float64)
        self._sum -= block.sum(axis=0)
        self._sum_sq -= block.T @ block
        self._rows_alive -= len(rows)
        self._head[rows] = 0.0
        self._tail[rows] = 0.0
        self._row_entry[rows] = -1
        self._alive[rows] = False
        self._free.extend(int(r) for r in rows)
        self._docs[entry.doc_slot] = 0.0
        self._doc_entry[entry.doc_slot] = -1
        self._doc_free.append(entry.doc_slot)
        self._term_df.subtract(entry.terms)
        for term, count in entry.terms.items():
            if self._term_df[term] <= 0 and count:
                del self._term_df[term]
        np.subtract.at(self._token_df, entry.tokens, entry.token_counts)
        core_words = [word for word, _ in entry.core]
        self._core_df.subtract(core_words)
        self._word_df.subtract(entry.words)
        for word in entry.words:
            if self._word_df[word] <= 0:
                del self._word_df[word]
        for word in core_words:
            if self._core_df[word] <= 0:
                del self._core_df[word]
        if self._rows_alive == 0:  # clear accumulated float drift
            self._sum[:] = 0.0
            self._sum_sq[:] = 0.0

    def _add(
        self, entry_id: int, passages: list[str], vectors: np.ndarray, token_ids: list[list[int]], doc: np.ndarray
    ) -> None:
        rows = self._take_rows(len(passages))
        slot = self._take_doc_slot()
        self._docs[slot] = doc
        self._doc_entry[slot] = entry_id
        block = np.asarray(vectors, dtype=np.float32)
        self._head[rows] = block[:, : self._split]
        self._tail[rows] = block[:, self._split :]
        self._row_entry[rows] = entry_id
        self._alive[rows] = True
        wide = block.astype(np.float64)
        self._sum += wide.sum(axis=0)
        self._sum_sq += wide.T @ wide
        self._rows_alive += len(rows)
        entry_terms: Counter[str] = Counter()
        for passage in passages:
            entry_terms.update(set(terms(passage)))
        self._term_df.update(entry_terms)
        shares: Counter[str] = Counter()
        for passage in passages:
            shares.update(set(terms(passage, keep_stopwords=True)))
        core = {w: c / len(passages) for w, c in shares.items() if c / len(passages) >= CORE_SHARE}
        self._core_df.update(core.keys())
        self._word_df.update(shares.keys())
        per_row = [np.unique(np.asarray(ids, dtype=np.int32)) for ids in token_ids]
        tokens, counts = np.unique(np.concatenate([*per_row, np.zeros(0, np.int32)]), return_counts=True)
        np.add.at(self._token_df, tokens, counts.astype(np.int32))
        self._entries[entry_id] = _Entry(
            rows=rows,
            terms=dict(entry_terms),
            tokens=tokens.astype(np.int32),
            token_counts=counts.astype(np.int32),
            coherence=_coherence(block[:COHERENCE_TEXTS]),
            title_terms=frozenset(terms(passages[0])),
            core=tuple(core.items()),
            words=tuple(shares),
            spread=max(float(np.linalg.norm(wide.sum(axis=0))), 1e-12),
            text_tokens=np.concatenate([*per_row[:COHERENCE_TEXTS], np.zeros(0, np.int32)]),
            text_ends=tuple(np.cumsum([len(t) for t in per_row[:COHERENCE_TEXTS]]).tolist()),
            doc_slot=slot,
        )

    def _take_doc_slot(self) -> int:
        if self._doc_free:
            return self._doc_free.pop()
        if self._doc_used >= len(self._doc_entry):
            extra = max(64, len(self._doc_entry))
            self._docs = np.vstack([self._docs, np.zeros((extra, self._dim), dtype=np.float32)])
            self._doc_entry = np.r_[self._doc_entry, np.full(extra, -1, dtype=np.int64)]
        self._doc_used += 1
        return self._doc_used - 1

    def _take_rows(self, count: int) -> np.ndarray:
        reused = [self._free.pop() for _ in range(min(count, len(self._free)))]
        fresh = count - len(reused)
        if self._used + fresh > len(self._row_entry):
            self._grow(self._used + fresh)
        rows = reused + list(range(self._used, self._used + fresh))
        self._used += fresh
        return np.asarray(rows, dtype=np.int64)

    def _grow(self, needed: int) -> None:
        capacity = max(needed, 2 * len(self._row_entry), 64)
        extra = capacity - len(self._row_entry)
        self._head = np.vstack([self._head, np.zeros((extra, self._head.shape[1]), dtype=np.float32)])
        self._tail = np.vstack([self._tail, np.zeros((extra, self._tail.shape[1]), dtype=np.float32)])
        self._row_entry = np.r_[self._row_entry, np.full(extra, -1, dtype=np.int64)]
        self._alive = np.r_[self._alive, np.zeros(extra, dtype=bool)]

    def _vectors(self, rows: np.ndarray) -> np.ndarray:
        return np.hstack([self._head[rows], self._tail[rows]])

    # ------------------------------------------------------------------ queries

    def retrieve(self, query: str, k: int = 5, without: int | None = None) -> Retrieval:
        """The k best entries for a question, and the calibrated probability that the first is right. `without`
        reads it as if that entry were not in the knowledge (the store's own entries held out, one at a time)."""
        held_out = self._entries.get(int(without)) if without is not None else None
        if len(self._entries) - (held_out is not None) <= 0 or k <= 0:
            return Retrieval([], 0.0, np.zeros(len(FEATURE_NAMES)))
        q = np.asarray(self.embedder.embed_queries([query]), dtype=np.float32).reshape(-1)
        q_head, q_tail = q[: self._split], q[self._split :]
        n = self._used
        alive = self._alive[:n]
        if held_out is not None:
            alive = alive.copy()
            alive[held_out.rows] = False
        if n <= EXACT_ROWS:
            scores = self._head[:n] @ q_head + self._tail[:n] @ q_tail
            scores[~alive] = -np.inf
            near = _top_indices(scores, max(PREFILTER_ROWS, KNN_TEXTS))
            near_scores = scores[near]
        else:
            rough = self._head[:n] @ q_head
            rough[~alive] = -np.inf
            near = _top_indices(rough, PREFILTER_ROWS)
            near_scores = self._head[near] @ q_head + self._tail[near] @ q_tail
            order = np.argsort(-near_scores, kind="stable")
            near, near_scores = near[order], near_scores[order]
        alive_near = np.isfinite(near_scores)
        near, near_scores = near[alive_near], near_scores[alive_near]
        near_entries = self._row_entry[near]

        wanted = max(CANDIDATE_ENTRIES, k)
        _, first_seen = np.unique(near_entries, return_index=True)
        candidate_ids = [int(e) for e in near_entries[np.sort(first_seen)[:wanted]]]
        doc_all = self._docs[: self._doc_used] @ q
        doc_all[self._doc_entry[: self._doc_used] < 0] = -np.inf
        if held_out is not None:
            doc_all[held_out.doc_slot] = -np.inf
        listed = set(candidate_ids)
        for slot in _top_indices(doc_all, min(DOC_CANDIDATES, len(doc_all))):
            entry_id = int(self._doc_entry[slot])
            if entry_id >= 0 and entry_id not in listed and np.isfinite(doc_all[slot]):
                candidate_ids.append(entry_id)
                listed.add(entry_id)
        doc = np.array([float(doc_all[self._entries[e].doc_slot]) for e in candidate_ids])
        doc_finite = doc_all[np.isfinite(doc_all)]
        best = np.empty(len(candidate_ids))
        dense = np.empty(len(candidate_ids))
        centroid = np.empty(len(candidate_ids))
        second = np.empty(len(candidate_ids))
        for i, entry_id in enumerate(candidate_ids):
            rows = self._entries[entry_id].rows
            cos = self._head[rows] @ q_head + self._tail[rows] @ q_tail
            centroid[i] = float(cos.sum()) / self._entries[entry_id].spread
            if len(cos) == 1:
                best[i] = dense[i] = second[i] = cos[0]
            else:
                top2 = np.partition(cos, len(cos) - 2)[-2:]
                best[i], second[i] = top2[1], top2[0]
                dense[i] = (1 - SECOND_TEXT_WEIGHT) * top2[1] + SECOND_TEXT_WEIGHT * top2[0]

        query_terms = self._correct(terms(query), candidate_ids)
        lexical, unseen, title_cover, rare = self._lexical(query_terms, candidate_ids)
        precision, title_rare = self._title_precision(query_terms, candidate_ids)
        query_ids = self._tokens.ids([query])[0]  # tokenized once: soft match and every reading's recall use it
        soft = self._soft(query_ids, candidate_ids)
        sizes = np.array([len(self._entries[e].rows) for e in candidate_ids], dtype=np.float64)
        rank = dense + LEXICAL_WEIGHT * lexical + SOFT_WEIGHT * soft + TITLE_WEIGHT * title_cover
        # product-name matching, for entries without alternate phrasings (a product: title + description)
        named = TITLE_PRECISION_WEIGHT * title_cover * precision + TITLE_RARE_WEIGHT * title_rare
        rank += np.where(sizes < MULTI_TEXTS, named, 0.0)
        rank -= SIZE_PENALTY * np.log(np.minimum(sizes, SIZE_CAP))
        asked = set(terms(query, keep_stopwords=True))
        core = np.array([self._core_cover(asked, e) for e in candidate_ids])
        rank += CORE_WEIGHT * core + CENTROID_WEIGHT * centroid + DOC_WEIGHT * np.maximum(doc - best, 0.0)
        order = np.argsort(-rank, kind="stable")
        entries = max(len(self._entries), 1)
        asked_weight = {w: math.log1p(entries / (self._word_df.get(w, 0) + 0.5)) for w in asked}
        asked_total = sum(asked_weight.values())
        mean, std = self._moments(q)
        knn = near_entries[:KNN_TEXTS]
        # A store with fewer than KNN_TEXTS texts is read as if padded with texts of other entries: that all of a
        # one-entry store's nearest texts are its entry's says nothing, and the model never saw a store that small
        # (it answered "do you gift wrap?" from a lone Canada FAQ at 0.93). No store of the fitting pool is affected.
        missing = KNN_TEXTS - len(knn)
        knn_entries = math.log(max(len(np.unique(knn)) + missing, 1))
        query_length = math.log1p(len(query_terms))

        # every candidate is read as the answer, one feature row each; the likeliest to be right goes first
        heads = np.asarray(order[:RERANK], dtype=np.int64)
        picked = [self._entries[candidate_ids[i]] for i in heads]
        title_rows = np.array([entry.rows[0] for entry in picked], dtype=np.int64)
        title_cos = self._head[title_rows] @ q_head + self._tail[title_rows] @ q_tail
        held = [set(entry.words) for entry in picked]
        extra = [sum(v for w, v in asked_weight.items() if w not in h) / asked_total if asked else 0.0 for h in held]
        reads = np.array([candidate_ids[i] for i in heads], dtype=np.int64)
        columns = [
            rank[heads],
            _over_rest(rank, heads),
            (knn[None, :] == reads[:, None]).sum(axis=1) / KNN_TEXTS,
            np.full(len(heads), unseen),
            lexical[heads],
            soft[heads],
            np.clip((best[heads] - mean) / std, -10.0, 30.0),
            np.full(len(heads), query_length),
            _over_rest(best, heads),
            _over_rest(soft, heads),
            _over_rest(lexical, heads),
            best[heads],
            np.array([entry.coherence for entry in picked]),
            title_cover[heads],
            _over_rest(title_cover, heads),
            rare[heads],
            title_cos,
            np.log1p((best[None, :] > best[heads][:, None]).sum(axis=1)),
            np.log([len(entry.rows) for entry in picked]),
            core[heads],
            _over_rest(core, heads),
            np.array(extra),
            self._text_recall(query_ids, picked),
            named[heads],
            centroid[heads],
            _over_rest(centroid, heads),
            second[heads],
            np.full(len(heads), knn_entries),
            doc[heads],
            _over_rest(doc, heads),
            np.log1p((doc_finite[None, :] > doc[heads][:, None]).sum(axis=1)),
        ]
        rows = np.nan_to_num(np.column_stack(columns).astype(np.float64))
        p = np.atleast_1d(np.asarray(self.calibration.probability(rows), dtype=np.float64))
        pick = int(np.argmax(p))
        first = int(heads[pick])
        ranked = [first, *(int(i) for i in order if int(i) != first)]
        candidates = [Candidate(candidate_ids[i], float(rank[i])) for i in ranked[:k]]
        read = tuple(int(e) for e in reads)
        return Retrieval(candidates, float(p[pick]), rows[pick], read, rows)

    def _lexical(
        self, query_terms: list[str], candidate_ids: Iterable[int]
    ) -> tuple[np.ndarray, float, np.ndarray, np.ndarray]:
        """Per candidate: idf-weighted share of query words it holds, the same for its title, and the idf of the
        rarest query word it holds over the rarest query word's; plus the share of query words unseen anywhere."""
        ids = list(candidate_ids)
        if not query_terms:
            zeros = np.zeros(len(ids))
            return zeros, 0.0, zeros, zeros
        n = max(self._rows_alive, 1)
        weights = {t: _idf(max(self._term_df.get(t, 0), 0), n) for t in query_terms}
        total = sum(weights[t] for t in query_terms)
        seen = [t for t in weights if self._term_df.get(t, 0) > 0]
        unseen = sum(weights[t] for t in query_terms if self._term_df.get(t, 0) <= 0) / total
        rarest = max((weights[t] for t in seen), default=1.0)
        cover = np.zeros(len(ids))
        title = np.zeros(len(ids))
        rare = np.zeros(len(ids))
        for i, e in enumerate(ids):
            entry = self._entries[e]
            held = [t for t in seen if t in entry.terms]
            cover[i] = sum(weights[t] for t in query_terms if t in entry.terms)
            title[i] = sum(weights[t] for t in query_terms if t in entry.title_terms)
            rare[i] = max((weights[t] for t in held), default=0.0) / rarest
        return cover / total, float(unseen), title / total, rare

    def word_share(self, entry_id: int, text: str) -> float | None:
        """Idf-weighted share of the text's content words that the entry's texts hold; None when the text has none
        (or the entry is unknown). A follow-up's own words must be the entry's too ("and to canada?")."""
        entry = self._entries.get(int(entry_id))
        words = set(terms(text))
        if entry is None or not words:
            return None
        n = max(self._rows_alive, 1)
        weights = {w: _idf(self._term_df.get(w, 0), n) for w in words}
        return sum(v for w, v in weights.items() if w in entry.terms) / max(sum(weights.values()), 1e-9)

    def _core_cover(self, asked: set[str], entry_id: int) -> float:
        """Share of an entry's core words the query holds, each weighted by its share of the entry's texts and by
        how few entries have it as a core word."""
        entries = max(len(self._entries), 1)
        total = held = 0.0
        for word, share in self._entries[entry_id].core:
            weight = share * math.log1p(entries / (self._core_df.get(word, 0) + 0.5))
            total += weight
            if word in asked:
                held += weight
        return held / total if total > 0 else 0.0

    def _text_recall(self, query_ids: list[int], entries: Sequence[_Entry]) -> np.ndarray:
        """Per entry, the best over its texts of the idf-weighted mean over the text's tokens of the best cosine to a
        query token: how much of what the entry's phrasing says the question says too."""
        out = np.zeros(len(entries))
        if not query_ids or not entries:
            return out
        tokens = np.concatenate([entry.text_tokens for entry in entries]).astype(np.int64)
        if not len(tokens):
            return out
        n = max(self._rows_alive, 1)
        table = self._tokens.vectors
        matched = (table[tokens] @ table[np.asarray(query_ids, dtype=np.int64)].T).max(axis=1)
        df = self._token_df[tokens].astype(np.float64)
        weights = np.log1p((n - df + 0.5) / (df + 0.5))
        start = 0
        for i, entry in enumerate(entries):
            ends = np.asarray(entry.text_ends, dtype=np.int64)
            starts = np.r_[0, ends[:-1]] if len(ends) else ends
            keep = ends > starts  # texts with tokens
            if keep.any():
                w, m = weights[start : start + len(entry.text_tokens)], matched[start : start + len(entry.text_tokens)]
                sums = np.add.reduceat(w * m, starts[keep])
                totals = np.add.reduceat(w, starts[keep])
                out[i] = max(0.0, float((sums / np.maximum(totals, 1e-9)).max()))
            start += len(entry.text_tokens)
        return out

    def _correct(self, query_terms: list[str], candidate_ids: list[int]) -> list[str]:
        """Query words unseen in the knowledge replaced by the closest word (character trigrams) of a candidate."""
        if all(self._term_df.get(t, 0) > 0 or len(t) < TYPO_MIN_CHARS for t in query_terms):
            return query_terms
        vocabulary = {t for e in candidate_ids for t in self._entries[e].terms if len(t) >= TYPO_MIN_CHARS}
        grams = {t: _trigrams(t) for t in vocabulary}
        out = []
        for term in query_terms:
            if self._term_df.get(term, 0) > 0 or len(term) < TYPO_MIN_CHARS:
                out.append(term)
                continue
            mine = _trigrams(term)
            best, best_dice = term, TYPO_DICE
            for word, theirs in grams.items():
                if word[0] != term[0] or word[-1] != term[-1]:  # "close" is not a typo of "closet"
                    continue
                dice = 2.0 * len(mine & theirs) / (len(mine) + len(theirs))
                if dice >= best_dice:
                    best, best_dice = word, dice
            out.append(best)
        return out

    def _title_precision(self, query_terms: list[str], candidate_ids: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """Per candidate: the squared-idf-weighted share of its title's words that the query holds (an unnamed rare
        title word such as "footprint" costs much), and the idf of the rarest query word in its title over the idf
        of the rarest query word found anywhere."""
        precision = np.zeros(len(candidate_ids))
        rare = np.zeros(len(candidate_ids))
        n = max(self._rows_alive, 1)
        asked = {t: _idf(self._term_df.get(t, 0), n) for t in query_terms if self._term_df.get(t, 0) > 0}
        if not asked:
            return precision, rare
        rarest = max(asked.values())
        for i, e in enumerate(candidate_ids):
            title = self._entries[e].title_terms
            if not title:
                continue
            weights = {t: _idf(max(self._term_df.get(t, 0), 0), n) ** 2 for t in title}
            total = sum(weights.values())
            precision[i] = sum(w for t, w in weights.items() if t in asked) / total if total > 0 else 0.0
            rare[i] = max((asked[t] for t in title if t in asked), default=0.0) / rarest
        return precision, rare

    def _soft(self, query_ids: list[int], candidate_ids: list[int]) -> np.ndarray:
        """Per candidate, idf-weighted mean over query tokens of the best cosine to any of the entry's tokens."""
        if not query_ids or not candidate_ids:
            return np.zeros(len(candidate_ids))
        n = max(self._rows_alive, 1)
        df = self._token_df[np.asarray(query_ids, dtype=np.int64)].astype(np.float64)
        weights = np.log1p((n - df + 0.5) / (df + 0.5))
        pieces = [self._entries[e].tokens for e in candidate_ids]
        union, inverse = np.unique(np.concatenate(pieces), return_inverse=True)
        table = self._tokens.vectors
        sims = table[query_ids] @ table[union].T  # (query tokens, distinct candidate tokens)
        out = np.empty(len(candidate_ids))
        start = 0
        for i, piece in enumerate(pieces):
            cols = inverse[start : start + len(piece)]
            start += len(piece)
            out[i] = float(weights @ sims[:, cols].max(axis=1)) / float(weights.sum()) if len(cols) else 0.0
        return out

    def _moments(self, q: np.ndarray) -> tuple[float, float]:
        """Mean and standard deviation of the query's cosine to every indexed text, from running moments."""
        n = max(self._rows_alive, 1)
        wide = q.astype(np.float64)
        mean = float(wide @ self._sum) / n
        var = float(wide @ (self._sum_sq @ wide)) / n - mean * mean
        return mean, math.sqrt(max(var, 1e-6))


def _over_rest(values: np.ndarray, picks: np.ndarray) -> np.ndarray:
    """For each pick, its value minus the best value of every other candidate (its own value when it is alone)."""
    if len(values) < 2:
        return values[picks].astype(np.float64)
    top = np.argsort(-values, kind="stable")[:2]
    best_other = np.where(picks == top[0], values[top[1]], values[top[0]])
    return (values[picks] - best_other).astype(np.float64)


def _top_indices(scores: np.ndarray, count: int) -> np.ndarray:
    """Indices of the `count` largest scores, best first."""
    part = np.argpartition(-scores, count - 1)[:count] if len(scores) > count else np.arange(len(scores))
    return part[np.argsort(-scores[part], kind="stable")]


@functools.lru_cache(maxsize=65536)
def _trigrams(word: str) -> frozenset[str]:
    """Character trigrams of a word padded with one boundary mark on each side."""
    padded = f"#{word}#"
    return frozenset(padded[i : i + 3] for i in range(len(padded) - 2))


def _coherence(vectors: np.ndarray) -> float:
    """Mean over an entry's texts of the cosine to its nearest sibling; a fixed prior for a single text."""
    if len(vectors) < 2:
        return SINGLE_TEXT_COHERENCE
    gram = vectors @ vectors.T
    np.fill_diagonal(gram, -np.inf)
    return float(gram.max(axis=1).mean())
