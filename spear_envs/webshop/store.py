"""The on-disk WebShop catalog store: built once from the data files, opened read-only by every process.

A store is a folder (under ``cache_dir("webshop", "store-v<N>")``, see ``catalog.py`` for its key):

* ``records.bin`` + ``offsets.npy``: each derived product record as zlib-compressed JSON, back to back;
  record ``i`` is ``records[offsets[i]:offsets[i + 1]]``;
* ``asins.npy`` (catalog order), ``asins_sorted.npy`` + ``asin_order.npy`` (ASIN lookup by binary search);
* ``goals-<kind>-<field>.npy``: the goal tables (``products``, ``subs``, ``weights``, ``splits``);
* ``index/``: the bm25s search index;
* ``meta.json``: the product count, the product file's fingerprint and the data file names.

Every array is opened with ``mmap_mode="r"``, so N processes on one catalog share one copy of the pages
in the OS page cache, and opening costs milliseconds whatever the catalog size. :func:`build_store`
streams the product file (one record at a time), writes into a temporary folder and renames it into
place, so a reader never sees a half-built store.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
import zlib
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from spear_envs.webshop import real_data
from spear_envs.webshop.goal_generator import GoalTable, build_goal_tables
from spear_envs.webshop.record import derive_record, goal_summary
from spear_envs.webshop.search import CorpusTokens, document_text
from spear_envs.webshop.topk import term_maxima

#: Bump on any change to the store's layout or to how records, goals or the index are derived.
STORE_VERSION = "1"
_GOAL_FIELDS = ("products", "subs", "weights", "splits")
_META = "meta.json"


class CatalogStore:
    """A built store opened read-only (memory-mapped). ``blob(i)`` is record ``i``'s compressed JSON."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.meta = json.loads((self.path / _META).read_text(encoding="utf-8"))
        if self.meta.get("store_version") != STORE_VERSION:
            raise ValueError(f"{self.path} is a v{self.meta.get('store_version')} store, expected v{STORE_VERSION}")
        load = lambda name: np.load(self.path / name, mmap_mode="r")  # noqa: E731
        self.offsets = load("offsets.npy")
        self.records = np.memmap(self.path / "records.bin", dtype=np.uint8, mode="r")
        self.asins = load("asins.npy")
        self._sorted, self._order = load("asins_sorted.npy"), load("asin_order.npy")
        self.goal_tables = {
            kind: GoalTable(kind, *(load(f"goals-{kind}-{field}.npy") for field in _GOAL_FIELDS))
            for kind in self.meta["goal_kinds"]
        }
        self.index_path = self.path / "index"

    def __len__(self) -> int:
        return len(self.asins)

    def blob(self, i: int) -> bytes:
        """The compressed JSON of record ``i`` (``IndexError`` when out of range)."""
        if not -len(self) <= i < len(self):
            raise IndexError(f"product index {i} out of range for a {len(self)}-product catalog")
        i %= len(self)
        return self.records[int(self.offsets[i]):int(self.offsets[i + 1])].tobytes()

    def find(self, asin: str) -> int | None:
        """The catalog index of ``asin``, or ``None``."""
        j = int(np.searchsorted(self._sorted, asin))
        if j < len(self._sorted) and self._sorted[j] == asin:
            return int(self._order[j])
        return None


def is_built(path: Path) -> bool:
    """Whether ``path`` holds a complete store of this version."""
    try:
        return json.loads((path / _META).read_text(encoding="utf-8")).get("store_version") == STORE_VERSION
    except (OSError, ValueError):
        return False


def iter_products(files: real_data.DataFiles, price_seed: int) -> Iterator[dict]:
    """Derived records of the usable products, streamed in file order (upstream's loader rules).

    Skips products without a string ASIN, with ASIN ``"nan"`` or longer than 10 characters, and
    repeats of an ASIN already seen.
    """
    attributes = real_data.load_json_object(files.attributes)
    human = real_data.load_json_object(files.human) if files.human else {}
    seen: set[str] = set()
    for raw in real_data.iter_json_array(files.products):
        asin = raw.get("asin")
        if not isinstance(asin, str) or asin == "nan" or len(asin) > 10 or asin in seen:
            continue
        seen.add(asin)
        yield derive_record(raw, attributes.get(asin), human.get(asin), price_seed)


def build_store(path: Path, files: real_data.DataFiles, price_seed: int, *,
                progress: Callable[[str], None] | None = None, extra_meta: dict | None = None) -> None:
    """Build the store for ``files`` at ``path`` (written to a temp folder, then renamed into place).

    ``extra_meta`` is recorded in ``meta.json`` (the catalog records how long generating the files took).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; the store is shared
    try:
        _write_store(tmp, files, price_seed, progress, extra_meta or {})
        if path.exists():  # a stale or foreign folder (an older build under the same key)
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _write_store(out: Path, files: real_data.DataFiles, price_seed: int,
                 progress: Callable[[str], None] | None, extra_meta: dict) -> None:
    started = time.perf_counter()
    asins: list[str] = []
    offsets = [0]
    summaries = []
    tokens = CorpusTokens()
    with open(out / "records.bin", "wb") as f:
        for record in iter_products(files, price_seed):
            asins.append(record["asin"])
            blob = zlib.compress(json.dumps(record, ensure_ascii=False).encode("utf-8"), 6)
            offsets.append(offsets[-1] + f.write(blob))
            summaries.append(goal_summary(record))
            tokens.add(document_text(record))
            if progress and len(asins) % 100_000 == 0:
                progress(f"stored {len(asins):,} products ({time.perf_counter() - started:.0f} s)")
    if not asins:
        raise real_data.DataFileError(f"{files.products} holds no usable products")
    np.save(out / "offsets.npy", np.asarray(offsets, dtype=np.int64))
    asin_array = np.asarray(asins, dtype="U10")
    order = np.argsort(asin_array, kind="stable").astype(np.int32)
    np.save(out / "asins.npy", asin_array)
    np.save(out / "asins_sorted.npy", asin_array[order])
    np.save(out / "asin_order.npy", order)
    tables = build_goal_tables(summaries, asins)
    del summaries
    for kind, table in tables.items():
        for field in _GOAL_FIELDS:
            np.save(out / f"goals-{kind}-{field}.npy", getattr(table, field))
    if progress:
        progress(f"building the search index over {len(asins):,} products")
    model = tokens.build_model()
    del tokens
    model.save(str(out / "index"), show_progress=False)
    np.save(out / "index" / "term_max.npy", term_maxima(model.scores["data"], model.scores["indptr"]))
    meta = {
        "store_version": STORE_VERSION, "products": len(asins), "goal_kinds": list(tables),
        "fingerprint": real_data.sha256_of(files.products)[:16],  # hashed in full, once per build
        "files": {"products": files.products.name, "attributes": files.attributes.name,
                  "human": files.human.name if files.human else None},
        "build_s": round(time.perf_counter() - started, 1), **extra_meta,
    }
    (out / _META).write_text(json.dumps(meta, indent=1), encoding="utf-8")
