"""The WebShop site as a page model: state, actions, and text / text_rich / HTML renderings.

One :class:`Shop` drives one shopping session (the env owns one; the web app one per visitor) over a
shared catalog. Pages and transitions follow upstream WebShop:

========== ====================================================== ===========================================
page        shows                                                   clickables
========== ====================================================== ===========================================
search      "WebShop", instruction, search box                       ``search`` (refused, as upstream)
results     "Page p (Total results: n)", 10 items (ASIN, title,      back to search, < prev (p > 1), next >,
            price)                                                   each ASIN (lower-cased)
item        option groups, title, price, rating, sub-page buttons    back to search, < prev, option values,
                                                                     description, features, reviews,
                                                                     (attributes), buy now
sub         description / features / reviews / attributes            back to search, < prev
done        thank-you text, purchase/target dump, score              none
========== ====================================================== ===========================================

A page is rendered to a list of :class:`Node` (visible text, kind, action), from which the ``text``
observation (nodes joined by ``" [SEP] "``, as upstream's visible-text mode), ``text_rich`` and the HTML
page (``web/templates/page.html``, also served by the Flask app) are all made, so the three never drift.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from spear_envs.webshop.reward import RewardInfo, compute_reward

if TYPE_CHECKING:
    from spear_envs.webshop.catalog import Catalog, Product
    from spear_envs.webshop.goal_generator import Goal

PAGE_SIZE = 10
SEP = " [SEP] "
SUB_PAGES = ("description", "features", "reviews", "attributes")
_ACTION = re.compile(r"^\s*(search|click)\[(.*)\]\s*$", re.DOTALL | re.IGNORECASE)


@dataclass(frozen=True)
class Node:
    """One visible piece of a page. ``kind``: text | title | button | link | option | group | input."""

    text: str
    kind: str = "text"
    action: str | None = None  # the env action that clicking it performs
    selected: bool = False


@dataclass
class ShopState:
    """Everything one session remembers (plain data: picklable and copyable)."""

    page: str = "search"
    keywords: str = ""
    results: list[int] = field(default_factory=list)
    page_num: int = 1
    asin: str | None = None
    options: dict[str, str] = field(default_factory=dict)
    sub_page: str | None = None
    visited: list[str] = field(default_factory=list)
    reward: dict[str, Any] | None = None
    purchased: str | None = None


class InvalidAction(ValueError):
    """An action the current page does not accept; the message says why."""


def parse_action(action: str) -> tuple[str, str]:
    """``"search[q]"``/``"click[x]"`` -> (kind, lower-cased stripped argument); ``InvalidAction`` otherwise."""
    m = _ACTION.match(action)
    if not m:
        raise InvalidAction(f"unrecognised action {action[:80]!r}: use search[<query>] or click[<button>]")
    kind, arg = m.group(1).lower(), m.group(2).strip().lower()
    if not arg:
        raise InvalidAction(f"{kind}[] needs a non-empty argument")
    return kind, arg


class Shop:
    """One shopping session over ``catalog`` for ``goal``. ``step(action)`` mutates :attr:`state`.

    Options: ``show_attrs`` adds the Attributes sub-page; ``search_anywhere`` accepts ``search[...]``
    from every page (upstream behaviour; admissible actions still list it only on the search page);
    ``hide_done_dump`` drops the purchase/target dump from the done page.
    """

    def __init__(self, catalog: "Catalog", goal: "Goal", nouns, *, show_attrs: bool = False,
                 search_anywhere: bool = True, hide_done_dump: bool = False):
        self.catalog, self.goal, self.nouns = catalog, goal, nouns
        self.show_attrs, self.search_anywhere, self.hide_done_dump = show_attrs, search_anywhere, hide_done_dump
        self.state = ShopState()

    # ------------------------------------------------------------------ actions
    @property
    def done(self) -> bool:
        return self.state.page == "done"

    def has_search_bar(self) -> bool:
        return self.state.page == "search"

    def clickables(self) -> list[str]:
        """Lower-cased clickable labels of the current page (``search`` included but refused)."""
        return [n.action[6:-1] for n in self.nodes() if n.action and n.action.startswith("click[")]

    def admissible_actions(self) -> list[str]:
        acts = ["search[<query>]"] if self.has_search_bar() else []
        return acts + [f"click[{c}]" for c in self.clickables() if c != "search"]

    def step(self, action: str) -> RewardInfo | None:
        """Apply one action. Returns the reward info when it was ``buy now``; ``InvalidAction`` if refused."""
        if self.done:
            raise InvalidAction("the purchase is complete; start a new session")
        kind, arg = parse_action(action)
        s = self.state
        if kind == "search":
            if not (self.search_anywhere or self.has_search_bar()):
                raise InvalidAction("there is no search bar on this page")
            self._search(arg)
            return None
        if arg == "search":
            raise InvalidAction("click[search] is not accepted: type search[<query>] instead")
        if arg not in self.clickables():
            shown = ", ".join(self.clickables()[:8])
            raise InvalidAction(f"{arg[:60]!r} is not clickable on this page (clickable: {shown})")
        if arg == "back to search":
            self.state = ShopState(visited=s.visited)
        elif s.page == "results":
            if arg == "next >":
                s.page_num += 1
            elif arg == "< prev":
                s.page_num -= 1
            else:
                s.page, s.asin, s.options = "item", self._result_asin(arg), {}
                if s.asin not in s.visited:
                    s.visited.append(s.asin)
        elif s.page == "item":
            product = self.catalog.product(s.asin)
            if arg == "< prev":
                s.page, s.asin, s.options = "results", None, {}
            elif arg == "buy now":
                return self._buy(product)
            elif arg in SUB_PAGES:
                s.page, s.sub_page = "sub", arg
            else:
                group = next(g for g, values in product.options.items() if arg in values)
                s.options[group] = arg
        elif s.page == "sub":
            if arg == "< prev":
                s.page, s.sub_page = "item", None
        return None

    def _search(self, keywords: str) -> None:
        keywords = " ".join(keywords.split())
        self.state = ShopState(page="results", keywords=keywords, results=self.catalog.search.search(keywords),
                               visited=self.state.visited)

    def _result_asin(self, label: str) -> str:
        for i in self._page_results():
            asin = self.catalog.asins[i]
            if asin.lower() == label:
                return asin
        raise InvalidAction(f"{label!r} is not on this results page")

    def _page_results(self) -> list[int]:
        s = self.state
        return s.results[(s.page_num - 1) * PAGE_SIZE: s.page_num * PAGE_SIZE]

    def _buy(self, product: "Product") -> RewardInfo:
        info = compute_reward(product, self.goal, self.state.options, self.nouns)
        self.state.page, self.state.purchased, self.state.reward = "done", product.asin, info.to_dict()
        return info

    # ------------------------------------------------------------------ rendering
    def nodes(self) -> list[Node]:
        """The current page as visible nodes (see the module docstring); empty texts are dropped."""
        out = []
        for n in self._nodes():
            text = " ".join(n.text.split())
            if text:
                out.append(n if text == n.text else Node(text, n.kind, n.action, n.selected))
        return out

    def _nodes(self) -> list[Node]:
        s, goal = self.state, self.goal
        head = [Node("Instruction:", "label"), Node(goal.instruction_text, "instruction")]
        back = [Node("Back to Search", "button", "click[back to search]")]
        prev = [Node("< Prev", "button", "click[< prev]")]
        if s.page == "search":
            return [Node("WebShop", "heading")] + head + [Node("Search", "button", "click[search]")]
        if s.page == "results":
            out = head + back + [Node(f"Page {s.page_num} (Total results: {len(s.results)})", "text")]
            if s.page_num > 1:
                out += prev
            out.append(Node("Next >", "button", "click[next >]"))
            for i in self._page_results():
                p = self.catalog.product(i)
                out += [Node(p.asin, "link", f"click[{p.asin.lower()}]", p.asin in s.visited),
                        Node(p.title, "title"), Node(p.price_tag, "price")]
            return out
        if s.page in ("item", "sub"):
            p = self.catalog.product(s.asin)
            out = head + back + prev
            if s.page == "sub":
                return out + [Node(t, "text") for t in _sub_page_text(p, s.sub_page)]
            for group, values in p.options.items():
                out.append(Node(group, "group"))
                out += [Node(v, "option", f"click[{v}]", s.options.get(group) == v) for v in values]
            out += [Node(p.title, "title"), Node(f"Price: {p.price_tag}", "price"), Node("Rating: N.A.", "text")]
            subs = SUB_PAGES if self.show_attrs else SUB_PAGES[:3]
            out += [Node(name.capitalize(), "button", f"click[{name}]") for name in subs]
            return out + [Node("Buy Now", "button", "click[buy now]")]
        return self._done_nodes()

    def _done_nodes(self) -> list[Node]:
        s, goal = self.state, self.goal
        out = [Node("Thank you for shopping with us!", "heading")]
        if not self.hide_done_dump:
            p = self.catalog.product(s.purchased)
            out += [Node(t, "text") for t in (
                "Purchased", f"asin: {p.asin}", f"options: {json.dumps(s.options)}", f"attrs: {list(p.attributes)}",
                f"category: {p.category}", f"query: {p.query}", f"product category: {p.product_category}",
                "Target", f"asin: {goal.asin}", f"options: {json.dumps(goal.to_dict()['goal_options'])}",
                f"attrs: {list(goal.attributes)}", f"price upper: {goal.price_upper}",
                f"instruction text: {goal.instruction_text}", f"category: {goal.category}",
                f"product category: {goal.product_category}", f"query: {goal.query}",
            )]
        return out + [Node("Your score (min 0.0, max 1.0)", "text"), Node(str(s.reward["score"]), "score")]

    def text(self) -> str:
        """Upstream's ``text`` observation: visible text nodes joined by ``" [SEP] "``."""
        return SEP.join(n.text for n in self.nodes())

    def text_rich(self) -> str:
        """Upstream's ``text_rich`` observation: one line per node, buttons and clicked state marked."""
        lines, clicked = [], []
        for n in self.nodes():
            if n.kind in ("button", "link", "option"):
                if n.selected:
                    lines.append(f"  [clicked button] {n.text} [clicked button_]")
                    if n.kind == "option":
                        clicked.append(f"You have clicked {n.text}.")
                else:
                    lines.append(f"[button] {n.text} [button_]")
            else:
                lines.append(n.text)
        return "\n".join(clicked + lines)

    def html(self, session: str = "env", base: str = "") -> str:
        """The page as HTML (the same template the web app serves)."""
        return render_html(self.nodes(), session=session, base=base, page=self.state.page)


def _sub_page_text(p: "Product", name: str | None) -> list[str]:
    if name == "description":
        return [p.description]
    if name == "features":
        return list(p.bullets)
    if name == "reviews":
        return [t for r in p.reviews for t in (f"{r.get('score', '')}/5 {r.get('title', '')}".strip(), str(r.get('body', '')))]
    return list(p.attributes) + [f"category: {p.category}", f"query: {p.query}",
                                 f"product category: {p.product_category}"]


@lru_cache(maxsize=1)
def _template():
    from pathlib import Path

    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).parent / "web" / "templates"),
                             autoescape=True, trim_blocks=True, lstrip_blocks=True)
    return env.get_template("page.html")


def render_html(nodes: list[Node], *, session: str, base: str, page: str, message: str | None = None) -> str:
    return _template().render(nodes=nodes, session=session, base=base, page=page, message=message)
