"""Rollouts: env workers (``workers``), agents (``agents``), the lock-step loop (``collector``), samples.

Typical use::

    pool = make_env_pool(EnvSpec("spear/ALFWorld-v0"), num_envs=8, env_workers=2)   # 0 = in-process
    collector = RolloutCollector("spear/ALFWorld-v0", ModelAgent(policy), pool, RolloutConfig(group_size=4))
    rollout = collector.collect(seeds=[0, 1])   # 2 groups x 4 copies -> rollout.samples, rollout.episodes

Names are imported lazily, so an env worker process (which needs only ``workers``) never imports
torch or transformers.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "AGENTS": "agents", "ExpertAgent": "agents", "ModelAgent": "agents", "RandomAgent": "agents",
    "make_agent": "agents", "RolloutCollector": "collector", "RolloutConfig": "collector",
    "Episode": "samples", "Rollout": "samples", "Sample": "samples", "EnvSpec": "workers",
    "LocalEnvPool": "workers", "RayEnvPool": "workers", "init_ray": "workers", "make_env_pool": "workers",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'spear_train.rollout' has no attribute {name!r}")
    return getattr(importlib.import_module(f"spear_train.rollout.{_EXPORTS[name]}"), name)
