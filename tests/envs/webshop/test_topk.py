"""The pruned exact top-k returns exactly what scoring every document returns (scores, ties, order)."""

from __future__ import annotations

import numpy as np
import pytest

from spear_envs.webshop import topk
from spear_envs.webshop.search import analyze


def test_term_maxima_handles_empty_terms():
    data = np.asarray([1.0, 3.0, 2.0, 5.0], dtype=np.float32)
    indptr = np.asarray([0, 2, 2, 4, 4])  # terms 1 and 3 have no postings
    assert topk.term_maxima(data, indptr).tolist() == [3.0, 0.0, 5.0, 0.0]


@pytest.mark.parametrize("rare_fraction, pruned_share", [(0.02, 0.0), (0.1, 0.25), (0.3, 0.25)])
def test_pruned_equals_full_on_goal_queries(catalog, rare_fraction, pruned_share):
    index = catalog.search
    data, indices, indptr, n = index._data, index._indices, index._indptr, index._n_docs
    maxima = topk.term_maxima(data, indptr)
    goals = catalog.goals("synthetic", "train")
    queries = [goals[i].instruction_text for i in range(0, len(goals), 7)]
    queries += [catalog.product(i).title for i in range(0, len(catalog), 25)]  # near-duplicates: many ties
    pruned_somewhere = 0
    for query in queries:
        terms = [index._vocab[t] for t in analyze(query) if t in index._vocab]
        for k in (1, 5, 50):
            full = topk.top_k_full(data, indices, indptr, n, terms, k)
            assert topk.top_k_pruned(data, indices, indptr, maxima, n, terms, k, rare_fraction) == full, (query, k)
        pruned_somewhere += _prunes(data, indices, indptr, maxima, n, terms, rare_fraction)
    assert pruned_somewhere >= pruned_share * len(queries)  # the fast path is exercised, not only the fallback


def _prunes(data, indices, indptr, maxima, n, terms, rare_fraction) -> bool:
    calls = []
    original = topk.top_k_full
    topk.top_k_full = lambda *a: calls.append(1) or original(*a)
    try:
        topk.top_k_pruned(data, indices, indptr, maxima, n, terms, 5, rare_fraction)
    finally:
        topk.top_k_full = original
    return not calls
