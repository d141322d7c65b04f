"""WebShop's reward, faithful to upstream WebShop. Pure functions.

    R = r_type * (A + O + [price <= price_upper]) / (|goal attributes| + |goal options| + 1)

* ``A``: goal attributes matched by a product attribute with thefuzz ``token_set_ratio > 85`` (thefuzz's
  preprocessing: lower-case, non-alphanumerics to spaces, ASCII only, ``str()`` of non-strings), else by
  a plain case-sensitive substring of the goal attribute in lower(title), lower(joined bullets) or
  lower(description).
* ``O``: goal options matched by a *selected* option value, after :func:`normalize_color` on both sides.
  Human goal options are a list of values; synthetic goal options are a dict whose ``items()`` pairs
  are matched (upstream's quirk: the pair is stringified, so "8" matches ``("size", "8")``).
* ``r_type``: 1, then 0.5 if neither the query, nor >= 2 category segments, nor ``title_score > 0.2``
  match, then 0.1 if ``title_score < 0.1``, then 0 if ``title_score == 0`` (later rules win).
  ``title_score = |set(N(title)) & set(N(goal name))| / len(N(goal name))`` (0.2 when the goal name has
  no nouns); ``N`` is a pluggable noun extractor (:mod:`spear_envs.webshop.nouns`).
* Success is ``R == 1.0`` (not buying the target ASIN).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from thefuzz import fuzz

#: Upstream's colour list (order matters: the first colour that is a substring wins).
COLOR_SET = (
    "alabaster", "apricot", "aqua", "ash", "asphalt", "azure", "banana", "beige", "black", "blue", "blush",
    "bordeaux", "bronze", "brown", "burgundy", "camel", "camo", "caramel", "champagne", "charcoal", "cheetah",
    "chestnut", "chocolate", "christmas", "coffee", "cognac", "copper", "coral", "cranberry", "cream", "crystal",
    "dark", "denim", "eggplant", "elephant", "espresso", "fuchsia", "gold", "granite", "grape", "graphite",
    "grass", "gray", "green", "grey", "heather", "indigo", "ivory", "ivy", "khaki", "lavender", "lemon",
    "leopard", "light", "lilac", "lime", "magenta", "maroon", "mauve", "merlot", "midnight", "mint", "mocha",
    "multicolor", "mushroom", "mustard", "natural", "navy", "nude", "olive", "orange", "peach", "pewter", "pink",
    "plum", "purple", "rainbow", "red", "rose", "royal", "rust", "sand", "sapphire", "seashell", "silver",
    "skull", "slate", "steel", "stone", "stonewash", "sunflower", "tan", "taupe", "teal", "tiger", "turquoise",
    "violet", "walnut", "wheat", "white", "wine", "yellow",
)
FUZZ_THRESHOLD = 85


def normalize_color(value: Any) -> Any:
    """The first colour of :data:`COLOR_SET` contained in ``value`` (``in``: substring for a str,
    membership for a tuple), else ``value`` unchanged."""
    for color in COLOR_SET:
        if color in value:
            return color
    return value


def fuzzy_match(a: Any, b: Any) -> bool:
    """thefuzz ``token_set_ratio(a, b) > 85`` with thefuzz's default preprocessing."""
    return fuzz.token_set_ratio(a, b) > FUZZ_THRESHOLD


def attribute_matches(goal_attributes: Sequence[str], product_attributes: Sequence[str], title: str,
                      bullets: Sequence[str], description: str) -> int:
    """Number of goal attributes matched (fuzzy against product attributes, else substring in the text)."""
    title_l, bullets_l, desc_l = title.lower(), " ".join(bullets).lower(), description.lower()
    n = 0
    for g in goal_attributes:
        if any(fuzzy_match(p, g) for p in product_attributes) or g in title_l or g in bullets_l or g in desc_l:
            n += 1
    return n


def option_matches(selected: Iterable[Any], goal_options: Iterable[Any]) -> int:
    """Number of goal options matched by a selected value (both sides colour-normalised, then fuzzy)."""
    chosen = [normalize_color(s) for s in selected]
    return sum(1 for g in (normalize_color(g) for g in goal_options) if any(fuzzy_match(s, g) for s in chosen))


def goal_option_items(goal_options: dict | Sequence[str]) -> list[Any]:
    """What upstream matches against: the dict's ``(name, value)`` items, or the list of values."""
    return list(goal_options.items()) if isinstance(goal_options, dict) else list(goal_options)


def title_score(product_nouns: Sequence[str], goal_nouns: Sequence[str]) -> float:
    if not goal_nouns:
        return 0.2
    return len(set(product_nouns) & set(goal_nouns)) / len(goal_nouns)


def type_reward(query_match: bool, category_match: bool, score: float) -> float:
    """``r_type`` from its three signals, with upstream's override order."""
    r = 1.0
    if not (query_match or category_match or score > 0.2):
        r = 0.5
    if score < 0.1:
        r = 0.1
    if score == 0.0:
        r = 0.0
    return r


def category_match(a: str, b: str) -> bool:
    """Two ``›``-separated category paths share at least 2 segments."""
    return len({s.strip() for s in a.split("›")} & {s.strip() for s in b.split("›")}) >= 2


def total_reward(r_type: float, n_attr: int, n_opt: int, price_ok: bool, n_goal_attr: int, n_goal_opt: int) -> float:
    """The final formula."""
    return r_type * (n_attr + n_opt + int(price_ok)) / (n_goal_attr + n_goal_opt + 1)


@dataclass(frozen=True)
class RewardInfo:
    """The score and its breakdown (upstream's verbose reward info)."""

    score: float
    r_type: float
    r_att: float | None
    r_option: float | None
    r_price: bool
    query_match: bool
    category_match: bool
    title_score: float

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def compute_reward(product, goal, selected_options: dict[str, str], nouns) -> RewardInfo:
    """Score buying ``product`` (a catalog Product) with ``selected_options`` for ``goal`` (a Goal).

    ``nouns`` is a noun extractor (``nouns.nouns(text) -> list[str]``).
    """
    q_match = product.query == goal.query
    c_match = category_match(product.product_category, goal.product_category)
    t_score = title_score(nouns.nouns(product.title), nouns.nouns(goal.name))
    r_type = type_reward(q_match, c_match, t_score)
    n_attr = attribute_matches(goal.attributes, product.attributes, product.title, product.bullets,
                               product.description)
    goal_opts = goal_option_items(goal.goal_options)
    n_opt = option_matches(list(selected_options.values()), goal_opts)
    price_ok = product.price <= goal.price_upper
    score = total_reward(r_type, n_attr, n_opt, price_ok, len(goal.attributes), len(goal_opts))
    return RewardInfo(
        score=score, r_type=r_type,
        r_att=n_attr / len(goal.attributes) if goal.attributes else None,
        r_option=n_opt / len(goal_opts) if goal_opts else None,
        r_price=bool(price_ok), query_match=q_match, category_match=c_match, title_score=t_score,
    )
