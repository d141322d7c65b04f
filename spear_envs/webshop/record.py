"""One WebShop product record: upstream's derived fields, computed from a raw product (pure functions).

:func:`derive_record` turns a raw product (+ its attribute record and human instructions) into the
record the site shows, exactly as upstream's ``load_products`` does; :class:`Product` is its frozen
form; :func:`goal_summary` is the small part of it that goal building needs.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Any

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


def goal_summary(record: dict) -> dict:
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
