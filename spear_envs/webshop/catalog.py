"""One loaded WebShop catalog (products + goals + search index), shared by every env in a process.

:func:`get_catalog` returns the process-wide :class:`Catalog` for a :class:`CatalogSource` (a data
directory, or a generated catalog named by ``(n_products, seed)``); env instances and web sessions
hold a reference, never a copy. Generated catalogs are written once in the upstream file format under
``cache_dir("webshop", ...)`` and then read through the same loader as real files.

Products are derived exactly as upstream's ``load_products`` (spec WEBSHOP.md §1.1) and kept as
zlib-compressed JSON blobs, decoded on access (with a small LRU cache), so a 100k-product catalog costs
tens of MB instead of hundreds.
"""

from __future__ import annotations

import json
import os
import random
import re
import threading
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from spear_envs.core.cache import cache_dir
from spear_envs.webshop import real_data
from spear_envs.webshop.catalog_generator import GENERATOR_VERSION, write_catalog
from spear_envs.webshop.goal_generator import GoalTable, build_goal_tables

#: Keys upstream's loader drops (scraping-only).
_DROPPED = {
    "product_information", "brand", "brand_url", "list_price", "availability_quantity", "availability_status",
    "total_reviews", "total_answered_questions", "seller_id", "seller_name", "fulfilled_by_amazon",
    "fast_track_message", "aplus_present", "small_description_old",
}


@dataclass(frozen=True)
class Product:
    """A product as the site shows it (upstream's derived fields)."""

    asin: str
    title: str
    description: str
    bullets: tuple[str, ...]
    price_tag: str  # "$39.99" or "$45.0 to $60.0"
    price: float  # the actual price: single price, a seeded draw within a range, or 100.0
    options: dict[str, list[str]]  # lower-cased group name -> lower-cased values, in file order
    attributes: tuple[str, ...]  # ("DUMMY_ATTR",) when the attribute file has none
    category: str
    query: str
    product_category: str
    main_image: str
    reviews: tuple[dict, ...]
    instruction_text: str | None
    instruction_attributes: tuple[str, ...]
    human_instructions: tuple[dict, ...]

    @classmethod
    def from_record(cls, r: dict) -> "Product":
        return cls(
            r["asin"], r["title"], r["description"], tuple(r["bullets"]), r["price_tag"], r["price"],
            r["options"], tuple(r["attributes"]), r["category"], r["query"], r["product_category"],
            r["main_image"], tuple(r["reviews"]), r["instruction_text"], tuple(r["instruction_attributes"]),
            tuple(r["human_instructions"]),
        )


def parse_pricing(pricing: Any) -> tuple[list[float], str]:
    """Upstream's price parsing: split on "$", keep digits and dots; at most 2 values; "" -> [100.0]."""
    if not pricing or not isinstance(pricing, str):
        return [100.0], "$100.0"
    values = []
    for part in pricing.split("$")[1:]:
        digits = re.sub(r"[^\d.]", "", part)
        try:
            values.append(float(digits))
        except ValueError:
            continue
    if not values:
        return [100.0], "$100.0"
    if len(values) == 1:
        return values, f"${values[0]}"
    return values[:2], f"${values[0]} to ${values[1]}"


def actual_price(asin: str, prices: list[float], price_seed: int) -> float:
    """The price charged: the single price, or a uniform draw in the range seeded by (price_seed, asin)."""
    if len(prices) == 1:
        return prices[0]
    lo, hi = prices[0], prices[1]
    return random.Random(f"{price_seed}:{asin}").uniform(lo, hi)


def derive_record(raw: dict, attrs: dict | None, human: list | None, price_seed: int) -> dict:
    """One raw product (+ its attribute record and human instructions) -> the derived record."""
    bullets = raw.get("small_description") or []
    if isinstance(bullets, str):
        bullets = [bullets]
    prices, tag = parse_pricing(raw.get("pricing"))
    options: dict[str, list[str]] = {}
    custom = raw.get("customization_options")
    if isinstance(custom, dict):
        for name, values in custom.items():
            if values is None:
                continue
            options[str(name).lower()] = [str(v.get("value", "")).lower().strip().replace("/", " | ") for v in values]
    attrs = attrs or {}
    images = raw.get("images") or [""]
    return {
        "asin": raw["asin"],
        "title": str(raw.get("name") or ""),
        "description": str(raw.get("full_description") or ""),
        "bullets": [str(b) for b in bullets],
        "price_tag": tag,
        "price": actual_price(raw["asin"], prices, price_seed),
        "options": options,
        "attributes": list(attrs.get("attributes") or ["DUMMY_ATTR"]),
        "category": str(raw.get("category") or ""),
        "query": str(raw.get("query") or "").lower().strip(),
        "product_category": str(raw.get("product_category") or ""),
        "main_image": str(images[0] or ""),
        "reviews": [r for r in raw.get("reviews") or [] if isinstance(r, dict)],
        "instruction_text": attrs.get("instruction"),
        "instruction_attributes": list(attrs.get("instruction_attributes") or []),
        "human_instructions": [h for h in human or [] if isinstance(h, dict)],
    }


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

    def resolved_dir(self) -> Path:
        if self.data_dir is not None:
            return Path(self.data_dir).expanduser().resolve()
        out = cache_dir("webshop", f"generated-v{GENERATOR_VERSION}", f"n{self.n_products}-s{self.seed}")
        from spear_envs.webshop.catalog_generator import PRODUCTS_FILE

        if not (out / PRODUCTS_FILE).is_file():
            write_catalog(out, self.n_products, self.seed)
        return out


class Catalog:
    """Products, goal tables and the search index of one data source (read-only after construction)."""

    def __init__(self, source: CatalogSource):
        self.source = source
        self.data_dir = source.resolved_dir()
        files = real_data.find_data_files(self.data_dir)
        if source.verify_data:
            for path in (files.products, files.attributes, files.human):
                if path is not None:
                    real_data.verify_file(path)
        self.files = files
        self.fingerprint = real_data.file_fingerprint(files.products)[:16]
        attributes = real_data.load_json_object(files.attributes)
        human = real_data.load_json_object(files.human) if files.human else {}
        self.asins: list[str] = []
        self.index_of: dict[str, int] = {}
        self._blobs: list[bytes] = []
        summaries = []
        for raw in real_data.iter_json_array(files.products):
            asin = raw.get("asin")
            if not isinstance(asin, str) or asin == "nan" or len(asin) > 10 or asin in self.index_of:
                continue
            record = derive_record(raw, attributes.get(asin), human.get(asin), source.price_seed)
            self.index_of[asin] = len(self.asins)
            self.asins.append(asin)
            self._blobs.append(zlib.compress(json.dumps(record, ensure_ascii=False).encode("utf-8"), 6))
            summaries.append(_goal_summary(record))
        del attributes, human
        if not self.asins:
            raise real_data.DataFileError(f"{files.products} holds no usable products")
        self.goal_tables: dict[str, GoalTable] = build_goal_tables(summaries, self.asins)
        self._product = lru_cache(maxsize=512)(self._decode)
        self._search = None
        self._search_lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.asins)

    def _decode(self, i: int) -> Product:
        return Product.from_record(json.loads(zlib.decompress(self._blobs[i])))

    def product(self, key: int | str) -> Product:
        """A product by index or ASIN (``KeyError`` for an unknown ASIN)."""
        return self._product(self.index_of[key] if isinstance(key, str) else key)

    def record(self, i: int) -> dict:
        return json.loads(zlib.decompress(self._blobs[i]))

    @property
    def search(self):
        """The catalog's :class:`~spear_envs.webshop.search.SearchIndex` (built or loaded on first use)."""
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


def _goal_summary(record: dict) -> dict:
    """The small part of a derived record that goal building needs (kept only during loading)."""
    return {
        "n_combos": _n_combos(record["options"]) if record["instruction_text"] else 0,
        "instruction_attributes": record["instruction_attributes"] if record["instruction_text"] else [],
        "human": [
            i for i, h in enumerate(record["human_instructions"]) if h.get("instruction_attributes")
        ],
        "human_attributes": [h.get("instruction_attributes") or [] for h in record["human_instructions"]],
    }


def _n_combos(options: dict[str, list[str]]) -> int:
    n = 1  # an empty option group gives no combination at all (as itertools.product)
    for values in options.values():
        n *= len(values)
    return n


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
           "default_data_dir"]
