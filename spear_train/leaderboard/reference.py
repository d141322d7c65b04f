"""Reference agents for the leaderboard's honest baseline rows: an expert and a random agent per env.

* ``random`` (every env): uniform over ``info["admissible_actions"]``; where the only admissible action
  is a template such as ``search[<query>]`` it fills in the task instruction. Seeded per run seed.
* ``expert``: the env package's scripted oracle (WebShop: :mod:`spear_envs.webshop.scripted_buyer`).
  Envs whose package ships no expert yet have none here.

:func:`reference_result` plays one of them on an env's eval split through :func:`evaluate_agent`.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Any, Callable

import gymnasium as gym

from spear_train.leaderboard.evaluate import Agent, evaluate_agent
from spear_train.leaderboard.schema import ModelInfo, Result

_TEMPLATE = re.compile(r"^(\w+)\[<[^>]*>\]$")


def random_agent(seed: int, env: gym.Env | None = None) -> Agent:
    """Uniform over admissible actions (templates like ``search[<query>]`` get the task text)."""
    rng = random.Random(seed)

    def act(observation: str, info: dict[str, Any]) -> str:
        actions = info.get("admissible_actions") or []
        if not actions:
            return "look"
        action = rng.choice(actions)
        template = _TEMPLATE.match(action)
        return f"{template.group(1)}[{info['task']}]" if template else action

    return act


def webshop_expert(seed: int, env: gym.Env) -> Agent:
    """WebShop's scripted buyer (an oracle that reads the goal), one generator per episode."""
    from spear_envs.webshop.scripted_buyer import expert_actions

    inner = env.unwrapped
    plan: dict[str, Any] = {"actions": None}

    def act(observation: str, info: dict[str, Any]) -> str:
        if inner.steps_taken == 0:
            plan["actions"] = expert_actions(inner)
        return next(plan["actions"], "click[buy now]")

    return act


@dataclass(frozen=True)
class EvalSplit:
    """How an env's eval split is played: constructor kwargs and per-episode reset options."""

    env_kwargs: dict[str, Any]
    options: Callable[[int], dict[str, Any]]
    size: int | None  # episodes in the split (None: unbounded, seeds define episodes)


EVAL_SPLITS: dict[str, EvalSplit] = {
    "spear/WebShop-v0": EvalSplit({"split": "eval"}, lambda i: {"goal_index": i}, None),
}

EXPERTS: dict[str, Callable[[int, gym.Env], Agent]] = {
    "spear/WebShop-v0": webshop_expert,
}


def reference_result(env_id: str, agent_name: str, *, episodes: int, seeds: list[int],
                     progress: bool = True) -> Result:
    """Play the ``expert`` or ``random`` reference agent on ``env_id``'s eval split."""
    if agent_name == "expert":
        if env_id not in EXPERTS:
            raise ValueError(f"no expert agent is available for {env_id} (known: {sorted(EXPERTS)})")
        factory, description = EXPERTS[env_id], "scripted expert (oracle: reads the hidden goal)"
    elif agent_name == "random":
        factory, description = random_agent, "uniform random over admissible actions"
    else:
        raise ValueError(f"agent must be 'expert' or 'random', got {agent_name!r}")
    split = EVAL_SPLITS.get(env_id, EvalSplit({}, lambda i: {}, None))
    return evaluate_agent(
        env_id, agent_factory=factory, episodes=episodes, seed=seeds, method=f"{agent_name} agent",
        model=ModelInfo(name=f"scripted {agent_name}", parameters=0), env_kwargs=split.env_kwargs,
        reset_seeds=list(range(episodes)), reset_options=[split.options(i) for i in range(episodes)],
        description=f"Reference row: {description}, eval split, {episodes} episodes per seed.",
        progress=progress,
    )
