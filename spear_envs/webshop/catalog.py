"""One WebShop catalog (products + goals + search index), shared by every env and every process.

:func:`get_catalog` returns the process-wide :class:`Catalog` for a :class:`CatalogSource` (a data
directory, or a generated catalog named by ``(n_products, seed)``); env instances and web sessions
hold a reference, never a copy. Generated catalogs are written once in the upstream file format under
``cache_dir("webshop", ...)`` and read through the same streaming loader as real files.

The loaded catalog lives on disk as a store (``store.py``): products derived exactly as upstream's
``load_products`` (``record.py``) as zlib-compressed JSON, the goal tables and the BM25 index, built once
per source and memory-mapped read-only by every process, so a second process (or a Ray env worker)
opens a 1.18M-product catalog in well under a second and shares its pages instead of copying them.
Stores are keyed by ``(generator version, n_products, seed, price_seed)`` for generated catalogs, and
by the data files' fingerprints and ``price_seed`` for real ones; a file lock makes concurrent first
openers wait for one build instead of each building.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import sys
import threading
import time
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator

from spear_envs.core.cache import cache_dir
from spear_envs.webshop import real_data
from spear_envs.webshop.catalog_generator import (
    ATTRIBUTES_FILE, GENERATOR_VERSION, HUMAN_INS_FILE, PRODUCTS_FILE, write_catalog,
)
from spear_envs.webshop.goal_generator import GoalTable
from spear_envs.webshop.record import Product, actual_price, derive_record, parse_pricing
from spear_envs.webshop.store import STORE_VERSION, CatalogStore, build_store, is_built

#: Named generated-catalog sizes; ``"full"`` is upstream WebShop's full product count.
CATALOG_SIZES = {"1k": 1_000, "100k": 100_000, "full": 1_180_000}
#: Builds of at least this many products report progress on stderr.
_PROGRESS_FROM = 200_000


def catalog_size(value: int | str) -> int:
    """A product count from an int or a name in :data:`CATALOG_SIZES` (``ValueError`` otherwise)."""
    if isinstance(value, str):
        if value not in CATALOG_SIZES:
            raise ValueError(f"catalog size must be an int or one of {sorted(CATALOG_SIZES)}, got {value!r}")
        return CATALOG_SIZES[value]
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"catalog size must be an int or one of {sorted(CATALOG_SIZES)}, got {value!r}")
    return value


@dataclass(frozen=True)
class CatalogSource:
    """Where a catalog comes from: ``data_dir`` (real or user files) or a generated ``(n_products, seed)``.

    ``price_seed`` seeds the draw of actual prices for price ranges; ``verify_data`` checks known
    upstream files against their pinned sizes/hashes.
    """

    data_dir: str | None = None
    n_products: int = 1000
    seed: int = 0
    price_seed: int = 233
    verify_data: bool = True

    def generated_dir(self) -> Path:
        """Where the generated files of ``(n_products, seed)`` live (not created)."""
        return cache_dir("webshop", f"generated-v{GENERATOR_VERSION}") / f"n{self.n_products}-s{self.seed}"

    def resolved_dir(self) -> Path:
        """The data directory: ``data_dir``, or the generated files' folder (generated if missing)."""
        if self.data_dir is not None:
            return Path(self.data_dir).expanduser().resolve()
        out = self.generated_dir()
        if not (out / PRODUCTS_FILE).is_file():
            write_catalog(out, self.n_products, self.seed, progress=_progress if self.n_products >= _PROGRESS_FROM
                          else None)
        return out

    def store_path(self, files: real_data.DataFiles | None = None) -> Path:
        """The store folder: by generator version/size/seed, or by the data files' fingerprints."""
        root = cache_dir("webshop", f"store-v{STORE_VERSION}")
        if self.data_dir is None:
            return root / f"gen{GENERATOR_VERSION}-n{self.n_products}-s{self.seed}-p{self.price_seed}"
        assert files is not None
        prints = [real_data.file_fingerprint(p) if p else "-" for p in (files.products, files.attributes, files.human)]
        digest = hashlib.sha256("|".join(prints + [str(self.price_seed)]).encode()).hexdigest()[:20]
        return root / f"data-{digest}"


class Catalog:
    """Products, goal tables and the search index of one data source (read-only, memory-mapped)."""

    def __init__(self, source: CatalogSource):
        self.source = source
        if source.data_dir is None:
            self.data_dir = source.generated_dir()
            files = real_data.DataFiles(self.data_dir / PRODUCTS_FILE, self.data_dir / ATTRIBUTES_FILE,
                                        self.data_dir / HUMAN_INS_FILE)
        else:
            self.data_dir = source.resolved_dir()
            files = real_data.find_data_files(self.data_dir)
            if source.verify_data:
                for path in (files.products, files.attributes, files.human):
                    if path is not None:
                        real_data.verify_file(path)
        self.files = files
        self.store = _open_or_build(source, files)
        self.fingerprint: str = self.store.meta["fingerprint"]
        self.asins = AsinList(self.store)
        self.index_of = AsinIndex(self.store)
        self.goal_tables: dict[str, GoalTable] = self.store.goal_tables
        self._product = lru_cache(maxsize=512)(self._decode)
        self._search = None
        self._search_lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.store)

    def _decode(self, i: int) -> Product:
        return Product.from_record(self.record(i))

    def product(self, key: int | str) -> Product:
        """A product by index or ASIN (``KeyError`` for an unknown ASIN)."""
        return self._product(self.index_of[key] if isinstance(key, str) else key)

    def record(self, i: int) -> dict:
        """The derived record of product ``i`` as a dict (decoded from the store)."""
        return json.loads(zlib.decompress(self.store.blob(i)))

    @property
    def search(self):
        """The catalog's :class:`~spear_envs.webshop.search.SearchIndex` (memory-mapped on first use)."""
        if self._search is None:
            with self._search_lock:
                if self._search is None:
                    from spear_envs.webshop.search import SearchIndex

                    self._search = SearchIndex.for_catalog(self)
        return self._search

    def goals(self, kind: str, split: str):
        """The :class:`~spear_envs.webshop.goal_generator.GoalSplit` ``split`` of goal table ``kind``."""
        if kind not in self.goal_tables:
            raise ValueError(f"goals must be one of {sorted(self.goal_tables)}, got {kind!r}")
        return self.goal_tables[kind].split(split, self)

    def describe(self) -> dict[str, Any]:
        return {
            "data_dir": str(self.data_dir), "products_file": self.files.products.name,
            "products": len(self), "fingerprint": self.fingerprint,
            "goals": {k: t.sizes() for k, t in self.goal_tables.items()},
        }


class AsinList:
    """The catalog's ASINs in catalog order, as a read-only sequence of ``str`` (memory-mapped)."""

    def __init__(self, store: CatalogStore):
        self._asins = store.asins

    def __len__(self) -> int:
        return len(self._asins)

    def __getitem__(self, i: int) -> str:
        return str(self._asins[i])

    def __iter__(self) -> Iterator[str]:
        return (str(a) for a in self._asins)


class AsinIndex:
    """ASIN -> catalog index, a read-only mapping backed by the store's sorted ASINs."""

    def __init__(self, store: CatalogStore):
        self._store = store

    def __getitem__(self, asin: str) -> int:
        i = self._store.find(asin) if isinstance(asin, str) else None
        if i is None:
            raise KeyError(asin)
        return i

    def __contains__(self, asin: object) -> bool:
        return isinstance(asin, str) and self._store.find(asin) is not None

    def get(self, asin: str, default: int | None = None) -> int | None:
        i = self._store.find(asin) if isinstance(asin, str) else None
        return default if i is None else i

    def __len__(self) -> int:
        return len(self._store)


def _open_or_build(source: CatalogSource, files: real_data.DataFiles) -> CatalogStore:
    """Open the source's store, building it first (under a file lock, once across processes) if missing."""
    path = source.store_path(files if source.data_dir is not None else None)
    if is_built(path):
        return CatalogStore(path)
    with open(path.with_name(path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be building it: wait, then open its build
        if not is_built(path):
            started = time.perf_counter()
            if source.data_dir is None:
                source.resolved_dir()  # generate the upstream-format files if missing
            generate_s = time.perf_counter() - started
            big = source.data_dir is not None and files.products.stat().st_size > 256 << 20
            report = _progress if big or (source.data_dir is None and source.n_products >= _PROGRESS_FROM) else None
            if report:
                report(f"building the catalog store {path} (once; later processes open it in seconds)")
            build_store(path, files, source.price_seed, progress=report,
                        extra_meta={"generate_s": round(generate_s, 1)})
        return CatalogStore(path)


def _progress(message: str) -> None:
    print(f"[webshop] {message}", file=sys.stderr, flush=True)


_CATALOGS: dict[CatalogSource, Catalog] = {}
_LOCK = threading.Lock()


def get_catalog(source: CatalogSource) -> Catalog:
    """The process-wide catalog for ``source`` (loaded on first call; later calls share it)."""
    if source.data_dir is not None:
        source = CatalogSource(str(Path(source.data_dir).expanduser().resolve()), source.n_products, source.seed,
                               source.price_seed, source.verify_data)
    with _LOCK:
        catalog = _CATALOGS.get(source)
        if catalog is None:
            catalog = _CATALOGS[source] = Catalog(source)
        return catalog


def default_data_dir() -> str | None:
    """``$SPEAR_WEBSHOP_DATA`` if set (real upstream files), else ``None`` (the generated catalog)."""
    return os.environ.get("SPEAR_WEBSHOP_DATA") or None


__all__ = ["Catalog", "CatalogSource", "Product", "get_catalog", "parse_pricing", "actual_price", "derive_record",
           "default_data_dir", "catalog_size", "CATALOG_SIZES"]
