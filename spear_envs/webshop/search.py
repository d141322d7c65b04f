"""BM25 product search without Java: a bm25s index with Lucene's parameters, cached on disk.

Upstream indexes, per product, the lower-cased title + description + first bullet + option values and
queries Lucene's BM25 (k1=0.9, b=0.4) through an English analyzer (stop words, Porter stemming) for the
top 50 hits. Here: the same document text, the same BM25 variant (``bm25s`` ``method="lucene"``), the 33
Lucene English stop words, PyStemmer's Porter stemmer, and a token pattern that keeps one-character
tokens (sizes such as "9", or the "5" of "10.5"), which bm25s's default would drop.

The index is built once per catalog (keyed by the product file's hash) under
``cache_dir("webshop", "index-v<N>")`` and memory-mapped on later loads, so processes share the pages.
Results are deterministic: ties are broken by catalog order; only documents that match a query token
are returned (``Total results`` is at most 50, as upstream).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from spear_envs.core.cache import cache_dir

if TYPE_CHECKING:
    from spear_envs.webshop.catalog import Catalog

INDEX_VERSION = "1"
TOP_K = 50
K1, B = 0.9, 0.4
#: Lucene's English stop set (EnglishAnalyzer.ENGLISH_STOP_WORDS_SET).
STOP_WORDS = frozenset(
    "a an and are as at be but by for if in into is it no not of on or such that the their then there these they "
    "this to was will with".split()
)
_TOKEN = re.compile(r"(?u)\b\w+\b")


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("porter")


def analyze(text: str) -> list[str]:
    """Lower-case, split on word characters (1-character tokens kept), drop stop words, Porter-stem."""
    tokens = [t for t in _TOKEN.findall(text.lower()) if t not in STOP_WORDS]
    return _stemmer().stemWords(tokens) if tokens else []


def document_text(record: dict) -> str:
    """What upstream indexes for a product: title, description, first bullet and option values."""
    options = ", and ".join(f"{k}: {', '.join(v)}" for k, v in record["options"].items())
    first_bullet = record["bullets"][0] if record["bullets"] else ""
    return " ".join((record["title"], record["description"], first_bullet, options)).lower()


class SearchIndex:
    """Top-50 BM25 search over one catalog. ``search(query) -> list of catalog indices``."""

    def __init__(self, model):
        self.model = model
        self._vocab = model.vocab_dict
        s = model.scores
        self._data, self._indices, self._indptr = s["data"], s["indices"], s["indptr"]
        self._n_docs = int(s["num_docs"])

    @classmethod
    def for_catalog(cls, catalog: "Catalog", *, rebuild: bool = False) -> "SearchIndex":
        """Load the cached index for ``catalog`` or build (and cache) it."""
        import bm25s

        path = cache_dir("webshop", f"index-v{INDEX_VERSION}") / catalog.fingerprint
        if path.is_dir() and not rebuild:
            try:
                return cls(bm25s.BM25.load(str(path), mmap=True, show_progress=False))
            except Exception:  # a half-written or foreign folder: rebuild it below
                pass
        model = build_model([analyze(document_text(catalog.record(i))) for i in range(len(catalog))])
        tmp = tempfile.mkdtemp(prefix=".tmp-", dir=path.parent)
        try:
            model.save(tmp, show_progress=False)
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            os.replace(tmp, path)
        except OSError:  # another process won the race; its index is identical
            shutil.rmtree(tmp, ignore_errors=True)
        return cls(bm25s.BM25.load(str(path), mmap=True, show_progress=False))

    def search(self, query: str, k: int = TOP_K) -> list[int]:
        """Catalog indices of the best ``k`` matches for ``query`` (best first, ties by index)."""
        ids = [self._vocab[t] for t in analyze(query) if t in self._vocab]
        if not ids:
            return []
        # One pass over the query terms' postings (a repeated term counts twice, as in a Lucene BooleanQuery).
        spans = [(self._indptr[t], self._indptr[t + 1]) for t in ids]
        docs = np.concatenate([self._indices[lo:hi] for lo, hi in spans])
        weights = np.concatenate([self._data[lo:hi] for lo, hi in spans])
        scores = np.bincount(docs, weights=weights, minlength=self._n_docs)
        hits = np.flatnonzero(scores > 0)
        if len(hits) > k:
            top = np.argpartition(-scores[hits], k - 1)[:k]
            kth = scores[hits[top]].min()
            hits = np.flatnonzero(scores >= kth)  # keep every tie at the cut, then order deterministically
        order = np.lexsort((hits, -scores[hits]))
        return [int(i) for i in hits[order][:k]]


def build_model(corpus_tokens: list[list[str]]):
    """A bm25s Lucene-BM25 model over pre-analyzed documents."""
    import bm25s

    model = bm25s.BM25(method="lucene", k1=K1, b=B)
    model.index(corpus_tokens, show_progress=False)
    return model
