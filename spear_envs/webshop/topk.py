"""Exact top-k over a term-major (CSC) BM25 score matrix: the full sum, and a pruned one for big catalogs.

Both return the same list: documents with a positive score, best first, ties by document index, at most
``k`` (the cut keeps every tie at the k-th score before ordering). A document's score is the float64 sum,
in query-term order, of its per-term scores (a repeated query term counts twice).

:func:`top_k_pruned` follows the MaxScore idea. Split the query terms into *rare* ones (postings of at
most ``rare_fraction`` of the documents) and *common* ones, whose per-term maxima add up to ``R``.
Score every document on the rare terms only (``P``; cheap: short postings), and let ``theta`` be the k-th
largest ``P``. Every score is at least its ``P`` and at most ``P + R``, so the k-th best final score is at
least ``theta`` (raised to the k-th best exact score of the 4k best-by-``P`` documents), and a document with ``P + R < theta`` can be neither in the top k nor tied with it. Only
the survivors (typically a few hundred of a million) get their exact score, by binary search of each
term's sorted postings, summed in query-term order as the full method does, so scores, ties and order are
bit-identical. While the bound cannot prune (fewer than ``k`` documents with ``P > 0``, or ``R`` not below
``theta``), the common term with the largest maximum is moved into ``P``; with none left it is
:func:`top_k_full`.
"""

from __future__ import annotations

import numpy as np

#: Slack on the pruning bound, far above float rounding of a sum of a few dozen float32 scores.
_SLACK = 1e-6


def term_maxima(data: np.ndarray, indptr: np.ndarray) -> np.ndarray:
    """The largest score of each term (column); 0.0 for a term without postings."""
    indptr = np.asarray(indptr, dtype=np.int64)
    lengths = np.diff(indptr)
    out = np.zeros(len(lengths), dtype=np.float32)
    nonempty = np.flatnonzero(lengths)
    if len(nonempty):
        out[nonempty] = np.maximum.reduceat(np.asarray(data), indptr[nonempty])
    return out


def top_k_full(data, indices, indptr, n_docs: int, terms: list[int], k: int) -> list[int]:
    """Score every document on every query term (dense float64 accumulator), then cut at ``k``."""
    scores = np.zeros(n_docs)
    for t in terms:
        lo, hi = indptr[t], indptr[t + 1]
        scores[indices[lo:hi]] += data[lo:hi]  # a term lists a document once: the fancy add is exact
    hits = np.flatnonzero(scores > 0)
    return _cut(hits, scores[hits], k)


def top_k_pruned(data, indices, indptr, maxima: np.ndarray, n_docs: int, terms: list[int], k: int,
                 rare_fraction: float = 0.1) -> list[int]:
    """The same result as :func:`top_k_full`, touching only the rare terms' postings in full."""
    lengths = {t: int(indptr[t + 1] - indptr[t]) for t in terms}
    scored = [t for t in terms if lengths[t] <= rare_fraction * n_docs]
    common = sorted((t for t in terms if lengths[t] > rare_fraction * n_docs), key=lambda t: -float(maxima[t]))
    partial = np.zeros(n_docs)
    for t in scored:
        partial[indices[indptr[t]:indptr[t + 1]]] += data[indptr[t]:indptr[t + 1]]
    while True:  # move common terms into P, the one with the largest maximum first, until the bound prunes
        if not common:
            return top_k_full(data, indices, indptr, n_docs, terms, k)
        candidates = np.flatnonzero(partial) if scored else np.zeros(0, dtype=np.int64)
        reach = sum(float(maxima[t]) for t in common) * (1 + _SLACK) + _SLACK
        if len(candidates) >= k:
            theta = float(np.partition(partial[candidates], len(candidates) - k)[len(candidates) - k])
            if reach < theta:
                break
        t = common.pop(0)
        partial[indices[indptr[t]:indptr[t + 1]]] += data[indptr[t]:indptr[t + 1]]
        scored.append(t)
    # Raise the bound: the exact k-th best score among the 4k best-by-P documents is also a lower bound.
    probe = np.sort(candidates[np.argpartition(-partial[candidates], min(4 * k, len(candidates)) - 1)[:4 * k]])
    probe_scores = exact_scores(data, indices, indptr, terms, probe)
    theta = max(theta, float(np.partition(probe_scores, len(probe) - k)[len(probe) - k]))
    survivors = candidates[partial[candidates] + reach >= theta]
    scores = exact_scores(data, indices, indptr, terms, survivors)
    positive = scores > 0
    return _cut(survivors[positive], scores[positive], k)


def exact_scores(data, indices, indptr, terms: list[int], docs: np.ndarray) -> np.ndarray:
    """The full scores of ``docs`` (ascending ids): each term's score found by binary search of its sorted
    postings, added in query-term order (the float64 sums of :func:`top_k_full`, bit for bit)."""
    scores = np.zeros(len(docs))
    for t in terms:
        lo, hi = int(indptr[t]), int(indptr[t + 1])
        postings = indices[lo:hi]
        pos = np.searchsorted(postings, docs)
        found = pos < len(postings)
        found[found] = postings[pos[found]] == docs[found]
        scores[found] += data[lo:hi][pos[found]]
    return scores


def _cut(hits: np.ndarray, scores: np.ndarray, k: int) -> list[int]:
    """Best ``k`` of ``hits`` (ascending doc ids) by ``scores`` (every tie at the k-th score kept, then
    ordered by score, ties by doc id)."""
    if len(hits) > k:
        kth = np.partition(scores, len(scores) - k)[len(scores) - k]
        keep = scores >= kth
        hits, scores = hits[keep], scores[keep]
    order = np.lexsort((hits, -scores))
    return [int(i) for i in hits[order][:k]]
