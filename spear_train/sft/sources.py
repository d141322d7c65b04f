"""The built-in expert sources: which expert plays which env's generated tasks.

Importing this module registers one :class:`~spear_train.sft.experts.ExpertSource` per env whose expert is
available (``spear_train.sft.data`` imports it, so ``expert_source`` always sees them). A source builds its
env with ``gym.make`` for the ``train`` or ``eval`` split of generated tasks and wraps the env's own expert as
``(observation, info) -> action``:

* ``spear/ALFWorld-v0``: the handcoded expert with the move fix (docs/models.md, 'Data per environment'), on small
  generated scenes; task ``i`` is game ``i`` of the ``train`` split (1,500 games), held-out tasks come from
  ``eval_in_distribution`` (140 games);
* ``spear/WebShop-v0``: the scripted buyer, on the generated catalog's ``train`` / ``eval`` goals;
* ``spear/MathTool-v0``: the scripted solver (one tool call, then the boxed printed value), on
  difficulty-1 generated problems. Math is a multi-turn chat: SFT uses one example per *assistant
  turn* (the prompt is the whole conversation so far, tool outputs included, re-encoded by the chat
  template; the target is that turn's text + ``<|im_end|>``), so tool outputs are never a target. The
  rollout instead keeps one sample per episode with tool outputs masked; both train on the same
  assistant tokens in the same contexts.

An env without a registered source makes ``spear-bench sft --env ENV`` fail with a message listing
the envs that have one.
"""

from __future__ import annotations

import gymnasium as gym

import spear_envs  # noqa: F401  (registers the env ids)
from spear_train.sft.experts import Expert, ExpertSource, register_expert_source


# ----------------------------------------------------------------------------- WebShop: the scripted buyer
def _webshop_env(split: str) -> gym.Env:
    return gym.make("spear/WebShop-v0", split=split)


def _webshop_expert(env: gym.Env) -> Expert:
    """The scripted buyer as ``(observation, info) -> action``; it reads the env's page after each step."""
    from spear_envs.webshop.scripted_buyer import expert_actions

    actions = expert_actions(env.unwrapped)
    return lambda observation, info: next(actions, "click[buy now]")


register_expert_source("spear/WebShop-v0", ExpertSource(make_env=_webshop_env, make_expert=_webshop_expert))


# ----------------------------------------------------------------------------- math: the scripted solver
#: The tiny math policy trains and is evaluated on the easiest generated problems.
MATH_DIFFICULTY = 1


def _math_env(split: str) -> gym.Env:
    return gym.make("spear/MathTool-v0", split=split, difficulty=MATH_DIFFICULTY)


def _math_expert(env: gym.Env) -> Expert:
    """The scripted solver: one tool call running its solution code, then the boxed printed value.

    Each turn is a whole assistant message (the env's action is the turn), so the SFT target is the
    action itself (``response=str``), not the agent envs' ``<action>`` wrapper."""
    from spear_envs.math_tool.scripted_solver import final_turn, tool_call_turn

    problem = env.unwrapped.problem
    turns = iter([lambda obs: tool_call_turn(problem), final_turn])
    return lambda observation, info: next(turns, final_turn)(observation)


register_expert_source("spear/MathTool-v0", ExpertSource(make_env=_math_env, make_expert=_math_expert, response=str))


# ----------------------------------------------------------------------------- ALFWorld: the handcoded expert
#: Small generated scenes (8-14 receptacles): what a ~1M-parameter policy can learn on 2 cores (docs/models.md).
ALFWORLD_SCENE_SIZE = "small"
#: Held-out games: the in-distribution evaluation split (disjoint from ``train`` by construction).
ALFWORLD_SPLITS = {"train": "train", "eval": "eval_in_distribution"}
ALFWORLD_GAMES = {"train": 1500, "eval": 140}


class GameBySeed(gym.Wrapper):
    """``reset(seed=s)`` plays game ``s mod num_games`` of the split, so consecutive seeds are distinct games
    (ALFWorld's own seeded draw repeats games and would generate games no one asked for)."""

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if seed is not None and "game_index" not in (options or {}):
            options = {**(options or {}), "game_index": seed % self.env.unwrapped.num_games}
        return self.env.reset(seed=seed, options=options)


def _alfworld_env(split: str) -> gym.Env:
    env = gym.make("spear/ALFWorld-v0", split=ALFWORLD_SPLITS[split], scene_size=ALFWORLD_SCENE_SIZE,
                   num_games=ALFWORLD_GAMES[split], expert="handcoded" if split == "train" else None)
    return GameBySeed(env)


def _alfworld_expert(env: gym.Env) -> Expert:
    """The handcoded expert with the move fix; the env puts its next action in ``info["expert_action"]``."""
    return lambda observation, info: info["expert_action"]


register_expert_source("spear/ALFWorld-v0", ExpertSource(make_env=_alfworld_env, make_expert=_alfworld_expert))
