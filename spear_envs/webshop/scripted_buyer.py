"""The scripted expert: search, page to the target, open it, select the goal options, buy.

It reads the goal (an oracle: it knows the target ASIN), so it measures whether every goal is
winnable through the real search and pages, not how hard the task is. Queries tried in order: the
instruction, the product type with the goal attributes, then the target's title.
"""

from __future__ import annotations

from typing import Iterator

from spear_envs.webshop.env import WebShopEnv
from spear_envs.webshop.pages import PAGE_SIZE


def expert_actions(env: WebShopEnv) -> Iterator[str]:
    """Yield the expert's actions for ``env``'s current episode (send each with ``env.step``).

    The generator inspects the env's page after each action, so interleave ``next()`` and ``step``.
    """
    goal, shop = env.goal, env.shop
    target = goal.asin.lower()
    queries = [goal.instruction_text, " ".join([goal.query, *goal.attributes]), goal.name]
    for query in queries:
        yield f"search[{query}]"
        asins = [env.catalog.asins[i].lower() for i in shop.state.results]
        if target not in asins:
            continue
        for _ in range(asins.index(target) // PAGE_SIZE):
            yield "click[next >]"
        yield f"click[{target}]"
        product = env.catalog.product(goal.asin)
        for value in goal.option_values():
            if any(value in values for values in product.options.values()):
                yield f"click[{value}]"
        yield "click[buy now]"
        return
    yield "click[buy now]"  # target not found by any query: an invalid action, reported by the env


def run_expert_episode(env: WebShopEnv, **reset_kwargs) -> tuple[float, dict]:
    """Reset ``env`` (kwargs go to ``reset``), play the expert; returns (final score, last info)."""
    env.reset(**reset_kwargs)
    info: dict = {}
    for action in expert_actions(env):
        _, _, terminated, truncated, info = env.step(action)
        if terminated or truncated:
            break
    return float(info.get("score", 0.0)), info
