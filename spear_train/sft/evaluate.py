"""``spear-bench sft``'s evaluation (``eval.json``): the figures of a policy on the held-out tasks, played by
the one evaluation harness (:func:`spear_train.training.evaluation.evaluate`) that ``spear-bench run`` and
``spear-bench eval`` use, on exactly the tasks and with exactly the decoding of ``spear-bench run``'s laptop
evaluation (:func:`eval_run_config`: the laptop defaults of the env, held-out reset seeds ``0..N-1``, one
distinct task each; turn limit, reply budget, history, constrained decoding, decode backend of the run).

Figures (``evaluate_policy`` returns them as a dict, the trainer writes them to ``eval.json``):

* ``run_decoding``: one episode per task at the run's evaluation temperature (0.4) with the sampling seed
  of a run with seed ``run_seed`` (:func:`~spear_train.training.evaluation.eval_agent_seed`): the very
  episodes of ``spear-bench run``'s step-0 evaluation of this policy, so the two figures are the same;
* ``greedy``: one greedy episode per task;
* ``sampled``: ``group_size`` episodes per task at ``temperature`` (1.0, the run's training temperature),
  plus ``mixed_group_rate`` (share of tasks whose group holds both a success and a failure: the groups that
  carry a GRPO signal) and ``pass_at_k`` (share of tasks with at least one success).

Each holds ``episodes``, ``success`` ± ``success_se`` (``sqrt(p(1-p)/n)``), ``mean_score`` (the env's final
``info["score"]`` where it grades, e.g. WebShop's purchase score in [0, 1]; else 1 for a win, 0 otherwise),
``format_invalid_rate`` (steps whose reply the parser rejected), ``inadmissible_rate`` (steps whose action
the env did not accept, malformed replies included) and ``mean_steps``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, field

from spear_train.rollout.samples import Episode


@dataclass(frozen=True)
class EvalConfig:
    """What ``eval.json`` measures: ``tasks`` held-out tasks (reset seeds ``0..tasks-1``); the run seed
    whose step-0 evaluation ``run_decoding`` reproduces; the groups of the ``sampled`` figure."""

    tasks: int = 100
    run_seed: int = 0
    group_size: int = 4
    temperature: float = 1.0
    #: run settings over the laptop defaults (laid out like a run's YAML), e.g. ``task_family`` for an env
    #: outside the three families; empty for the shipped policies
    run_settings: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.tasks < 1 or self.group_size < 1 or self.temperature < 0:
            raise ValueError(f"EvalConfig needs tasks >= 1, group_size >= 1, temperature >= 0; got {self}")


def eval_config_for(env_id: str, tasks: int = 100, **overrides) -> EvalConfig:
    """The evaluation settings of ``spear-bench sft --env ENV --eval-tasks N`` (the env's own settings come
    from :func:`eval_run_config`)."""
    return EvalConfig(tasks=tasks, **overrides)


def eval_run_config(env_id: str, tasks: int, run_settings: dict | None = None):
    """The :class:`~spear_train.training.run_config.RunConfig` of ``spear-bench run --env ENV`` at laptop
    scale with ``tasks`` evaluation episodes (``run_settings`` over it): the settings every figure here is
    played with."""
    from spear_train.training.run_config import ENV_IDS, resolve_run_config

    family = next((k for k, v in ENV_IDS.items() if v == env_id), env_id)
    return resolve_run_config({"env": family, "scale": "laptop", "eval_episodes": tasks}, sets=run_settings,
                              sets_source="the SFT evaluation's run_settings")


def summarize(episodes: list[Episode], scores: list[float]) -> dict:
    """The figures of one set of episodes (``scores``: each episode's final score, same order)."""
    from spear_train.training.evaluation import mean_se

    ok = [(e, s) for e, s in zip(episodes, scores) if not e.failed]
    n = len(ok)
    steps = sum(e.length for e, _ in ok)
    success, _ = mean_se([float(e.won) for e, _ in ok])
    return {
        "episodes": n,
        "failed_episodes": len(episodes) - n,
        "success": success,
        "success_se": (success * (1 - success) / n) ** 0.5 if n else float("nan"),
        "mean_score": sum(s for _, s in ok) / max(n, 1),
        "format_invalid_rate": sum(e.invalid_actions for e, _ in ok) / max(steps, 1),
        "inadmissible_rate": sum(e.inadmissible_actions for e, _ in ok) / max(steps, 1),
        "mean_steps": steps / max(n, 1),
    }


def final_scores(run_cfg, episodes: list[Episode], records: list | None = None) -> list[float]:
    """Each episode's final ``info["score"]``, read from its record: ``records`` (``EvalResult.records``,
    kept while the episodes played) or, without them, a replay in a fresh held-out env
    (:func:`~spear_train.training.evaluation.episode_records`); for envs whose ``info`` has no ``score``
    (checked on one reset) 1.0 for a win, 0.0 otherwise."""
    from spear_train.training.evaluation import episode_records
    from spear_train.training.rollout_runner import env_spec, import_env_modules

    import_env_modules(run_cfg)
    env = env_spec(run_cfg, held_out=True).make()
    try:
        graded = "score" in env.reset(seed=0)[1]
    finally:
        env.close()
    if not graded:
        return [float(e.won) for e in episodes]
    records = iter(episode_records(run_cfg, episodes) if records is None else records)
    scores = []
    for e in episodes:
        info = next(records).final_info if (not e.failed and e.actions) else {}
        score = info.get("score")
        scores.append(float(score) if isinstance(score, (int, float)) and not isinstance(score, bool)
                      else float(e.won))
    return scores


def group_figures(episodes: list[Episode]) -> dict:
    """``mixed_group_rate`` and ``pass_at_k`` over the groups (episodes sharing a ``group_id``)."""
    groups: dict[str, list[bool]] = {}
    for e in episodes:
        if not e.failed:
            groups.setdefault(e.group_id, []).append(e.won)
    n = max(len(groups), 1)
    return {"mixed_group_rate": sum(any(g) and not all(g) for g in groups.values()) / n,
            "pass_at_k": sum(any(g) for g in groups.values()) / n}


def evaluate_policy(policy, env_id: str, cfg: EvalConfig = EvalConfig(), progress: bool = True) -> dict:
    """Greedy, run-decoding and grouped-sampling figures of ``policy`` on ``cfg.tasks`` held-out tasks (see
    the module docstring); every episode is played by :func:`~spear_train.training.evaluation.evaluate`."""
    run_cfg = eval_run_config(env_id, cfg.tasks, cfg.run_settings)
    plays = {
        "greedy": dict(temperature=0.0),
        "run_decoding": dict(temperature=run_cfg.eval_temperature),
        "sampled": dict(temperature=cfg.temperature, group_size=cfg.group_size),
    }
    result = {"env_id": env_id, "config": eval_settings(cfg, run_cfg)}
    for name, play in plays.items():
        result[name] = play_figure(policy, run_cfg, cfg.run_seed, progress=progress and name, **play)
    return result


def sampled_figure(policy, env_id: str, cfg: EvalConfig = EvalConfig(), progress: bool = True) -> dict:
    """``eval.json``'s ``sampled`` figure alone: groups of ``cfg.group_size`` episodes per task at
    ``cfg.temperature`` (``benchmarks/sampling_temperature.py`` varies the temperature)."""
    run_cfg = eval_run_config(env_id, cfg.tasks, cfg.run_settings)
    return play_figure(policy, run_cfg, cfg.run_seed, temperature=cfg.temperature, group_size=cfg.group_size,
                       progress=progress and "sampled")


def play_figure(policy, run_cfg, run_seed: int, temperature: float, group_size: int = 1,
                progress: str | bool = "") -> dict:
    """One figure: ``run_cfg.eval_episodes`` tasks x ``group_size`` episodes at ``temperature``, played with
    the sampling seed of a ``run_seed`` run; with groups, ``mixed_group_rate`` and ``pass_at_k`` on top.
    ``progress``: a name for the progress bar (falsy: none)."""
    from spear_train.training.evaluation import eval_agent_seed, evaluate

    label = f"eval {progress} (T={temperature:g})" if progress else ""
    played = evaluate(run_cfg, "model", policy, seed=eval_agent_seed(run_seed), progress=label,
                      temperature=temperature, group_size=group_size)
    episodes = played.summaries
    figure = summarize(episodes, final_scores(run_cfg, episodes, played.records))
    if group_size > 1:
        figure.update(group_figures(episodes))
    return figure


def eval_settings(cfg: EvalConfig, run_cfg) -> dict:
    """What ``eval.json``'s ``config`` records: ``cfg`` and the run settings the episodes were played with."""
    played = ("env_id", "env_kwargs", "eval_env_kwargs", "max_turns", "max_response_tokens", "history_length",
              "constrained_decoding", "eval_temperature", "decode_backend", "eval_batch")
    played += ("prompt_format",) if run_cfg.prompt_format else ()  # recorded when not the env's own
    run = dataclasses.asdict(run_cfg)
    return {**asdict(cfg), "run": {k: getattr(run_cfg, k) if k == "env_id" else run[k] for k in played}}


def reevaluate_folder(folder, env_id: str, cfg: EvalConfig = EvalConfig(), progress: bool = True) -> dict:
    """Measure the policy saved in model folder ``folder`` again and replace the ``evaluation`` part of its
    ``eval.json`` (training and data figures are kept), then rewrite its ``checksum.sha256``; the file is
    replaced atomically. Returns the new evaluation (``spear-bench sft --eval-only``)."""
    import json
    from pathlib import Path

    from spear_train.models.checksum import write_checksum
    from spear_train.policy.loading import load_policy

    folder = Path(folder)
    path = folder / "eval.json"
    document = json.loads(path.read_text()) if path.is_file() else {}
    evaluation = evaluate_policy(load_policy(folder, device="cpu"), env_id, cfg, progress=progress)
    document["evaluation"] = evaluation
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)
    if (folder / "checksum.sha256").is_file():
        write_checksum(folder)
    return evaluation
