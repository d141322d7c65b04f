"""Rollouts: env workers (``workers``), agents (``agents``), the lock-step loop (``collector``), samples.

Typical use::

    pool = make_env_pool(EnvSpec("spear/ALFWorld-v0"), num_envs=8, env_workers=2)   # 0 = in-process
    collector = RolloutCollector("spear/ALFWorld-v0", ModelAgent(policy), pool, RolloutConfig(group_size=4))
    rollout = collector.collect(seeds=[0, 1])   # 2 groups x 4 copies -> rollout.samples, rollout.episodes
"""

from spear_train.rollout.agents import AGENTS, ExpertAgent, ModelAgent, RandomAgent, make_agent
from spear_train.rollout.collector import RolloutCollector, RolloutConfig
from spear_train.rollout.samples import Episode, Rollout, Sample
from spear_train.rollout.workers import EnvSpec, LocalEnvPool, RayEnvPool, init_ray, make_env_pool

__all__ = [
    "AGENTS", "ExpertAgent", "ModelAgent", "RandomAgent", "make_agent", "RolloutCollector", "RolloutConfig",
    "Episode", "Rollout", "Sample", "EnvSpec", "LocalEnvPool", "RayEnvPool", "init_ray", "make_env_pool",
]
