"""An imitable WebShop expert: a buyer that decides only from what an agent sees.

The env's own expert (:mod:`spear_envs.webshop.scripted_buyer`) knows the target product and clicks it
wherever the search ranks it, which measures winnability but cannot be imitated: nothing on the page says
which of ten similar results is the target. This buyer reads only the instruction, the text observation
and the admissible actions, so a policy that sees the same prompt can learn to do what it does
(docs/models.md, 'Data per environment'):

1. search for the instruction without its price clause (the option words help the ranking; the price
   is not searchable);
2. on the results page, click the first result whose price is within the instruction's budget and whose
   title shares the most words with the instruction (ties: the higher-ranked result);
3. on the item page, click each option value the instruction names (in the instruction's order), then
   ``buy now``.

On held-out tasks of the generated catalog it wins about 80% of episodes (the oracle ~94%, "click the
first result" ~60%).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_PRICE_CLAUSE = re.compile(r",? and price lower than ([0-9]+(?:\.[0-9]+)?) dollars\.?\s*$", re.IGNORECASE)
_OPTION = re.compile(r"^([a-z][a-z ]*): (.+)$")
_WORD = re.compile(r"[a-z]+")
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?")
SEP = "[SEP]"


def search_query(instruction: str) -> str:
    """The instruction without its trailing ``, and price lower than X dollars`` clause."""
    return _PRICE_CLAUSE.sub("", instruction.strip())


def price_limit(instruction: str) -> float | None:
    """The budget ``X`` of ``price lower than X dollars``; ``None`` when the instruction has none."""
    match = _PRICE_CLAUSE.search(instruction.strip())
    return float(match.group(1)) if match else None


def instruction_options(instruction: str) -> list[str]:
    """The option values an instruction names, in order: the ``with NAME: VALUE, and NAME: VALUE`` tail of
    ``search_query(instruction)`` (the earliest ``" with "`` after which every ``", and "`` piece is a
    ``name: value`` pair); ``[]`` when there is none."""
    text = search_query(instruction).lower()
    start = text.find(" with ")
    while start >= 0:
        pieces = text[start + len(" with "):].split(", and ")
        matches = [_OPTION.match(p) for p in pieces]
        if all(m and " with " not in m.group(1) for m in matches):
            return [m.group(2).strip() for m in matches]
        start = text.find(" with ", start + 1)
    return []


@dataclass(frozen=True)
class Result:
    """One search result as the page shows it."""

    rank: int
    action: str
    title: str
    price: float | None


def page_results(observation: str, admissible: list[str]) -> list[Result]:
    """The results on a text results page: each ASIN segment (one that is a ``click[...]`` action but not a
    page button) followed by its title and price segments."""
    segments = [s.strip() for s in observation.split(SEP)]
    buttons = {"click[back to search]", "click[next >]", "click[< prev]"}
    allowed = set(admissible) - buttons
    results = []
    for i, segment in enumerate(segments[:-2]):
        action = f"click[{segment.lower()}]"
        if action in allowed:
            number = _NUMBER.search(segments[i + 2])
            results.append(Result(len(results), action, segments[i + 1], float(number.group()) if number else None))
    return results


def pick_result(instruction: str, results: list[Result]) -> Result | None:
    """The result to open: within budget, most title words shared with the instruction, highest rank first.

    ``score(r) = |words(title_r) ∩ words(instruction)|`` over results with ``price_r <= limit`` (all results
    when none is within budget); the first maximiser in page order wins."""
    if not results:
        return None
    limit = price_limit(instruction)
    affordable = [r for r in results if limit is None or r.price is None or r.price <= limit] or results
    words = set(_WORD.findall(instruction.lower()))
    return max(affordable, key=lambda r: (len(words & set(_WORD.findall(r.title.lower()))), -r.rank))


@dataclass
class VisibleBuyer:
    """The buyer of the module docstring for one episode: call it with ``(observation, info)`` after the
    reset and after every step (``info`` needs ``task``, ``admissible_actions`` and ``page``)."""

    clicked: list[str] = field(default_factory=list)

    def __call__(self, observation: str, info: dict) -> str:
        instruction, admissible, page = str(info["task"]), list(info["admissible_actions"]), info.get("page")
        if page == "search" or (page is None and "search[<query>]" in admissible and len(admissible) == 1):
            self.clicked = []
            return f"search[{search_query(instruction)}]"
        if page == "results":
            chosen = pick_result(instruction, page_results(observation, admissible))
            self.clicked = []
            return chosen.action if chosen else "click[back to search]"
        if page == "item":
            for value in instruction_options(instruction):
                action = f"click[{value}]"
                if action in admissible and action not in self.clicked:
                    self.clicked.append(action)
                    return action
            return "click[buy now]"
        return "click[< prev]" if "click[< prev]" in admissible else "click[back to search]"
