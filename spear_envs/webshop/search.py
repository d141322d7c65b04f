"""BM25 product search without Java: a bm25s index with Lucene's parameters, cached on disk.

Upstream indexes, per product, the lower-cased title + description + first bullet + option values and
queries Lucene's BM25 (k1=0.9, b=0.4) through an English analyzer (stop words, Porter stemming) for the
top 50 hits. Here: the same document text, the same BM25 variant (``bm25s`` ``method="lucene"``), the 33
Lucene English stop words, PyStemmer's Porter stemmer, and a token pattern that keeps one-character
tokens (sizes such as "9", or the "5" of "10.5"), which bm25s's default would drop.

The index is built once per catalog, with the catalog's on-disk store (``store.py``), and loaded
memory-mapped (``bm25s`` ``mmap=True``), so every process shares its pages. Documents are turned into
token ids one at a time (:class:`CorpusTokens`), so building it for 1.18M products does not hold 10^8
token strings in memory. Results are deterministic: ties are broken by catalog order; only documents that
match a query token are returned (``Total results`` is at most 50, as upstream).
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from spear_envs.webshop.catalog import Catalog

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
    def load(cls, path: str | os.PathLike) -> "SearchIndex":
        """Open an index saved by :func:`build_model` + ``model.save`` (memory-mapped, read-only)."""
        import bm25s

        return cls(bm25s.BM25.load(str(path), mmap=True, show_progress=False))

    @classmethod
    def for_catalog(cls, catalog: "Catalog", *, rebuild: bool = False) -> "SearchIndex":
        """The index saved in ``catalog``'s store, or (``rebuild=True``) one built afresh in memory."""
        if not rebuild:
            return cls.load(catalog.store.index_path)
        tokens = CorpusTokens()
        for i in range(len(catalog)):
            tokens.add(document_text(catalog.record(i)))
        return cls(tokens.build_model())

    def search(self, query: str, k: int = TOP_K) -> list[int]:
        """Catalog indices of the best ``k`` matches for ``query`` (best first, ties by index)."""
        ids = [self._vocab[t] for t in analyze(query) if t in self._vocab]
        if not ids:
            return []
        # Add each query term's postings in turn (a repeated term counts twice, as in a Lucene BooleanQuery);
        # a term lists a document at most once, so the fancy-indexed add is exact, and the float64 sums
        # are made in the same order as one bincount over all postings.
        scores = np.zeros(self._n_docs)
        for t in ids:
            lo, hi = self._indptr[t], self._indptr[t + 1]
            scores[self._indices[lo:hi]] += self._data[lo:hi]
        hits = np.flatnonzero(scores > 0)
        if len(hits) > k:
            top = np.argpartition(-scores[hits], k - 1)[:k]
            kth = scores[hits[top]].min()
            hits = np.flatnonzero(scores >= kth)  # keep every tie at the cut, then order deterministically
        order = np.lexsort((hits, -scores[hits]))
        return [int(i) for i in hits[order][:k]]


class CorpusTokens:
    """Analyzed documents as int32 token-id arrays plus a vocabulary, built one document at a time."""

    def __init__(self):
        self.vocab: dict[str, int] = {}
        self.ids: list[np.ndarray] = []

    def add(self, text: str) -> None:
        """Analyze one document (see :func:`analyze`) and append its token ids."""
        vocab = self.vocab
        tokens = analyze(text)
        self.ids.append(np.fromiter((vocab.setdefault(t, len(vocab)) for t in tokens), dtype=np.int32,
                                    count=len(tokens)))

    def build_model(self):
        """A bm25s Lucene-BM25 model (k1=0.9, b=0.4) over the documents added so far.

        Per (document, term): ``idf * tf / (tf + k1 * (1 - b + b * len(doc) / avg_len))`` with
        ``idf = ln(1 + (N - df + 0.5) / (df + 0.5))``; the vocabulary's id order does not change a score.
        """
        import bm25s
        from bm25s.tokenization import Tokenized

        model = bm25s.BM25(method="lucene", k1=K1, b=B)
        model.index(Tokenized(ids=self.ids, vocab=dict(self.vocab)), show_progress=False)
        return model


def build_model(corpus_tokens: list[list[str]]):
    """A bm25s Lucene-BM25 model over pre-analyzed documents (lists of token strings)."""
    import bm25s

    model = bm25s.BM25(method="lucene", k1=K1, b=B)
    model.index(corpus_tokens, show_progress=False)
    return model
