"""The expert-source registry of ``spear-bench sft``: which expert plays an env's generated tasks.

This module only holds the types and the table. The built-in sources live in ``sources.py``, which
registers them when imported (``spear_train.sft.data`` imports it, so :func:`expert_source` there
always sees them); other envs call :func:`register_expert_source` themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import gymnasium as gym

Expert = Callable[[str, dict], str]  # (observation, info) -> action


@dataclass(frozen=True)
class ExpertSource:
    """How to play one env's expert on a split of generated tasks.

    ``make_env(split)`` builds the env (``split`` is ``"train"`` or ``"eval"``); ``make_expert(env)``
    returns a fresh expert for the episode just reset (default: the env's own, :func:`env_expert`); ``reset_options(split)`` are passed to
    ``env.reset``. ``response(action)`` is the target text for one turn: ``agent_response`` for
    agent envs (the default), the action itself for chat envs whose action is the whole turn (math).
    ``version`` names the expert's output format: it is part of the key of the cached expert episodes
    (``spear_train.sft.trainer.data_cache_file``), so a changed expert never trains on stale episodes.
    """

    make_env: Callable[[str], gym.Env]
    make_expert: Callable[[gym.Env], Expert] = lambda env: env_expert(env)
    reset_options: Callable[[str], dict] = lambda split: {}
    response: Callable[[str], str] | None = None  # None: agent_response (think + action tags)
    version: str = ""  # "" for the first format of an expert (cache files without a version suffix)


def env_expert(env: gym.Env) -> Expert:
    """The env's own scripted expert (:meth:`spear_envs.core.TextEnv.expert_action`) as an :data:`Expert`."""
    return lambda observation, info: env.unwrapped.expert_action()


#: env id -> its expert source; filled by :func:`register_expert_source` (see ``sources.py``).
EXPERT_SOURCES: dict[str, ExpertSource] = {}


def register_expert_source(env_id: str, source: ExpertSource) -> None:
    """Make ``source`` the expert source of ``env_id`` (replacing any earlier one)."""
    EXPERT_SOURCES[env_id] = source
