"""Registration of spear-bench environments with Gymnasium, plus the metadata ``spear-bench envs`` shows.

Each env package calls :func:`register_text_env` from ``spear_envs/__init__.py`` with a *string* entry
point, so ``import spear_envs`` stays fast and heavy engines load only on ``gym.make``.
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym


@dataclass(frozen=True)
class EnvInfo:
    """What ``spear-bench envs`` lists for one environment."""

    env_id: str
    entry_point: str
    max_episode_steps: int
    version: str
    task_source: str
    description: str


#: Every spear-bench env registered in this process, by id.
SPEAR_ENVS: dict[str, EnvInfo] = {}


def register_text_env(
    env_id: str,
    entry_point: str,
    *,
    max_episode_steps: int,
    version: str,
    task_source: str,
    description: str,
) -> None:
    """Register ``env_id`` with Gymnasium (idempotent) and record its metadata in :data:`SPEAR_ENVS`.

    ``max_episode_steps`` is passed to the env as ``max_steps`` too, so the env's own truncation and
    Gymnasium's ``TimeLimit`` agree.
    """
    if env_id not in gym.registry:
        gym.register(
            id=env_id,
            entry_point=entry_point,
            max_episode_steps=max_episode_steps,
            kwargs={"max_steps": max_episode_steps},
        )
    SPEAR_ENVS[env_id] = EnvInfo(env_id, entry_point, max_episode_steps, version, task_source, description)
