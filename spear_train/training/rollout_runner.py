"""The run's envs and rollouts: how to build its training and held-out envs (:func:`env_spec`), and
collecting a training step's rollout with the model agent over an env pool, in-process or Ray workers
(:class:`RolloutRunner`)."""

from __future__ import annotations

from dataclasses import dataclass

from spear_envs.core import TaskBySeed
from spear_train.policy.fast_decode import make_generator
from spear_train.policy.generation import SamplingConfig
from spear_train.rollout.agents import ModelAgent
from spear_train.rollout.collector import RolloutCollector, RolloutConfig
from spear_train.rollout.samples import Rollout
from spear_train.rollout.workers import EnvSpec, make_env_pool
from spear_train.training.run_config import RunConfig
from spear_train.training.seeds import derive_seed


@dataclass(frozen=True)
class HeldOutEnvSpec(EnvSpec):
    """An :class:`EnvSpec` whose envs are wrapped in :class:`~spear_envs.core.TaskBySeed` (evaluation envs:
    reset seed ``s`` plays task ``s mod N``, asked of the env's optional task hooks)."""

    def make(self):
        return TaskBySeed(super().make())


def env_spec(cfg: RunConfig, held_out: bool = False) -> EnvSpec:
    """How to build the run's envs: training envs with ``cfg.env_kwargs``; held-out envs with
    ``cfg.eval_env_kwargs`` over those, one distinct task per reset seed. ``max_steps = max_turns`` is
    passed to the env, so episodes end (and are recorded, and replay) exactly where the rollout stops them."""
    kwargs = {**cfg.env_kwargs, **cfg.eval_env_kwargs} if held_out else dict(cfg.env_kwargs)
    kwargs.setdefault("max_steps", cfg.max_turns)
    return (HeldOutEnvSpec if held_out else EnvSpec)(cfg.env_id, kwargs, tuple(cfg.env_imports))


def import_env_modules(cfg: RunConfig) -> None:
    import importlib

    import spear_envs  # noqa: F401

    for module in cfg.env_imports:
        importlib.import_module(module)


def rollout_config(cfg: RunConfig, group_size: int) -> RolloutConfig:
    return RolloutConfig(group_size=group_size, max_steps=cfg.max_turns, history_length=cfg.history_length,
                         max_response_tokens=cfg.max_response_tokens, prompt_format=cfg.prompt_format or None)


class RolloutRunner:
    """Collects one training step's rollout: ``groups_per_step`` groups of ``group_size`` copies.

    Task seeds and sampling seeds are derived from the step's seed, so a step is reproducible.
    Owns the env pool (closed by :meth:`close`). In a run of ``world_size`` processes, rank ``rank``
    plays only its share of the groups (:func:`~spear_train.training.distributed.group_shard`).
    """

    def __init__(self, cfg: RunConfig, policy, rank: int = 0, world_size: int = 1):
        from spear_train.training.distributed import group_shard

        import_env_modules(cfg)
        self.cfg, self.policy, self.rank = cfg, policy, rank
        self.groups = group_shard(cfg.groups_per_step, rank, world_size)
        self.pool = make_env_pool(env_spec(cfg), len(self.groups) * cfg.group_size, cfg.env_workers,
                                  ray_address=cfg.ray_address or None)
        self.sampling = SamplingConfig(temperature=cfg.train_temperature, max_new_tokens=cfg.max_response_tokens)
        self.generator = make_generator(policy.model, policy.tokenizer, cfg.decode_backend)

    def collect(self, t: int, seed: int) -> Rollout:
        agent_seed = derive_seed(seed, 2**30 + self.rank) if self.rank else seed  # ranks sample differently
        agent = ModelAgent(self.policy, self.sampling, generator=self.generator,
                           constrained=self.cfg.constrained_decoding, seed=agent_seed)
        collector = RolloutCollector(self.cfg.env_id, agent, self.pool, rollout_config(self.cfg, self.cfg.group_size))
        seeds = [derive_seed(seed, g) for g in self.groups]
        return collector.collect(seeds, tag=f"t{t}")

    def close(self) -> None:
        self.pool.close()
