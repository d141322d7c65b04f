"""Evaluation of a policy on held-out generated tasks: success, mean score, invalid actions, mixed groups.

A small lock-step loop (no training records): ``batch_envs`` envs at a time, each turn's prompt built by
the rollout's prompt builder and encoded by :meth:`Policy.prompt_ids`, responses sampled with the
rollout's :class:`~spear_train.policy.generation.HFGenerator` (plain temperature sampling, no hidden
top-k), parsed by the builder (docs/rollouts.md, 'Action parsing (format validity)') and sent to the env.

Figures (``evaluate_policy`` returns them as a dict, the trainer writes them to ``eval.json``):

* ``greedy``: one greedy episode per task: ``success``, ``mean_score``, ``invalid_rate`` (steps whose
  reply was format-invalid or that the env did not accept), with its two parts ``format_invalid_rate``
  and ``inadmissible_rate``, and ``mean_steps``;
* ``run_decoding``: one episode per task at ``run_temperature``, the evaluation temperature
  ``spear-bench run`` uses by default (the same figures);
* ``sampled``: ``group_size`` episodes per task at ``temperature``: the same figures, plus
  ``mixed_group_rate`` (share of tasks whose group holds both a success and a failure, the groups that
  carry a GRPO signal) and ``pass_at_k``.

With ``constrained=True`` every turn whose admissible actions can be enumerated (no ``search[<query>]``-style
template among them) is decoded under the admissible-action trie (:mod:`spear_train.policy.constrained`, the
same template the SFT replies use). :func:`eval_config_for` gives an env's settings: the turn limit, reply
budget and decoding (free or constrained) of ``spear-bench run``'s laptop defaults, so the figures describe
the policy as a run uses it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from tqdm import tqdm

from spear_envs.agent_io import AgentMemory, prompt_builder_for
from spear_train.policy.constrained import admissible_trie
from spear_train.policy.generation import HFGenerator, SamplingConfig
from spear_train.policy.loading import Policy
from spear_train.sft.data import expert_source


@dataclass(frozen=True)
class EvalConfig:
    """Held-out evaluation settings (seeds ``first_seed + i`` of the env's ``eval`` split)."""

    tasks: int = 100
    first_seed: int = 1_000_000
    max_steps: int = 40
    group_size: int = 4
    temperature: float = 1.0
    max_new_tokens: int = 24
    batch_envs: int = 100
    history_length: int = 2
    seed: int = 0
    run_temperature: float = 0.4
    constrained: bool = False


def eval_config_for(env_id: str, tasks: int = 100, **overrides) -> EvalConfig:
    """The evaluation settings for ``env_id``: ``spear-bench run``'s laptop turn limit, decoding and
    evaluation temperature, and the SFT recipe's reply budget (so a reply the policy was trained on always fits)."""
    from spear_train.sft.recipe import default_recipe
    from spear_train.training.run_config import ENV_IDS, RunConfig
    from spear_train.training.scales import ENV_DEFAULTS

    family = next((k for k, v in ENV_IDS.items() if v == env_id), None)
    run_defaults = ENV_DEFAULTS["laptop"].get(family, {})
    settings = dict(tasks=tasks, max_steps=run_defaults.get("max_turns", EvalConfig.max_steps),
                    max_new_tokens=default_recipe(env_id).max_response_tokens,
                    run_temperature=RunConfig.eval_temperature,
                    constrained=run_defaults.get("constrained_decoding", RunConfig.constrained_decoding))
    return EvalConfig(**{**settings, **overrides})


@dataclass
class EpisodeResult:
    task_index: int
    won: bool
    score: float
    steps: int
    format_invalid: int
    inadmissible: int


def run_episodes(policy: Policy, env_id: str, task_indices: list[int], cfg: EvalConfig, temperature: float,
                 progress: bool = True, desc: str = "eval") -> list[EpisodeResult]:
    """Play one episode per entry of ``task_indices`` (task ``cfg.first_seed + index``) with ``policy``."""
    source = expert_source(env_id)
    builder = prompt_builder_for(env_id, history_length=cfg.history_length)
    generator = HFGenerator(policy.model, policy.tokenizer)
    sampling = SamplingConfig(temperature=temperature, max_new_tokens=cfg.max_new_tokens)
    results: list[EpisodeResult] = []
    bar = tqdm(total=len(task_indices), desc=desc, unit="ep", disable=not progress)
    # envs are reset per task and reused across chunks: building one can be costly (ALFWorld's engine
    # copies its planner library for every instance)
    envs = [source.make_env("eval") for _ in range(min(cfg.batch_envs, len(task_indices)))]
    try:
        for start in range(0, len(task_indices), cfg.batch_envs):
            chunk = task_indices[start:start + cfg.batch_envs]
            results.extend(_play_chunk(policy, envs[: len(chunk)], chunk, builder, generator, sampling, cfg, start,
                                       source))
            bar.update(len(chunk))
    finally:
        for env in envs:
            env.close()
    bar.close()
    return results


def _play_chunk(policy, envs, chunk, builder, generator, sampling, cfg, call_index, source):
    memories, infos, results = [], [], []
    for env, index in zip(envs, chunk):
        obs, info = env.reset(seed=cfg.first_seed + index, options=source.reset_options("eval") or None)
        memories.append(AgentMemory.start(obs, info))
        infos.append(info)
        results.append(EpisodeResult(index, bool(info["won"]), _score(info), 0, 0, 0))
    active = [k for k in range(len(envs)) if not results[k].won]
    step = 0
    while active and step < cfg.max_steps:
        prompts = [policy.prompt_ids(builder.messages(memories[k])) for k in active]
        tries = None
        if cfg.constrained:
            tries = [admissible_trie(policy.tokenizer, memories[k].admissible_actions, generator.stop_ids[0])
                     for k in active]
        batch = generator.generate(prompts, sampling, tries=tries, seed=cfg.seed + 1000 * call_index + step)
        still = []
        for k, gen in zip(active, batch.generations):
            reply = policy.tokenizer.decode(gen.token_ids, skip_special_tokens=True)
            parsed = builder.parse(reply)
            obs, _, terminated, truncated, info = envs[k].step(parsed.action[: envs[k].unwrapped.max_action_length])
            memories[k].record(parsed.action, obs, info)
            r = results[k]
            r.steps += 1
            r.format_invalid += not parsed.valid
            r.inadmissible += parsed.valid and not info["action_valid"]
            r.won, r.score = bool(info["won"]), _score(info)
            if not (terminated or truncated):
                still.append(k)
        active = still
        step += 1
    return results


def _score(info: dict) -> float:
    score = info.get("score")
    return float(score) if isinstance(score, (int, float)) else float(bool(info["won"]))


def summarize(results: list[EpisodeResult]) -> dict:
    steps = sum(r.steps for r in results) or 1
    fmt = sum(r.format_invalid for r in results)
    inad = sum(r.inadmissible for r in results)
    n = len(results) or 1
    return {
        "episodes": len(results),
        "success": sum(r.won for r in results) / n,
        "mean_score": sum(r.score for r in results) / n,
        "invalid_rate": (fmt + inad) / steps,
        "format_invalid_rate": fmt / steps,
        "inadmissible_rate": inad / steps,
        "mean_steps": steps / n,
    }


def evaluate_policy(policy: Policy, env_id: str, cfg: EvalConfig = EvalConfig(), progress: bool = True) -> dict:
    """Greedy and grouped-sampling figures on ``cfg.tasks`` held-out tasks (see the module docstring)."""
    tasks = list(range(cfg.tasks))
    greedy = run_episodes(policy, env_id, tasks, cfg, 0.0, progress, "eval greedy")
    at_run = run_episodes(policy, env_id, tasks, cfg, cfg.run_temperature, progress,
                          f"eval T={cfg.run_temperature:g}")
    grouped = [t for t in tasks for _ in range(cfg.group_size)]
    sampled = run_episodes(policy, env_id, grouped, cfg, cfg.temperature, progress, f"eval T={cfg.temperature:g}")
    groups: dict[int, list[bool]] = {}
    for r in sampled:
        groups.setdefault(r.task_index, []).append(r.won)
    mixed = sum(any(g) and not all(g) for g in groups.values())
    sampled_summary = summarize(sampled)
    sampled_summary["mixed_group_rate"] = mixed / max(len(groups), 1)
    sampled_summary["pass_at_k"] = sum(any(g) for g in groups.values()) / max(len(groups), 1)
    return {"env_id": env_id, "config": asdict(cfg), "greedy": summarize(greedy),
            "run_decoding": summarize(at_run), "sampled": sampled_summary}
