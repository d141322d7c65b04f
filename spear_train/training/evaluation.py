"""The one evaluation harness: success rate and mean score with their standard errors on the env's held-out
split. ``spear-bench run`` (step 0, periodic, final), ``spear-bench eval --agent model|expert|random``
(:mod:`spear_train.training.eval_result`) and ``spear-bench sft``'s ``eval.json``
(:mod:`spear_train.sft.evaluate`, which adds greedy and grouped figures on top) all play :func:`evaluate`.

Episodes use the held-out env kwargs (``RunConfig.eval_env_kwargs``) and reset seeds ``0..N-1``: ``N``
distinct tasks of the held-out split (task ``i mod split size``), the same at every evaluation of a run,
sampled at ``eval_temperature`` (0.4 as in the reference) with a fixed sampling seed, so "before" and
"after" differ only by the policy. The tasks are played in chunks of at most ``eval_batch`` side by side
(:func:`eval_chunks`: equal sizes); chunk ``k`` has its own agent, seeded ``seed`` (``k = 0``) or
``derive_seed(seed, k)`` (:func:`chunk_seed`), so no chunk's draws depend on another chunk's, and the ranks
of a data-parallel run each play a contiguous share of the chunks (:func:`chunk_shard`) and together get
exactly the episodes one process gets (docs/training.md, 'Several processes'). Standard errors:
``sqrt(p(1-p)/N)`` for the success rate, ``std/sqrt(N)`` (sample std) for the score (total env reward).

The held-out envs are wrapped in :class:`~spear_envs.core.EpisodeRecorder` (``EnvSpec.record``), so the
evaluation also yields the replayable records of its episodes (``EvalResult.records``) as it plays them:
the same records a replay of each episode's actions in a fresh held-out env makes (:func:`episode_records`,
the reference), with no second pass over the env (docs/training.md, 'Evaluation records').
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from spear_envs.core import EpisodeRecord, EpisodeRecorder, TaskBySeed
from spear_train.policy.generation import SamplingConfig
from spear_train.rollout.agents import make_agent
from spear_train.rollout.collector import RolloutCollector
from spear_train.rollout.samples import Episode
from spear_train.rollout.workers import make_env_pool
from spear_train.training.rollout_runner import env_spec, import_env_modules, rollout_config
from spear_train.training.run_config import RunConfig
from spear_train.training.seeds import derive_seed

#: The seed stream of evaluation sampling: a run with seed ``s`` evaluates with ``derive_seed(s, 2**20)``.
EVAL_SEED_STREAM = 2**20


@dataclass
class EvalResult:
    episodes: int
    success: float
    success_se: float
    score: float
    score_se: float
    invalid_frac: float
    mean_length: float
    summaries: list[Episode] = field(default_factory=list)
    #: replayable records of the episodes that neither failed nor took no step, in ``summaries`` order
    records: list[EpisodeRecord] = field(default_factory=list)

    def summary(self) -> dict:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if f.name not in ("summaries", "records")}


def mean_se(values: list[float]) -> tuple[float, float]:
    """Mean and standard error (sample std / sqrt(n); 0 for n < 2)."""
    n = len(values)
    if n == 0:
        return float("nan"), float("nan")
    mean = math.fsum(values) / n
    if n < 2:
        return mean, 0.0
    return mean, math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1) / n)


def paired_gain(before: list[dict], after: list[dict]) -> tuple[float, float, int]:
    """Success gain ``after - before`` over the held-out tasks both evaluations played (matched by reset
    seed), with its paired standard error ``std(d_i)/sqrt(n)`` where ``d_i = won_after_i - won_before_i``.

    Args: per-episode dicts (``eval/step_N.jsonl`` rows) with ``seed``, ``won`` and ``failed``.
    Returns ``(gain, se, n)``; ``(nan, nan, 0)`` when no task was played by both.
    """
    won_before = {e["seed"]: float(e["won"]) for e in before if not e.get("failed")}
    diffs = [float(e["won"]) - won_before[e["seed"]] for e in after
             if not e.get("failed") and e["seed"] in won_before]
    gain, se = mean_se(diffs)
    return gain, se, len(diffs)


def eval_chunks(tasks: int, most: int) -> list[range]:
    """Tasks ``0..tasks-1`` in ``⌈tasks / most⌉`` consecutive chunks of equal size (the first ``tasks mod K``
    one larger): 100 tasks at most 32 a chunk are 4 chunks of 25, not 32, 32, 32 and a 4-task chunk that
    would decode its 30 turns for 4 rows."""
    count = math.ceil(tasks / most)
    if count == 0:
        return []
    size, extra = divmod(tasks, count)
    starts = [k * size + min(k, extra) for k in range(count + 1)]
    return [range(starts[k], starts[k + 1]) for k in range(count)]


def chunk_seed(seed: int, chunk: int) -> int:
    """The sampling seed of evaluation chunk ``chunk`` (tasks ``chunk * B .. (chunk + 1) * B - 1``)."""
    return seed if chunk == 0 else derive_seed(seed, chunk)


def chunk_shard(chunks: int, rank: int, world_size: int) -> range:
    """The chunks rank ``rank`` of ``world_size`` plays: ``[⌊r·K/N⌋, ⌊(r+1)·K/N⌋)``, contiguous, so the ranks'
    episodes concatenated in rank order are the single process's, in its order."""
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is outside 0..{world_size - 1}")
    return range(rank * chunks // world_size, (rank + 1) * chunks // world_size)


def eval_agent_seed(run_seed: int) -> int:
    """The sampling seed of a run's evaluations (``spear-bench run`` with seed ``run_seed``): every
    evaluation of the run, and ``spear-bench sft``'s ``run_decoding`` figure, sample with it."""
    return derive_seed(run_seed, EVAL_SEED_STREAM)


def evaluate(cfg: RunConfig, agent_kind: str = "model", policy=None, episodes: int | None = None,
             seed: int = 0, generator=None, progress: str = "", temperature: float | None = None,
             group_size: int = 1, record: bool = True, shard: tuple[int, int] = (0, 1)) -> EvalResult:
    """Play ``episodes`` (default ``cfg.eval_episodes``) held-out tasks, ``cfg.eval_batch`` episodes at a time,
    each chunk with its own agent (:func:`chunk_seed`).

    ``seed``: the agent's sampling seed (a run passes :func:`eval_agent_seed` of its seed).
    ``generator``: the model agent's generation backend (default: ``cfg.decode_backend``'s).
    ``progress``: label of a progress bar over the episodes (stderr); "" shows none.
    ``temperature``: sampling temperature (default ``cfg.eval_temperature``; 0 is greedy decoding).
    ``group_size``: episodes per task (a group of copies of one reset seed, as in training); the result
    then holds ``episodes * group_size`` episodes, each group's copies sharing one ``group_id``.
    ``record``: keep the episodes' replayable records (``EvalResult.records``) as they play; ``False``
    leaves them out (the envs are then not wrapped; :func:`episode_records` can still make them).
    ``shard``: ``(rank, world_size)``: play only this rank's chunks (:func:`chunk_shard`); :func:`merge_results`
    of the ranks' results, in rank order, is the whole evaluation."""
    from spear_train.training.progress import EvalBar

    if group_size < 1:
        raise ValueError(f"group_size must be at least 1, got {group_size}")
    import_env_modules(cfg)
    total = cfg.eval_episodes if episodes is None else episodes
    temperature = cfg.eval_temperature if temperature is None else temperature
    sampling = SamplingConfig(temperature=temperature, max_new_tokens=cfg.max_response_tokens)
    kwargs = dict(sampling=sampling, constrained=cfg.constrained_decoding,
                  decode_backend=cfg.decode_backend, generator=generator) if agent_kind == "model" else {}
    spec = dataclasses.replace(env_spec(cfg, held_out=True), record=record)
    done: list[Episode] = []
    records: list[EpisodeRecord] = []
    pool, pool_size = None, 0
    chunks = eval_chunks(total, max(1, cfg.eval_batch // group_size))  # cfg.eval_batch episodes side by side
    mine = chunk_shard(len(chunks), *shard)
    bar = EvalBar(sum(len(chunks[k]) for k in mine) * group_size, progress)
    try:
        for k in mine:
            agent = make_agent(agent_kind, policy, seed=chunk_seed(seed, k), **kwargs)
            seeds = list(chunks[k])
            start = seeds[0]
            if len(seeds) * group_size != pool_size:
                if pool is not None:
                    pool.close()
                pool_size = len(seeds) * group_size
                pool = make_env_pool(spec, pool_size, cfg.env_workers)
            collector = RolloutCollector(cfg.env_id, agent, bar.watch(pool), rollout_config(cfg, group_size))
            played = collector.collect(seeds, tag=f"eval{start}-").episodes
            if record:
                records.extend(played_records(played, pool.episode_records()))
            done.extend(played)
            bar.set_done(len(done))
    finally:
        bar.close()
        if pool is not None:
            pool.close()
    return _result(done, records)


def merge_results(parts: list[EvalResult]) -> EvalResult:
    """One evaluation from the results of its shards (``evaluate(shard=(r, N))`` for ``r = 0..N-1``, in order)."""
    return _result([e for p in parts for e in p.summaries], [r for p in parts for r in p.records])


def _result(done: list[Episode], records: list[EpisodeRecord]) -> EvalResult:
    ok = [e for e in done if not e.failed]
    success, success_se = mean_se([float(e.won) for e in ok])
    if ok:
        success_se = math.sqrt(success * (1 - success) / len(ok))
    score, score_se = mean_se([e.episode_return for e in ok])
    steps = sum(e.length for e in ok)
    return EvalResult(len(ok), success, success_se, score, score_se,
                      sum(e.invalid_actions for e in ok) / max(steps, 1), steps / max(len(ok), 1), done, records)


def played_records(episodes: list[Episode], slot_records: list) -> list[EpisodeRecord]:
    """The records of one collected batch: ``slot_records[i]`` is what slot ``i``'s recorder kept of
    ``episodes[i]``. Episodes that failed or took no step have none (as in :func:`episode_records`).
    Raises ``RuntimeError`` when a record is missing or its seed or actions differ from the episode's."""
    out = []
    for ep, rec in zip(episodes, slot_records, strict=True):
        if ep.failed or not ep.actions:
            continue
        if rec is None or rec.seed != ep.seed or rec.actions != ep.actions:
            got = "none" if rec is None else f"seed {rec.seed}, {len(rec.steps)} actions"
            raise RuntimeError(f"the env's record of episode {ep.traj_id} (seed {ep.seed}, {len(ep.actions)} "
                               f"actions) does not match what the rollout played: {got}")
        out.append(rec)
    return out


def episode_records(cfg: RunConfig, summaries: list[Episode]) -> list[EpisodeRecord]:
    """Replayable records (``spear_envs.core.EpisodeRecorder``) of evaluated episodes, made by replaying
    each episode's actions from its reset seed in a fresh held-out env (the envs are deterministic).
    Records carry the task-picking reset option, so they replay in a plain ``gym.make`` env.

    The reference for ``EvalResult.records`` (which :func:`evaluate` records while it plays, with no
    replay); for episodes that come without records (e.g. read back from ``eval/step_N.jsonl``)."""
    import gymnasium as gym

    import_env_modules(cfg)
    spec = env_spec(cfg, held_out=True)
    recorder = EpisodeRecorder(gym.make(spec.env_id, **spec.kwargs), env_kwargs=spec.kwargs)
    env = TaskBySeed(recorder)  # one env, reset per episode (the contract: a reset seed fixes the transcript)
    try:
        for ep in summaries:
            if ep.failed or not ep.actions:
                continue
            env.reset(seed=ep.seed)  # also files the previous episode, if the turn limit cut it short
            for action in ep.actions:
                _, _, terminated, truncated, _ = env.step(action)
                if terminated or truncated:
                    break
    finally:
        env.close()
    records = list(recorder.records)
    if recorder.current is not None and recorder.current.steps:  # the last episode, cut short by the turn limit
        records.append(recorder.current)
    return records
