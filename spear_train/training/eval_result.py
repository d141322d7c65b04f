"""``spear-bench eval --out``: one agent, several sampling seeds, one result document.

:func:`evaluate_seeds` plays the held-out episodes of :func:`~spear_train.training.evaluation.evaluate`
once per sampling seed (same tasks, reset seeds ``0..N-1``; only the agent's randomness changes), with
the rollout layer's agents (:func:`spear_train.rollout.agents.make_agent`): the model, the envs' scripted
experts, or the random agent. :func:`build_eval_result` turns those evaluations into a
:class:`~spear_train.leaderboard.schema.Result` whose episode records (reset seed and task option, env
kwargs, actions, rewards; :class:`spear_envs.core.EpisodeRecorder`) replay in a plain ``gym.make`` env,
so ``spear-bench leaderboard verify`` can check every number in it.

Metrics in the document follow the schema: per seed the success rate and mean score over that seed's
episodes; the headline is their mean over seeds ± standard error (sample std / sqrt(seeds)).

The leaderboard accepts a registered benchmark setting (:mod:`spear_train.leaderboard.settings`): the
paper track is what ``--scale paper`` evaluates, the laptop track what ``--scale laptop`` (and
``spear-bench run``) evaluates, each with at least the track's number of episodes.
"""

from __future__ import annotations

import dataclasses

from spear_train.leaderboard.schema import ModelInfo, Result, build_result
from spear_train.rollout.workers import EXPERT_ENV_KWARGS
from spear_train.training.evaluation import EvalResult, episode_records, evaluate
from spear_train.training.run_config import RunConfig


def play_config(cfg: RunConfig, agent_kind: str) -> RunConfig:
    """The config the agent plays under: ``cfg`` plus, for the expert, the env kwargs that switch the env's
    scripted expert on (:data:`~spear_train.rollout.workers.EXPERT_ENV_KWARGS`, e.g. ALFWorld's handcoded
    expert). Records are made under ``cfg`` itself, so they carry only the benchmark kwargs."""
    extra = EXPERT_ENV_KWARGS.get(cfg.env_id, {}) if agent_kind == "expert" else {}
    if not extra:
        return cfg
    return dataclasses.replace(cfg, eval_env_kwargs={**cfg.eval_env_kwargs, **extra})


def evaluate_seeds(cfg: RunConfig, agent_kind: str, policy=None, seeds: list[int] = (0,),
                   episodes: int | None = None, progress: str = "") -> dict[int, EvalResult]:
    """One held-out evaluation per sampling seed (in the given order), keyed by seed. ``progress``: label
    of a progress bar over each seed's episodes ("" shows none)."""
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"--seed lists a seed twice: {list(seeds)}")
    played = play_config(cfg, agent_kind)
    return {seed: evaluate(played, agent_kind, policy, episodes=episodes, seed=seed,
                           progress=f"{progress} seed {seed}" if progress else "") for seed in seeds}


def evaluation_records(cfg: RunConfig, agent_kind: str, ev: EvalResult) -> list:
    """The episode records of one evaluation under ``cfg``'s own env kwargs: those recorded while it played
    (``EvalResult.records``) when the agent played under ``cfg`` itself; otherwise (the expert, whose env
    kwargs switch the env's expert on, :func:`play_config`) a replay of its episodes under ``cfg``
    (:func:`~spear_train.training.evaluation.episode_records`)."""
    if play_config(cfg, agent_kind) is cfg:
        return ev.records
    return episode_records(cfg, ev.summaries)


def build_eval_result(cfg: RunConfig, agent_kind: str, evals: dict[int, EvalResult], *, model: ModelInfo,
                      method: str, wall_time_s: float, checkpoint: str | None = None) -> Result:
    """The result document of :func:`evaluate_seeds`' evaluations.

    Episodes that failed (an env or worker error) have no record and are left out; the document's
    metrics are computed from the records (so they match a replay exactly). Raises ``ValueError`` when a
    seed has no replayable episode.
    """
    records = {seed: evaluation_records(cfg, agent_kind, ev) for seed, ev in evals.items()}
    empty = [seed for seed, recs in records.items() if not recs]
    if empty:
        raise ValueError(f"no replayable episodes for seed(s) {empty} (every episode failed)")
    n = max(ev.episodes for ev in evals.values())
    split = {**cfg.env_kwargs, **cfg.eval_env_kwargs}.get("split", "default")
    config = {**dataclasses.asdict(cfg), "agent": agent_kind, "checkpoint": checkpoint,
              "eval_seeds": list(evals)}
    return build_result(
        records, method=method, model=model, wall_time_s=wall_time_s, preset=f"eval-{agent_kind}",
        config=config,
        description=f"spear-bench eval --agent {agent_kind}: {n} held-out episodes per seed (split {split!r}, "
        f"reset seeds 0..{n - 1}), sampling seeds {list(evals)}, temperature {cfg.eval_temperature}.",
    )


def scripted_model_info(agent_kind: str) -> ModelInfo:
    """Model entry of the scripted agents (no weights)."""
    return ModelInfo(name=f"scripted {agent_kind}", parameters=0)


def policy_model_info(name: str, policy) -> ModelInfo:
    """Model entry of a loaded policy: its name, parameter count and the SHA-256 of the weights ``name``
    loads from (``None`` for a model-hub name)."""
    from spear_train.policy.loading import weights_sha256_of

    return ModelInfo(name=name[-200:], parameters=sum(p.numel() for p in policy.model.parameters()),
                     weights_sha256=weights_sha256_of(name))

