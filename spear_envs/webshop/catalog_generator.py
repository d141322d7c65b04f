"""Deterministic WebShop catalog generator that writes the *upstream raw file format*.

``generate_catalog(n_products, seed)`` returns ``(products, attributes, human_instructions)``:

* ``products``: a list of raw product records as in ``items_shuffle_1000.json`` (name, full_description,
  pricing, images, product_category, small_description, customization_options, asin, category, query,
  plus the scraping-only keys upstream drops), plus a ``reviews`` list (our extension; upstream's
  loader ignores unknown keys, ours shows them on the Reviews page).
* ``attributes``: ``{asin: {"attributes": [...], "instruction"?: str, "instruction_attributes"?: [...]}}``
  as in ``items_ins_v2_1000.json``. Synthetic instructions follow upstream's grammar
  "Find me {PROP} {query} with {ITEM} for {USE}"; every instruction attribute appears verbatim.
* ``human_instructions``: ``{asin: [record, ...]}`` as in ``items_human_ins.json`` (paraphrased,
  human-style instructions with ``instruction_attributes`` and ``instruction_options`` subsets).

Products come in families of near-duplicates: a base product plus 0-3 siblings that differ in exactly
one way (one instruction attribute swapped, an option value missing, or a price far above any cap the
base's goals get), so an agent has to read item pages instead of buying the first hit.
The same ``(n_products, seed)`` always gives byte-identical files (``write_catalog``).
"""

from __future__ import annotations

import json
import mmap
import os
import random
import tempfile
from pathlib import Path
from typing import Any, Callable

from spear_envs.webshop.taxonomy import BRANDS, PRODUCT_TYPES, ProductType

#: Bump on any change to the generated records (the on-disk cache is keyed by it).
GENERATOR_VERSION = "2"
PRODUCTS_FILE = "items_shuffle_generated.json"
ATTRIBUTES_FILE = "items_ins_v2_generated.json"
HUMAN_INS_FILE = "items_human_ins_generated.json"
_ASIN_CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"

_BULLETS = (
    "{Attr}: designed with {attr} so it keeps up with {use}.",
    "Made for {use}; {attr} you notice from the first day.",
    "What you get: {noun} from {brand}, backed by a 30-day return window.",
    "{Attr} construction, checked by hand before it ships.",
    "Easy to care for and easy to store when not in use.",
    "Size and fit: see the option list and pick the one that matches your needs.",
)
_DESCRIPTIONS = (
    "The {brand} {noun} is built for people who care about {use}.",
    "Every item we make is tested for quality before it leaves our workshop.",
    "Pair it with the rest of our {query} range for a consistent look.",
    "Customers choose it for everyday reliability and honest pricing.",
    "If it is not what you expected, contact us and we will make it right.",
)
_REVIEW_TITLES = ("Works as described", "Good value", "Not bad", "Would buy again", "Disappointed", "Love it")
_REVIEW_BODIES = (
    "Arrived on time and matches the pictures.", "Quality is fine for the price.",
    "Smaller than I expected, check the sizes.", "Exactly what I needed, no complaints.",
    "Stopped working after a few weeks.", "My second one, still happy with it.",
)
_HUMAN_TEMPLATES = (
    "i need a {attrs} {query}{opts}",
    "i'm looking for {query} that is {attrs}{opts}",
    "i want to buy {attrs} {query}{opts}",
    "find me a {query}, it should be {attrs}{opts}",
)


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def _title_case(s: str) -> str:
    return " ".join(w[:1].upper() + w[1:] for w in s.split(" "))


def _raw_option_value(value: str) -> str:
    """Upstream stores "Grey/White" and the loader turns it into "grey | white"; mirror that."""
    return _title_case(value.replace(" | ", "/"))


class _Generator:
    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.asins: set[str] = set()

    def asin(self) -> str:
        while True:
            a = "S" + "".join(self.rng.choice(_ASIN_CHARS) for _ in range(9))
            if a not in self.asins:
                self.asins.add(a)
                return a

    def attributes(self, ptype: ProductType) -> list[str]:
        """0-8 attributes, about 18% of products with none and a mean near 2.8 (as the real file)."""
        rng = self.rng
        if rng.random() < 0.18:
            return []
        pool = [("prop", a) for a in ptype.prop] + [("item", a) for a in ptype.item] + [("use", a) for a in ptype.use]
        k = min(len(pool), max(1, round(rng.gauss(3.3, 1.3))), 8)
        return [a for _, a in rng.sample(pool, k)]

    def options(self, ptype: ProductType) -> dict[str, list[str]]:
        rng = self.rng
        out: dict[str, list[str]] = {}
        for name, values in ptype.options:
            if rng.random() < 0.15:  # some products of a type do not offer every dimension
                continue
            k = rng.randint(2, min(len(values), 5 if len(out) else 6))
            picked = sorted(rng.sample(range(len(values)), k))
            out[name] = [values[i] for i in picked]
        return out

    def price(self, ptype: ProductType) -> str:
        rng = self.rng
        lo, hi = ptype.price
        center = rng.uniform(lo, hi)
        r = rng.random()
        if r < 0.05:
            return ""
        if r < 0.30:
            a = round(center * rng.uniform(0.7, 0.95), 2)
            b = round(center * rng.uniform(1.05, 1.4), 2)
            return f"${a:.2f} - ${b:.2f}"
        return f"${center:.2f}"

    def base_product(self, ptype: ProductType) -> dict[str, Any]:
        rng = self.rng
        return {
            "ptype": ptype,
            "brand": rng.choice(BRANDS),
            "noun": rng.choice(ptype.nouns),
            "attributes": self.attributes(ptype),
            "options": self.options(ptype),
            "pricing": self.price(ptype),
            "filler": rng.choice(ptype.prop),  # a word shown in the title even if not an attribute
            "bullet_ids": rng.sample(range(len(_BULLETS)), rng.randint(3, 5)),
            "desc_ids": rng.sample(range(len(_DESCRIPTIONS)), rng.randint(2, 4)),
            "n_reviews": rng.choice((0, 0, 1, 2, 3)),
        }

    def sibling(self, base: dict[str, Any], instruction_attrs: list[str]) -> dict[str, Any]:
        """A near-duplicate of ``base`` that differs in exactly one way."""
        rng = self.rng
        sib = dict(base, attributes=list(base["attributes"]), options={k: list(v) for k, v in base["options"].items()})
        sib["brand"] = rng.choice(BRANDS)
        kinds = ["price"]
        if instruction_attrs:
            kinds.append("attribute")
        if any(len(v) > 2 for v in sib["options"].values()):
            kinds.append("option")
        kind = rng.choice(kinds)
        ptype: ProductType = base["ptype"]
        if kind == "attribute":
            old = rng.choice(instruction_attrs)
            same_tag = next(group for group in (ptype.prop, ptype.item, ptype.use) if old in group)
            choices = [a for a in same_tag if a not in sib["attributes"]] or [a for a in ptype.prop + ptype.item
                                                                              if a not in sib["attributes"]]
            if choices:
                sib["attributes"][sib["attributes"].index(old)] = rng.choice(choices)
            else:
                sib["attributes"].remove(old)
            sib["banned"] = base.get("banned", ()) + (old,)  # never planted in the sibling's text
            if sib["filler"] == old:
                sib["filler"] = rng.choice([a for a in ptype.prop if a != old] or [""])
        elif kind == "option":
            name = rng.choice([k for k, v in sib["options"].items() if len(v) > 2])
            sib["options"][name].pop(rng.randrange(len(sib["options"][name])))
        else:
            top = max(_parse_prices(base["pricing"]) or [100.0])
            sib["pricing"] = f"${top + rng.uniform(45, 90):.2f}"
        return sib

    def render(self, spec: dict[str, Any], asin: str) -> dict[str, Any]:
        """Turn a product spec into an upstream raw record. Attributes are planted in the text."""
        rng = self.rng
        ptype: ProductType = spec["ptype"]
        attrs: list[str] = spec["attributes"]
        props = [a for a in attrs if a in ptype.prop]
        items = [a for a in attrs if a in ptype.item]
        uses = [a for a in attrs if a in ptype.use]
        lead = props[:2] or ([spec["filler"]] if spec["filler"] else [])
        name = f"{spec['brand']} {_title_case(' '.join(lead))} {_title_case(spec['noun'])}".replace("  ", " ")
        if items:
            name += f" with {_title_case(items[0])}"
        if uses:
            name += f" for {_title_case(uses[0])}"
        rest = [a for a in attrs if a not in lead[:2] and a not in items[:1] and a not in uses[:1]]
        use = uses[0] if uses else rng.choice(ptype.use)
        bullets = []
        for i, b in enumerate(spec["bullet_ids"]):
            fillers = [a for a in ptype.prop if a not in spec.get("banned", ())] or ["well made"]
            attr = rest[i] if i < len(rest) else rng.choice(fillers)
            if attr not in attrs and any(attr in a or a in attr for a in attrs):
                attr = "well made"
            bullets.append(_BULLETS[b].format(attr=attr, Attr=_cap(attr), use=use, noun=spec["noun"],
                                              brand=spec["brand"]))
        description = " ".join(
            _DESCRIPTIONS[d].format(brand=spec["brand"], noun=spec["noun"], use=use, query=ptype.query)
            for d in spec["desc_ids"]
        )
        options = {
            _cap(k): [{"value": _raw_option_value(v), "image": f"https://images.invalid/{asin}/{k}/{j}.jpg"}
                      for j, v in enumerate(vals)]
            for k, vals in spec["options"].items()
        }
        reviews = [
            {"score": s, "title": rng.choice(_REVIEW_TITLES), "body": rng.choice(_REVIEW_BODIES)}
            for s in (rng.choice((1, 3, 4, 5, 5)) for _ in range(spec["n_reviews"]))
        ]
        return {
            "name": name,
            "product_information": {"Manufacturer": spec["brand"]},
            "brand": spec["brand"],
            "brand_url": "",
            "full_description": description,
            "pricing": spec["pricing"],
            "list_price": "",
            "availability_status": "In Stock.",
            "images": [f"https://images.invalid/{asin}/main.jpg", "https://images.invalid/pixel.gif"],
            "product_category": " › ".join(ptype.path),
            "average_rating": "",
            "small_description": bullets,
            "total_reviews": str(len(reviews)),
            "total_answered_questions": "",
            "customization_options": options or "",
            "seller_id": "",
            "seller_name": spec["brand"],
            "fulfilled_by_amazon": "",
            "fast_track_message": "",
            "aplus_present": "",
            "asin": asin,
            "category": ptype.category,
            "query": ptype.query,
            "page": 1,
            "small_description_old": "",
            "reviews": reviews,
        }

    def instruction(self, spec: dict[str, Any]) -> tuple[str, list[str]] | None:
        """Upstream-grammar instruction "Find me {PROP} {query} with {ITEM} for {USE}" (>= 2 attributes)."""
        rng = self.rng
        ptype: ProductType = spec["ptype"]
        attrs = spec["attributes"]
        if len(attrs) < 2:
            return None
        chosen = rng.sample(attrs, rng.randint(2, min(len(attrs), 4)))
        props = [a for a in chosen if a in ptype.prop]
        items = [a for a in chosen if a in ptype.item]
        uses = [a for a in chosen if a in ptype.use]
        text = "Find me " + (", ".join(props) + " " if props else "") + ptype.query
        if items:
            text += " with " + " and ".join(items)
        if uses:
            text += " for " + " and ".join(uses)
        return text, props + items + uses

    def human_instruction(self, spec: dict[str, Any], asin: str, instruction_attrs: list[str]) -> dict[str, Any]:
        rng = self.rng
        ptype: ProductType = spec["ptype"]
        attrs = rng.sample(instruction_attrs, rng.randint(1, len(instruction_attrs)))
        chosen_opts = [rng.choice(v) for v in spec["options"].values() if rng.random() < 0.8]
        opts = (" in " + " and ".join(chosen_opts)) if chosen_opts else ""
        text = rng.choice(_HUMAN_TEMPLATES).format(attrs=" and ".join(attrs), query=ptype.query, opts=opts)
        return {
            "asin": asin,
            "instruction": text,
            "attributes": list(spec["attributes"]),
            "options": [f"{k}: {v}" for k, vals in spec["options"].items() for v in vals] or [""],
            "instruction_attributes": attrs,
            "instruction_options": chosen_opts,
            "assignment_id": f"generated-{asin}",
            "worker_id": "generator",
        }


def _parse_prices(pricing: str) -> list[float]:
    import re

    return [float(re.sub(r"[^\d.]", "", p)) for p in pricing.split("$")[1:] if re.sub(r"[^\d.]", "", p)]


def _generate(n_products: int, seed: int, keep) -> tuple[list[int], dict[str, dict], dict[str, list]]:
    """The generator's core: render products in family order, handing each raw record to ``keep``.

    Returns the shuffled file order (indices into the kept sequence), the attribute file and the
    human instructions. ``keep`` may store records in memory or spill them to disk; the RNG stream does
    not depend on it, so every caller gets the same products.
    """
    if not isinstance(n_products, int) or isinstance(n_products, bool) or n_products < 10:
        raise ValueError(f"n_products must be an int >= 10, got {n_products!r}")
    gen = _Generator(seed)
    rng = gen.rng
    attributes: dict[str, dict] = {}
    human: dict[str, list] = {}
    count = 0
    while count < n_products:
        ptype = PRODUCT_TYPES[rng.randrange(len(PRODUCT_TYPES))]
        base = gen.base_product(ptype)
        ins = gen.instruction(base) if rng.random() < 0.7 else None
        family = [(base, ins)]
        for _ in range(rng.choice((0, 1, 1, 2, 3))):
            sib = gen.sibling(base, ins[1] if ins else [])
            family.append((sib, gen.instruction(sib) if rng.random() < 0.4 else None))
        for spec, ins_ in family:
            if count >= n_products:
                break
            asin = gen.asin()
            keep(gen.render(spec, asin))
            count += 1
            record: dict[str, Any] = {"attributes": list(spec["attributes"])}
            if ins_:
                record["instruction"], record["instruction_attributes"] = ins_
                if rng.random() < 0.35:
                    human[asin] = [gen.human_instruction(spec, asin, ins_[1])]
            attributes[asin] = record
    order = list(range(count))
    rng.shuffle(order)  # upstream's file is "shuffled": families are not adjacent
    return order, attributes, human


def generate_catalog(n_products: int = 1000, seed: int = 0) -> tuple[list[dict], dict[str, dict], dict[str, list]]:
    """Generate ``n_products`` raw product records, their attribute file and human instructions.

    Deterministic in ``(n_products, seed)``. Raises ``ValueError`` for ``n_products < 10``. Holds every
    record in memory; :func:`write_catalog` streams them to disk instead (any size).
    """
    products: list[dict] = []
    order, attributes, human = _generate(n_products, seed, products.append)
    return [products[i] for i in order], attributes, human


def write_catalog(out_dir: str | os.PathLike, n_products: int = 1000, seed: int = 0,
                  progress: Callable[[str], None] | None = None) -> Path:
    """Write the three generated files into ``out_dir`` (atomically, byte-stable) and return it.

    The product file is the byte-identical ``json.dumps(products, ensure_ascii=False)`` of
    :func:`generate_catalog`, written without holding the records in memory: each rendered record is
    spilled to a scratch file as it is made, then copied out in the shuffled order, so a 1.18M-product
    catalog (several GB of JSON) needs memory only for the attribute and human-instruction files.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tmp_products = out / f".{PRODUCTS_FILE}.{os.getpid()}.tmp"
    with tempfile.TemporaryFile(dir=out) as spill:
        offsets = [0]

        def keep(record: dict) -> None:
            offsets.append(offsets[-1] + spill.write(json.dumps(record, ensure_ascii=False).encode("utf-8")))
            if progress and len(offsets) % 100_000 == 1:
                progress(f"generated {len(offsets) - 1:,} / {n_products:,} products")

        order, attributes, human = _generate(n_products, seed, keep)
        spill.flush()
        with mmap.mmap(spill.fileno(), 0, access=mmap.ACCESS_READ) as view, open(tmp_products, "wb") as f:
            f.write(b"[")
            for k, i in enumerate(order):
                if k:
                    f.write(b", ")
                f.write(view[offsets[i]:offsets[i + 1]])
            f.write(b"]")
    for name, data in ((ATTRIBUTES_FILE, attributes), (HUMAN_INS_FILE, human)):
        tmp = out / f".{name}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, out / name)
    os.replace(tmp_products, out / PRODUCTS_FILE)  # last: its presence means the set is complete
    return out
