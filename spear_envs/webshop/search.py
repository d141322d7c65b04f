"""BM25 product search without Java: a bm25s index with Lucene's parameters, cached on disk.

Upstream indexes, per product, the lower-cased title + description + first bullet + option values and
queries Lucene's BM25 (k1=0.9, b=0.4) through an English analyzer (stop words, Porter stemming) for the
top 50 hits. Here: the same document text, the same BM25 variant (``bm25s`` ``method="lucene"``), the 33
Lucene English stop words, PyStemmer's Porter stemmer, and a token pattern that keeps one-character
tokens (sizes such as "9", or the "5" of "10.5"), which bm25s's default would drop.

The index is built once per catalog, with the catalog's on-disk store (``store.py``), and loaded
memory-mapped (``bm25s`` ``mmap=True``), so every process shares its pages. Documents are turned into
token ids one at a time (:class:`CorpusTokens`), so building it for 1.18M products does not hold 10^8
token strings in memory. From 50k products a query is answered by an exact pruned top-k (``topk.py``):
the same hits, in the same order, as scoring every product. Results are deterministic: ties are broken
by catalog order; only documents that match a query token are returned (``Total results`` is at most
50, as upstream).
"""

from __future__ import annotations

import os
import re
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from spear_envs.webshop.topk import term_maxima, top_k_full, top_k_pruned

if TYPE_CHECKING:
    from spear_envs.webshop.catalog import Catalog

TOP_K = 50
#: Catalogs of at least this many documents use the pruned exact top-k (``topk.py``).
PRUNE_FROM = 50_000
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

    def __init__(self, model, path: str | os.PathLike | None = None):
        self.model = model
        self._path = Path(path) if path is not None else None
        self._term_max: np.ndarray | None = None
        self._vocab = model.vocab_dict
        s = model.scores
        # plain ndarray views of the (memory-mapped) arrays: no memmap bookkeeping on every slice
        self._data, self._indices, self._indptr = (np.asarray(s[key]) for key in ("data", "indices", "indptr"))
        self._n_docs = int(s["num_docs"])

    @classmethod
    def load(cls, path: str | os.PathLike) -> "SearchIndex":
        """Open an index saved by :func:`build_model` + ``model.save`` (memory-mapped, read-only)."""
        import bm25s

        return cls(bm25s.BM25.load(str(path), mmap=True, show_progress=False), path)

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
        """Catalog indices of the best ``k`` matches for ``query`` (best first, ties by index).

        Exact BM25 top-k; on big catalogs most documents are pruned unscored (see ``topk.py``).
        """
        ids = [self._vocab[t] for t in analyze(query) if t in self._vocab]
        if not ids:
            return []
        if self._n_docs < PRUNE_FROM:
            return top_k_full(self._data, self._indices, self._indptr, self._n_docs, ids, k)
        return top_k_pruned(self._data, self._indices, self._indptr, self._maxima(), self._n_docs, ids, k)

    def _maxima(self) -> np.ndarray:
        """Per-term maximum scores: ``term_max.npy`` beside a saved index (written once), else computed."""
        if self._term_max is None:
            path = self._path / "term_max.npy" if self._path is not None else None
            if path is not None and path.is_file():
                self._term_max = np.load(path, mmap_mode="r")
            else:
                self._term_max = term_maxima(self._data, self._indptr)
                if path is not None:
                    _save_atomically(path, self._term_max)
        return self._term_max


def _save_atomically(path: Path, array: np.ndarray) -> None:
    try:
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npy", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            np.save(f, array)
        os.replace(tmp, path)
    except OSError:  # a read-only store: keep the in-memory copy
        pass


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
