"""Bring your own agent: run any callable through an env under the episode recorder, get a :class:`Result`.

For agents that live outside spear-bench (an API model, a hand-written policy): the result verifies and
submits like one from ``spear-bench eval --out``, which is the path for spear-bench's own agents (the
model, the scripted experts and the random agent of :mod:`spear_train.rollout.agents`, and so the
leaderboard's reference rows; see :mod:`spear_train.training.eval_result`).

An *agent* is a callable ``(observation: str, info: dict) -> action: str``. Deterministic agents are
passed as ``agent``; seeded ones as ``agent_factory(seed, env) -> agent``, called once per run seed with
the (recorded) env it will act in, so oracle agents such as experts can read the env's state.
Every run seed plays the same task instances: reset seeds ``reset_seeds`` (default ``0..episodes-1``)
with, optionally, per-episode reset ``reset_options`` (e.g. ``{"goal_index": i}``).
"""

from __future__ import annotations

import time
from typing import Any, Callable, Sequence

import gymnasium as gym
from tqdm.auto import tqdm

from spear_envs.core import EpisodeRecord, EpisodeRecorder
from spear_train.leaderboard.schema import ModelInfo, Result, build_result

Agent = Callable[[str, dict[str, Any]], str]


def evaluate_agent(
    env_id: str,
    agent: Agent | None = None,
    episodes: int = 20,
    seed: int | Sequence[int] = 0,
    *,
    agent_factory: Callable[[int, gym.Env], Agent] | None = None,
    method: str,
    model: ModelInfo | None = None,
    env_kwargs: dict[str, Any] | None = None,
    reset_seeds: Sequence[int] | None = None,
    reset_options: Sequence[dict[str, Any]] | None = None,
    description: str = "",
    progress: bool = True,
) -> Result:
    """Play ``episodes`` episodes per seed and return the result document (metrics from the records)."""
    if (agent is None) == (agent_factory is None):
        raise ValueError("give exactly one of agent= (deterministic) or agent_factory= (seeded)")
    seeds = [seed] if isinstance(seed, int) else list(seed)
    reset_seeds = list(reset_seeds) if reset_seeds is not None else list(range(episodes))
    if not reset_seeds:
        raise ValueError("episodes must be at least 1")
    options = list(reset_options) if reset_options is not None else [{}] * len(reset_seeds)
    if len(options) != len(reset_seeds):
        raise ValueError(f"reset_options has {len(options)} entries for {len(reset_seeds)} reset seeds")
    start = time.perf_counter()
    records: dict[int, list[EpisodeRecord]] = {}
    bar = tqdm(total=len(seeds) * len(reset_seeds), desc=f"{method} on {env_id}", disable=not progress)
    for run_seed in seeds:
        env = EpisodeRecorder(gym.make(env_id, **(env_kwargs or {})))
        act = agent if agent is not None else agent_factory(run_seed, env)
        try:
            for reset_seed, opts in zip(reset_seeds, options):
                _play_episode(env, act, reset_seed, opts)
                bar.update()
        finally:
            env.close()
        records[run_seed] = env.records
    bar.close()
    config = {"agent": method, "episodes": len(reset_seeds), "reset_seeds": reset_seeds,
              "env_kwargs": env_kwargs or {}}
    return build_result(records, method=method, model=model or ModelInfo(name=method),
                        wall_time_s=time.perf_counter() - start, preset="scripted", config=config,
                        description=description)


def _play_episode(env: EpisodeRecorder, agent: Agent, reset_seed: int, options: dict[str, Any]) -> None:
    observation, info = env.reset(seed=reset_seed, options=options or None)
    done = False
    while not done:
        observation, _, terminated, truncated, info = env.step(agent(observation, info))
        done = terminated or truncated
