"""Goals (instruction + target attributes/options + price cap) and the fixed train/eval/test splits.

Upstream WebShop's goal rules, reproduced:

* **synthetic** goals: one per element of the Cartesian product of a product's option values (option
  names sorted), text ``"{instruction}[ with name: value, and name: value][price clause]"``,
  ``goal_options`` a dict; weight = mean over its attributes of ``1 / count(attribute over all goals)``.
* **human** goals: one per human instruction with non-empty ``instruction_attributes``; text = the
  instruction with trailing periods stripped + price clause; ``goal_options`` the list of option values.
* **price cap**: grid 10, 20, ..., 990; take the first 4 values strictly above the target's actual
  price; if at least 2, sample 2 and keep the larger (text ``", and price lower than X.00 dollars"``),
  else 1e6 and no text. Draws are seeded per goal by ``(goal_seed, asin, index)``, never global state.

**Splits are by target product**, fixed by a catalog-level seed: the products that carry goals are
shuffled once and cut 10% test / 10% eval / 80% train, so no product (and hence no goal) is in two
splits, however many workers or env seeds are used. (Upstream peers re-shuffle per worker seed and
leak test goals into training.) Goals are materialised lazily: a 100k-product catalog holds ~10^5-10^6
goals as two int32 arrays.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from spear_envs.webshop.catalog import Catalog, Product

SPLITS = ("train", "eval", "test")
SPLIT_SEED = 233
GOAL_SEED = 233
_FRACTIONS = {"test": 0.1, "eval": 0.1}


@dataclass(frozen=True)
class Goal:
    """One shopping goal (upstream's goal record plus ``kind`` and ``goal_id``)."""

    asin: str
    category: str
    query: str
    name: str
    product_category: str
    instruction_text: str
    attributes: tuple[str, ...]
    price_upper: float
    goal_options: dict[str, str] | tuple[str, ...]  # dict: synthetic goals; tuple of values: human goals
    weight: float
    kind: str
    goal_id: str

    def option_values(self) -> list[str]:
        """The option values a buyer should select."""
        return list(self.goal_options.values()) if isinstance(self.goal_options, dict) else list(self.goal_options)

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["attributes"] = list(self.attributes)
        d["goal_options"] = dict(self.goal_options) if isinstance(self.goal_options, dict) else list(self.goal_options)
        return d


def price_cap(price: float, rng: random.Random) -> tuple[float, str]:
    """(price_upper, text clause) by upstream's rule; see the module docstring."""
    above = [p for p in range(10, 1000, 10) if p > price][:4]
    if len(above) < 2:
        return 1_000_000.0, ""
    upper = float(max(rng.sample(above, 2)))
    return upper, f", and price lower than {upper:.2f} dollars"


def option_combo(options: dict[str, list[str]], index: int) -> dict[str, str]:
    """The ``index``-th element of the Cartesian product over sorted option names (last name fastest)."""
    names = sorted(options)
    out: dict[str, str] = {}
    for name in reversed(names):
        values = options[name]
        index, j = divmod(index, len(values))
        out[name] = values[j]
    return {n: out[n] for n in names}


def _split_of_products(asins: list[str], product_ids: list[int]) -> dict[int, int]:
    """Product index -> split number (0 train, 1 eval, 2 test), fixed by SPLIT_SEED."""
    ordered = sorted(product_ids, key=lambda i: asins[i])
    random.Random(SPLIT_SEED).shuffle(ordered)
    n = len(ordered)
    n_test = max(1, round(n * _FRACTIONS["test"])) if n >= 3 else 0
    n_eval = max(1, round(n * _FRACTIONS["eval"])) if n >= 3 else 0
    out = {}
    for rank, i in enumerate(ordered):
        out[i] = 2 if rank < n_test else 1 if rank < n_test + n_eval else 0
    return out


class GoalTable:
    """All goals of one kind: ``(product index, sub-index)`` pairs, weights and split labels."""

    def __init__(self, kind: str, products: np.ndarray, subs: np.ndarray, weights: np.ndarray, splits: np.ndarray):
        self.kind, self.products, self.subs, self.weights, self.splits = kind, products, subs, weights, splits
        self._split_cache: dict[str, tuple[np.ndarray, np.ndarray | None]] = {}

    def sizes(self) -> dict[str, int]:
        return {name: int((self.splits == k).sum()) for k, name in enumerate(SPLITS)}

    def split(self, name: str, catalog: "Catalog") -> "GoalSplit":
        if name not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {name!r}")
        if name not in self._split_cache:  # computed once per process (millions of goals at 1.18M products)
            ids = np.flatnonzero(self.splits == SPLITS.index(name))
            self._split_cache[name] = (ids, sampling_cdf(self.weights[ids]) if len(ids) else None)
        ids, cdf = self._split_cache[name]
        return GoalSplit(self, ids, name, catalog, cdf)


class GoalSplit:
    """The goals of one split, materialised on access (``len``, ``[i]``, :meth:`sample`)."""

    def __init__(self, table: GoalTable, ids: np.ndarray, name: str, catalog: "Catalog",
                 cdf: np.ndarray | None = None):
        self.table, self.ids, self.name, self.catalog = table, ids, name, catalog
        self._cdf = cdf if cdf is not None or not len(ids) else sampling_cdf(table.weights[ids])

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> Goal:
        if not 0 <= i < len(self.ids):
            raise IndexError(f"goal index {i} out of range for the {self.name} split ({len(self.ids)} goals)")
        g = int(self.ids[i])
        product = self.catalog.product(int(self.table.products[g]))
        return make_goal(product, self.table.kind, int(self.table.subs[g]), float(self.table.weights[g]))

    def sample(self, rng: np.random.Generator) -> int:
        """A goal index drawn with the goals' weights (upstream favours rare attributes).

        The same draw as ``rng.choice(len(self), p=w / w.sum())`` (one ``rng.random()`` located in the
        normalised cumulative weights), without rebuilding the cumulative sum of millions of goals per call.
        """
        if not len(self.ids):
            raise ValueError(f"the {self.name} split has no goals to sample")
        return int(self._cdf.searchsorted(rng.random(), side="right"))


def sampling_cdf(weights: np.ndarray) -> np.ndarray:
    """Normalised cumulative weights, as ``numpy.random.Generator.choice`` builds them: ``cumsum(p) / last``
    with ``p = weights / sum(weights)``."""
    w = np.asarray(weights, dtype=np.float64)
    cdf = (w / w.sum()).cumsum()
    cdf /= cdf[-1]
    return cdf


def make_goal(product: "Product", kind: str, sub: int, weight: float) -> Goal:
    """Goal ``sub`` of ``product`` (a combo index for synthetic goals, an instruction index for human)."""
    rng = random.Random(f"{GOAL_SEED}:{product.asin}:{kind}:{sub}")
    upper, price_text = price_cap(product.price, rng)
    if kind == "synthetic":
        options = option_combo(product.options, sub)
        option_text = ", and ".join(f"{k}: {v}" for k, v in options.items())
        text = (product.instruction_text or "").strip(".") + (f" with {option_text}" if option_text else "") + price_text
        attributes: tuple[str, ...] = product.instruction_attributes
        goal_options: dict[str, str] | tuple[str, ...] = options
    else:
        human = product.human_instructions[sub]
        text = str(human.get("instruction", "")).strip(".") + price_text
        attributes = tuple(human.get("instruction_attributes") or [])
        goal_options = tuple(str(o) for o in human.get("instruction_options") or [])
    return Goal(product.asin, product.category, product.query, product.title, product.product_category, text,
                attributes, upper, goal_options, weight, kind, f"{kind}:{product.asin}:{sub}")


def build_goal_tables(summaries: list[dict], asins: list[str]) -> dict[str, GoalTable]:
    """Goal tables ``{"synthetic": ..., "human": ...}`` from the per-product summaries made at load time.

    Goals are listed product by product (sub-indices in order). A synthetic goal's weight is the mean
    over its attributes ``a`` of ``1 / count(a)``, ``count(a)`` = the number of synthetic goals whose
    attributes include ``a``; all goals of a product share its attributes, so the weight is computed
    once per product and repeated (1.0 without attributes; human goals weigh 1.0).
    """
    tables = {}
    for kind in ("synthetic", "human"):
        if kind == "synthetic":
            per_product = [(i, s["n_combos"]) for i, s in enumerate(summaries) if s["n_combos"] > 0]
            counts: Counter = Counter()
            for i, n in per_product:
                for a in summaries[i]["instruction_attributes"]:
                    counts[a] += n
            prods = np.repeat(np.asarray([i for i, _ in per_product], dtype=np.int32),
                              [n for _, n in per_product]).astype(np.int32)
            starts = np.cumsum([0] + [n for _, n in per_product])
            subs = (np.arange(starts[-1]) - np.repeat(starts[:-1], [n for _, n in per_product])).astype(np.int32)
            product_weights = [
                float(np.mean([1.0 / counts[a] for a in attrs])) if (attrs := summaries[i]["instruction_attributes"])
                else 1.0 for i, _ in per_product
            ]
            weights = np.repeat(np.asarray(product_weights, dtype=np.float64), [n for _, n in per_product])
        else:
            pairs = [(i, k) for i, s in enumerate(summaries) for k in s["human"]]
            prods = np.asarray([i for i, _ in pairs], dtype=np.int32)
            subs = np.asarray([k for _, k in pairs], dtype=np.int32)
            weights = np.ones(len(pairs), dtype=np.float64)
        split_of = _split_of_products(asins, sorted(set(prods.tolist())))
        split_by_product = np.zeros(len(summaries), dtype=np.int8)
        for i, k in split_of.items():
            split_by_product[i] = k
        tables[kind] = GoalTable(kind, prods, subs, weights.astype(np.float64), split_by_product[prods])
    return tables
