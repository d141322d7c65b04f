"""Exact top-k over a term-major (CSC) BM25 score matrix: the full sum, and a pruned one for big catalogs.

Both return the same list: documents with a positive score, best first, ties by document index, at most
``k`` (the cut keeps every tie at the k-th score before ordering). A document's score is the float64 sum,
in query-term order, of its per-term scores (a repeated query term counts twice).

:func:`top_k_pruned` follows the MaxScore idea. Split the query terms into *rare* ones (postings of at
most ``rare_fraction`` of the documents) and *common* ones, whose per-term maxima add up to ``R``.
Score every document on the rare terms only (``P``, summed in float32; cheap: short postings). Every
final score is at least its ``P`` and at most ``P + R``. Let ``theta`` be the k-th largest ``P`` among the
documents of the shortest rare posting list (a lower bound on the k-th largest ``P``, hence on the k-th
best final score); one scan of ``P`` finds the documents with ``P >= theta - R``, which raises ``theta``
to the exact k-th largest ``P``, then to the k-th best exact score of the 4k best-by-``P`` of them. A
document with ``P + R < theta`` can be neither in the top k nor tied with it. Only the survivors
(typically a few hundred of a million) get their exact score, by binary search of each term's sorted
postings, summed in query-term order as the full method does, so scores, ties and order are
bit-identical (every bound carries a relative slack of ``1e-4`` for float rounding). While the bound
cannot prune (the shortest rare list has fewer than ``k`` documents, or ``R`` is not below ``theta``),
the common term with the largest maximum is moved into ``P``; with none left it is :func:`top_k_full`.
"""

from __future__ import annotations

import numpy as np

#: Relative slack on the pruning bounds, far above the rounding of a float32 sum of a few dozen scores
#: (``P`` is summed in float32: half the memory traffic; the final scores are exact float64 sums).
_SLACK = 1e-4


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
    partial = np.zeros(n_docs, dtype=np.float32)
    for t in scored:
        partial[indices[indptr[t]:indptr[t + 1]]] += data[indptr[t]:indptr[t + 1]]
    while True:  # move common terms into P, the one with the largest maximum first, until the bound prunes
        if not common:
            return top_k_full(data, indices, indptr, n_docs, terms, k)
        reach = sum(float(maxima[t]) for t in common) * (1 + _SLACK) + _SLACK
        # theta: the k-th best P among the documents of the shortest scored posting list (distinct
        # documents, a subset of all: a lower bound on the k-th best P, found without a scan of all)
        shortest = min(scored, key=lambda t: int(indptr[t + 1] - indptr[t])) if scored else None
        if shortest is not None and indptr[shortest + 1] - indptr[shortest] >= k:
            sample = partial[indices[indptr[shortest]:indptr[shortest + 1]]]
            theta = float(np.partition(sample, len(sample) - k)[len(sample) - k]) * (1 - _SLACK) - _SLACK
            if reach < theta:
                break
        t = common.pop(0)
        partial[indices[indptr[t]:indptr[t + 1]]] += data[indptr[t]:indptr[t + 1]]
        scored.append(t)
    # documents that can still reach theta: P + reach >= theta (only scored terms' documents have P > 0)
    survivors = np.flatnonzero(partial >= theta - reach)  # theta > reach: documents with P = 0 are out
    if len(survivors) >= k:  # they hold the k best P: their k-th best P is the exact k-th best P
        kth = float(np.partition(partial[survivors], len(survivors) - k)[len(survivors) - k])
        theta = max(theta, kth * (1 - _SLACK) - _SLACK)
        survivors = survivors[partial[survivors] + reach >= theta]
    # Raise the bound: the exact k-th best score among the 4k best-by-P survivors is also a lower bound.
    if len(survivors) > 4 * k:
        probe = np.sort(survivors[np.argpartition(-partial[survivors], 4 * k - 1)[:4 * k]])
        probe_scores = exact_scores(data, indices, indptr, terms, probe)
        kth = float(np.partition(probe_scores, len(probe) - k)[len(probe) - k])
        theta = max(theta, kth * (1 - _SLACK) - _SLACK)
        survivors = survivors[partial[survivors] + reach >= theta]
    scores = exact_scores(data, indices, indptr, terms, survivors)
    positive = scores > 0
    return _cut(survivors[positive], scores[positive], k)


def exact_scores(data, indices, indptr, terms: list[int], docs: np.ndarray) -> np.ndarray:
    """The full scores of ``docs`` (ascending ids): each term's score found by binary search of its sorted
    postings, added in query-term order (the float64 sums of :func:`top_k_full`, bit for bit)."""
    scores = np.zeros(len(docs))
    docs = docs.astype(indices.dtype, copy=False)  # same dtype as the postings: no per-call cast of them
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
