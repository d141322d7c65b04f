"""The one training loop every preset runs (docs/algorithms.md, 'Training step order'). Presets differ only in config.

A training step t, top to bottom in :meth:`Trainer.train_step`:

1. rollout: ``groups_per_step`` task instances x ``group_size`` copies, lock-step, one sample per env step
   (one per episode for math); samples whose prompt exceeds ``max_prompt_tokens`` are left out;
2. scores: ``s_i = R_env(τ) + b_tool(t, L(τ))`` (math: ``±1 + bonus``);
3. flags (over-long, void, repetitive, unreadable) and the low-variance group filter;
4. invalid-action penalty ``s_i -= 0.1·(1 − valid_i)``, then advantages (GRPO or GiGPO), flagged = 0;
5. (laptop knob) a random subset of ``train_turns_per_episode`` turns per trajectory is trained on;
6. old log-probs under the pre-update policy;
7. [SPEAR] if the buffer is full: drain it into a P50-recalibrated replay batch;
8. AdamW steps over on-policy mini-batches (``ppo_epochs`` passes), then over replay mini-batches with
   loss x c(t);
9. [SPEAR] buffer upkeep (admit A > 0) and baseline history (this step's group mean/std rewards).

Evaluation runs at step 0, every ``eval_every`` steps and at the end; checkpoints every
``checkpoint_every`` steps and at the end. All randomness of a step flows from the run seed and the
checkpointed generator, so a resumed run repeats an uninterrupted one exactly on CPU.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from spear_train.algorithms.baseline import BaselineHistory
from spear_train.algorithms.gigpo_advantage import discounted_returns, gigpo_advantage
from spear_train.algorithms.grouping import ids_from_keys
from spear_train.algorithms.grpo_advantage import apply_invalid_penalty, grpo_advantage
from spear_train.algorithms.replay_buffer import ReplayBuffer
from spear_train.algorithms.sample_filters import (
    group_reward_stats,
    is_unreadable,
    is_void_math_turn,
    is_void_turn,
    low_variance_group_filter,
    repetitive_flags,
)
from spear_train.algorithms.schedules import agent_tool_bonus, math_reward, replay_loss_weight, tool_bonus_decay
from spear_train.rollout.samples import Episode, Rollout, Sample
from spear_train.algorithms.config import AlgorithmConfig
from spear_train.training.algo_adapter import algorithm_config, loss_settings
from spear_train.training.checkpoint import (POLICY_DIR, load_latest_checkpoint, load_policy_weights, rng_state,
                                             save_checkpoint, set_rng_state)
from spear_train.training.distributed import SINGLE, DataParallel, DistContext, broadcast_model, gather_rollout
from spear_train.training.errors import TrainingError
from spear_train.training.logprobs import pad_values
from spear_train.training.run_config import RunConfig, save_run_config
from spear_train.training.seeds import derive_seed
from spear_train.training.update import TrainBatch, optimise, recompute_logprobs


@dataclass
class StepBatch:
    """The samples of one step after filtering, with their per-sample tensors ``[N]``."""

    samples: list[Sample]
    scores: torch.Tensor  # s_i after the invalid penalty
    advantages: torch.Tensor  # A_i (0 where flagged)
    keep: torch.Tensor  # bool: not flagged


def sample_flags(samples: list[Sample], max_response_tokens: int, algo: AlgorithmConfig) -> torch.Tensor:
    """``[N]`` bool: the sample is over-long, void, repetitive or unreadable, for each flag the preset
    switches on (docs/algorithms.md, 'Sample flags')."""
    none = torch.zeros(len(samples), dtype=torch.bool)
    if not samples:
        return none
    math_rule = algo.void_turn_rule == "boxed_answer"
    void = torch.tensor([is_void_math_turn(s.response_text) if math_rule else is_void_turn(s.response_text_raw)
                         for s in samples]) if algo.filter_void_turn else none
    unreadable = torch.tensor([is_unreadable(s.response_text) for s in samples]) if algo.filter_unreadable else none
    overlong = torch.tensor([s.truncated or len(s.response_ids) >= max_response_tokens for s in samples]) \
        if algo.filter_overlong else none
    if not algo.filter_repetitive:
        return void | unreadable | overlong
    width = max(len(s.response_ids) for s in samples)
    ids = pad_values([[float(t) for t in s.response_ids] for s in samples], max(width, 1)).long()
    mask = pad_values([[1.0] * len(s.response_ids) for s in samples], max(width, 1))
    repetitive = repetitive_flags(ids, mask, algo.repetition_ngram, algo.repetition_threshold)
    return void | unreadable | overlong | repetitive


def scores_for(samples: list[Sample], kappa: float, algo: AlgorithmConfig, math_env: bool) -> torch.Tensor:
    """``s_i`` before the invalid penalty: episode reward plus the tool-call bonus ('Tool-call bonus κ(t)')."""
    if math_env:
        won = torch.tensor([s.won for s in samples])
        calls = torch.tensor([s.num_tool_calls for s in samples])
        return math_reward(won, calls, kappa, algo.tool_bonus_variant, dtype=torch.float64)
    returns = torch.tensor([s.episode_return for s in samples], dtype=torch.float64)
    lengths = torch.tensor([s.episode_length for s in samples])
    return returns + agent_tool_bonus(lengths, kappa, dtype=torch.float64)


def to_train_batch(samples: list[Sample], advantages: list[float], keep: list[bool],
                   old_logprobs: list[list[float]] | None = None) -> TrainBatch:
    return TrainBatch(
        prompt_ids=[list(s.prompt_ids) for s in samples],
        response_ids=[list(s.response_ids) for s in samples],
        loss_mask=[list(s.loss_mask) if s.loss_mask else [1] * len(s.response_ids) for s in samples],
        old_logprobs=old_logprobs or [[0.0] * len(s.response_ids) for s in samples],
        advantages=list(advantages),
        advantage_keep=list(keep),
    )


def batch_to_tensors(batch: TrainBatch) -> dict[str, torch.Tensor]:
    """A :class:`TrainBatch` as right-padded tensors ``[N, W]`` (what the replay buffer stores)."""
    def pad_long(rows):
        width = max(max((len(r) for r in rows), default=1), 1)
        out = torch.zeros((len(rows), width), dtype=torch.long)
        for i, r in enumerate(rows):
            out[i, : len(r)] = torch.tensor(r, dtype=torch.long)
        return out

    width = max(max((len(r) for r in batch.response_ids), default=1), 1)
    return {
        "prompt_ids": pad_long(batch.prompt_ids),
        "prompt_len": torch.tensor([len(p) for p in batch.prompt_ids]),
        "response_ids": pad_long(batch.response_ids),
        "response_len": torch.tensor([len(r) for r in batch.response_ids]),
        "loss_mask": pad_long(batch.loss_mask),
        "old_log_probs": pad_values(batch.old_logprobs, width).double(),
        "keep": torch.tensor(batch.advantage_keep),
    }


def tensors_to_batch(t: dict[str, torch.Tensor], advantages: torch.Tensor) -> TrainBatch:
    """Inverse of :func:`batch_to_tensors`, with the replay advantages ``Â``."""
    pl, rl = t["prompt_len"].tolist(), t["response_len"].tolist()
    return TrainBatch(
        prompt_ids=[t["prompt_ids"][i, :n].tolist() for i, n in enumerate(pl)],
        response_ids=[t["response_ids"][i, :n].tolist() for i, n in enumerate(rl)],
        loss_mask=[t["loss_mask"][i, :n].tolist() for i, n in enumerate(rl)],
        old_logprobs=[t["old_log_probs"][i, :n].tolist() for i, n in enumerate(rl)],
        advantages=advantages.tolist(),
        advantage_keep=[True] * len(pl),
    )


class Trainer:
    """Trains one seed of a run into ``run_dir`` (see :mod:`spear_train.training.run_dir`).

    Ownership: the trainer owns the policy, optimiser, replay buffer, baseline history, its RNG
    (``self.rng``, a ``torch.Generator`` for every algorithmic random choice) and the env pool.
    """

    def __init__(self, cfg: RunConfig, seed: int, run_dir, progress, resume: bool,
                 initial_evals: dict | None = None, dist: DistContext = SINGLE):
        from spear_train.training import rollout_runner, run_policy

        self.cfg, self.seed, self.run_dir, self.progress = cfg, seed, run_dir, progress
        self.dist = dist  # a multi-process run: see spear_train.training.distributed
        self.dp = DataParallel(dist) if dist.is_distributed else None
        self.initial_evals = initial_evals
        self.algo = algorithm_config(cfg)
        self.loss, self.replay_loss = loss_settings(self.algo), loss_settings(self.algo, replay=True)
        self.math_env = cfg.family == "math"
        torch.manual_seed(seed)
        self.rng = torch.Generator().manual_seed(seed)
        self.policy = run_policy.load_run_policy(cfg)
        self.pad_id = int(self.policy.tokenizer.pad_token_id)
        betas = tuple(cfg.adam_betas)
        self.optimizer = torch.optim.AdamW(self.policy.model.parameters(), lr=cfg.lr, betas=betas,
                                           weight_decay=cfg.weight_decay)
        a = self.algo
        self.buffer = ReplayBuffer(a.replay_buffer_size, a.replay_tolerate_steps, a.replay_decay_weight,
                                   a.replay_norm_by_std, a.replay_strict_positive, a.replay_requires_tool_call)
        self.history = BaselineHistory(a.baseline_buffer_size)
        self.rollouts = rollout_runner.RolloutRunner(cfg, self.policy, dist.rank, dist.world_size)
        self.step = 0
        self.eval_history: list[dict[str, Any]] = []
        self.last_eval = None
        if resume:
            self._restore()
        broadcast_model(self.policy.model, dist)
        if dist.is_main:
            save_run_config(cfg, run_dir.config_path, dataclasses.asdict(self.algo))

    # ------------------------------------------------------------------ one training step
    def train_step(self, t: int) -> dict[str, Any]:
        t0 = time.perf_counter()
        # 1. rollout (several processes: each rolls out its groups, then all gather the step's samples)
        rollout = gather_rollout(self.rollouts.collect(t, derive_seed(self.seed, t)), self.dist)
        return self.learn(t, rollout, t0)

    def learn(self, t: int, rollout: Rollout, t0: float | None = None) -> dict[str, Any]:
        """Steps 2-9 of the module docstring on the step's whole rollout; returns the metrics row."""
        cfg, algo = self.cfg, self.algo
        t0 = time.perf_counter() if t0 is None else t0
        samples = [s for s in rollout.samples if not s.failed and s.response_ids]
        long_prompts = sum(len(s.prompt_ids) > cfg.max_prompt_tokens for s in samples)
        samples = [s for s in samples if len(s.prompt_ids) <= cfg.max_prompt_tokens]
        t_rollout = time.perf_counter() - t0
        episodes = [e for e in rollout.episodes if not e.failed]
        row: dict[str, Any] = {
            "kind": "train", "step": t,
            "reward_mean": _mean([e.episode_return for e in episodes]),
            "success": _mean([float(e.won) for e in episodes]),
            "episode_length": _mean([e.length for e in episodes]),
            "invalid_frac": _mean([1.0 - s.action_valid for s in samples]),
            "mixed_groups": mixed_group_rate(episodes),
            "failed_episodes": len(rollout.failed_episodes),
            "samples": len(samples), "long_prompts": long_prompts,
        }
        # 2. scores with the tool-call bonus
        kappa = tool_bonus_decay(t, algo.tool_bonus_steps, algo.tool_bonus_mode)
        c_t = replay_loss_weight(t, algo.replay_warmup_steps, algo.replay_loss_coef) \
            if algo.enable_replay else 0.0
        row.update(kappa=kappa, c=c_t)
        if not samples:
            return {**row, "skipped": True, "tokens_per_s": 0.0, "time_step": time.perf_counter() - t0}
        scores = scores_for(samples, kappa, algo, self.math_env)
        # 3. flags and the low-variance group filter
        flagged = sample_flags(samples, cfg.max_response_tokens, algo)
        row["flagged_frac"] = float(flagged.float().mean())
        group_ids = ids_from_keys([s.group_id for s in samples])
        traj_ids = ids_from_keys([s.traj_id for s in samples])
        by_traj = algo.group_stats == "trajectory"
        kept = low_variance_group_filter(scores, group_ids, algo.group_filter_ratio, traj_ids if by_traj else None,
                                         algo.group_filter_type, algo.group_filter_pow2, generator=self.rng)
        idx = kept.tolist()
        samples = [samples[i] for i in idx]
        scores, flagged, group_ids, traj_ids = scores[kept], flagged[kept], group_ids[kept], traj_ids[kept]
        row["kept_samples"] = len(samples)
        # 4. invalid penalty, advantages
        valid = torch.tensor([s.action_valid for s in samples])
        scores = apply_invalid_penalty(scores, valid, algo.invalid_action_penalty)
        if algo.advantage_estimator == "gigpo":
            rewards = torch.tensor([s.reward for s in samples], dtype=torch.float64)
            steps = torch.tensor([s.step for s in samples])
            returns = discounted_returns(rewards, traj_ids, algo.gamma, steps)
            returns = apply_invalid_penalty(returns, valid, algo.invalid_action_penalty)
            anchors = ids_from_keys([s.anchor_obs for s in samples])
            adv = gigpo_advantage(scores, returns, group_ids, anchors, algo.gigpo_mode, algo.gigpo_step_weight)
        else:
            adv = grpo_advantage(scores, group_ids, algo.norm_adv_by_std)
        # flagged samples get A = 0; so do constant groups, whose mean subtraction leaves float noise
        # (~1e-16) that would otherwise pass the replay buffer's A > 0 admission
        adv = torch.where(flagged | (adv.abs() < 1e-9), torch.zeros_like(adv), adv)
        # 5. turns trained per trajectory (a CPU-budget knob; 0 = every turn)
        train_idx = self._turn_subset(samples)
        samples = [samples[i] for i in train_idx]
        scores, adv, flagged = scores[train_idx], adv[train_idx], flagged[train_idx]
        # 6. old log-probs under the pre-update policy
        t1 = time.perf_counter()
        batch = to_train_batch(samples, adv.tolist(), (~flagged).tolist())
        batch.old_logprobs = recompute_logprobs(self.policy.model, batch, self.pad_id, cfg.micro_batch_size,
                                                dp=self.dp)
        # 7. replay batch from a full buffer
        replay = None
        if algo.enable_replay and self.buffer.is_full(self._baseline_mean()):
            drained = self.buffer.drain(t, self.history.p50(), generator=self.rng)
            replay = tensors_to_batch(drained.samples, drained.advantages) if drained is not None else None
        # 8. on-policy pass, then the replay pass scaled by c(t)
        for epoch in range(cfg.ppo_epochs):  # one pass each, in a fresh random order
            order = torch.randperm(len(batch), generator=self.rng).tolist()
            stats = optimise(self.policy.model, self.optimizer, batch.select(order), self.loss, pad_id=self.pad_id,
                             mini_batch_size=cfg.mini_batch_size, micro_batch_size=cfg.micro_batch_size,
                             grad_clip=cfg.grad_clip, generator=self.rng, dp=self.dp)
            on = stats if epoch == 0 else on.merge(stats)
        row.update(on.summary(""))
        row["replay_batch"] = len(replay) if replay is not None else 0
        if replay is not None and c_t > 0:
            rep = optimise(self.policy.model, self.optimizer, replay, self.replay_loss, pad_id=self.pad_id,
                           mini_batch_size=cfg.mini_batch_size, micro_batch_size=cfg.micro_batch_size,
                           grad_clip=cfg.grad_clip, loss_weight=c_t, generator=self.rng, dp=self.dp)
            row.update(rep.summary("replay_"))
        # 9. buffer and baseline upkeep
        if algo.enable_replay:
            tensors = batch_to_tensors(batch)
            calls = torch.tensor([s.num_tool_calls > 0 for s in samples])
            self.buffer.add(t, tensors, scores, adv, has_tool_call=calls)
            _, means, stds = group_reward_stats(scores, ids_from_keys([s.group_id for s in samples]),
                                                ids_from_keys([s.traj_id for s in samples]) if by_traj else None)
            self.history.add(t, means, stds)
        row["replay_size"] = len(self.buffer)
        t_update = time.perf_counter() - t1
        elapsed = time.perf_counter() - t0
        row.update(
            score_mean=float(scores.mean()), adv_abs_mean=float(adv.abs().mean()),
            trained_samples=len(batch), generated_tokens=rollout.generated_tokens,
            tokens_per_s=(rollout.generated_tokens + on.tokens) / max(elapsed, 1e-9),
            time_rollout=t_rollout, time_update=t_update, time_step=elapsed,
        )
        return row

    def _baseline_mean(self) -> float | None:
        p50 = self.history.p50()
        return None if p50 is None else p50[0]

    def _turn_subset(self, samples: list[Sample]) -> list[int]:
        k = self.cfg.train_turns_per_episode
        if k <= 0 or self.math_env:
            return list(range(len(samples)))
        by_traj: dict[str, list[int]] = {}
        for i, s in enumerate(samples):
            by_traj.setdefault(s.traj_id, []).append(i)
        chosen: list[int] = []
        for idx in by_traj.values():
            if len(idx) <= k:
                chosen.extend(idx)
            else:
                pick = torch.randperm(len(idx), generator=self.rng)[:k].tolist()
                chosen.extend(idx[p] for p in pick)
        return sorted(chosen)

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, step: int) -> dict[str, Any]:
        from dataclasses import asdict

        from spear_train.training.evaluation import evaluate

        if not self.dist.is_main:  # rank 0 evaluates
            return {}
        key = initial_eval_key(self.cfg, self.seed) if step == 0 and self.initial_evals is not None else None
        result = self.initial_evals.get(key) if key is not None else None
        if result is None:
            result = evaluate(self.cfg, "model", self.policy, seed=derive_seed(self.seed, 2**20),
                              progress=f"eval @ step {step}" if self.progress.mode == "bar" else "")
            if key is not None:
                self.initial_evals[key] = result
        path = self.run_dir.eval_records_path(step)
        path.write_text("".join(json.dumps(asdict(e)) + "\n" for e in result.summaries))
        row = {"kind": "eval", "step": step, **result.summary()}
        self.run_dir.log(row)
        self.eval_history.append(row)
        self.last_eval = result
        self.run_dir.plot_learning_curve(f"{self.cfg.algo} on {self.cfg.env_id}, seed {self.seed}")
        self.progress.note(f"eval @ step {step}: success {result.success:.3f} ± {result.success_se:.3f}, "
                           f"score {result.score:.3f} ± {result.score_se:.3f} ({result.episodes} episodes)")
        return row

    # ------------------------------------------------------------------ checkpoints
    def state(self) -> dict[str, Any]:
        return {
            "step": self.step, "seed": self.seed,
            "optimizer": self.optimizer.state_dict(),
            "replay_buffer": self.buffer.state_dict(), "baseline_history": self.history.state_dict(),
            "rng": rng_state(), "generator": self.rng.get_state(), "eval_history": self.eval_history,
        }

    def save(self) -> Path | None:
        if not self.dist.is_main:  # rank 0 checkpoints (the replicas are equal)
            return None
        return save_checkpoint(self.run_dir.checkpoints, self.step, self.state(), self._save_policy,
                               keep=self.cfg.keep_checkpoints)

    def _save_policy(self, folder: Path) -> None:
        """A folder ``load_policy`` reloads id for id (game-trained tokenizers keep their probe)."""
        from spear_train.models.tokenizer import save_tokenizer, write_probe

        self.policy.model.save_pretrained(folder)
        if getattr(self.policy.tokenizer, "spear_bpe", False):
            save_tokenizer(self.policy.tokenizer, folder)
        else:
            self.policy.tokenizer.save_pretrained(folder)
            write_probe(self.policy.tokenizer, folder, kind="auto")

    def _restore(self) -> None:
        loaded = load_latest_checkpoint(self.run_dir.checkpoints)
        if loaded is None:
            if self.run_dir.read_metrics():
                self.progress.note("no usable checkpoint: starting this seed from step 0")
                self.run_dir.truncate_metrics_after(-1)
            return
        s = loaded.state
        if s["seed"] != self.seed:
            raise TrainingError(f"{loaded.path} belongs to seed {s['seed']}, not {self.seed}")
        if "model" in s:  # checkpoints written before the weights lived only in policy/
            self.policy.model.load_state_dict(s["model"])
        else:
            load_policy_weights(self.policy.model, loaded.path / POLICY_DIR)
        self.optimizer.load_state_dict(s["optimizer"])
        self.buffer.load_state_dict(s["replay_buffer"])
        self.history.load_state_dict(s["baseline_history"])
        set_rng_state(s["rng"])
        self.rng.set_state(s["generator"])
        self.step, self.eval_history = s["step"], list(s["eval_history"])
        self.run_dir.truncate_metrics_after(self.step)
        self.progress.note(f"resumed from {loaded.path} (step {self.step})")

    # ------------------------------------------------------------------ the run
    def run(self) -> dict[str, Any]:
        cfg = self.cfg
        start = time.perf_counter()
        if self.step == 0 and not self.eval_history:
            self.evaluate(0)
        while self.step < cfg.steps:
            self.step += 1
            row = self.train_step(self.step)
            self.run_dir.log(row)
            self.progress.step(row)
            if self.step % cfg.eval_every == 0 or self.step == cfg.steps:
                self.evaluate(self.step)
            if self.step % cfg.checkpoint_every == 0 or self.step == cfg.steps:
                self.save()
        if self.last_eval is None:  # resumed after the final step: evaluate the final policy again
            self.evaluate(self.step)
        self.rollouts.close()
        return {"wall_time_s": time.perf_counter() - start}


def mixed_group_rate(episodes: list[Episode]) -> float:
    """Share of the step's groups holding both a won and a lost episode (the groups whose advantages are
    not all zero under a success reward): ``#{g : 0 < wins_g < n_g} / #groups``; 0 with no episodes."""
    groups: dict[str, list[bool]] = {}
    for e in episodes:
        groups.setdefault(e.group_id, []).append(bool(e.won))
    return sum(any(w) and not all(w) for w in groups.values()) / max(len(groups), 1)


def _mean(xs) -> float:
    xs = list(xs)
    return float(sum(xs) / len(xs)) if xs else float("nan")


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []


def run_folder(cfg: RunConfig, seed: int) -> Path:
    return Path(cfg.out) / f"{cfg.algo}-{cfg.env_name}-seed{seed}"


def build_run_result(cfg: RunConfig, trainer: "Trainer", records_by_seed: dict, wall_time_s: float) -> dict:
    """The result document (leaderboard schema, :mod:`spear_train.leaderboard.schema`) as a dict."""
    from spear_train.leaderboard.schema import ModelInfo, build_result
    from spear_train.training.run_policy import model_name

    params = sum(p.numel() for p in trainer.policy.model.parameters())
    result = build_result(
        records_by_seed, method=f"{cfg.algo} ({model_name(cfg)})",
        model=ModelInfo(name=model_name(cfg), parameters=params), wall_time_s=wall_time_s,
        preset=cfg.algo, config={**dataclasses.asdict(cfg), "algorithm": dataclasses.asdict(trainer.algo)},
        description=f"spear-bench run: {cfg.steps} steps from {model_name(cfg)}; eval on the held-out split",
    )
    return json.loads(result.to_json())


#: RunConfig fields that cannot change a step-0 evaluation (it plays the starting policy only).
_TRAINING_ONLY_FIELDS = frozenset({
    "algo", "algorithm", "steps", "seeds", "out", "lr", "weight_decay", "grad_clip", "adam_betas", "ppo_epochs",
    "mini_batch_size", "micro_batch_size", "gradient_checkpointing", "eval_every", "checkpoint_every",
    "keep_checkpoints", "log_mode", "groups_per_step", "group_size", "train_temperature",
    "train_turns_per_episode",
})


def initial_eval_key(cfg: RunConfig, seed: int) -> str:
    """What determines a run's step-0 ("before") evaluation: the starting model, every evaluation and env
    setting, and the seed. Runs with equal keys (e.g. the presets of a comparison) evaluate the same
    policy on the same tasks with the same sampling seed, so their "before" results are identical."""
    settings = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in _TRAINING_ONLY_FIELDS}
    return json.dumps({"seed": seed, **settings}, sort_keys=True, default=str)


def run_seeds(cfg: RunConfig, resume: bool = False, initial_evals: dict | None = None,
              allow_config_change: bool = False, dist: DistContext = SINGLE) -> list[dict[str, Any]]:
    """Train every seed of ``cfg`` one after the other; print before/after success per seed and the
    mean ± standard error over seeds. Returns one summary dict per seed.

    ``resume`` with a config other than the run folder's is refused unless ``allow_config_change``
    (then logged in metrics.jsonl; :mod:`spear_train.training.resume_guard`).

    ``initial_evals``: a dict the caller keeps across calls (``initial_eval_key`` -> result); a step-0
    evaluation found there is reused instead of played again (comparison benchmarks train several
    presets from one starting policy). ``dist``: rank 0 of a data-parallel run (spear_train.training.launch)."""
    from spear_train.training.run_policy import model_name
    from spear_train.training.evaluation import episode_records, mean_se, paired_gain
    from spear_train.training.progress import Progress
    from spear_train.training.resume_guard import check_resumed_config, config_change_row
    from spear_train.training.run_dir import RunDir, RunDirError

    summaries = []
    for seed in cfg.seeds:
        try:
            run_dir = RunDir(run_folder(cfg, seed), resume=resume)
        except RunDirError as exc:
            raise TrainingError(str(exc)) from None
        changes = check_resumed_config(run_dir.config_path, cfg, dataclasses.asdict(algorithm_config(cfg)),
                                       allow_config_change) if resume else {}
        progress = Progress(cfg.log_mode, cfg.steps, desc=f"{cfg.algo} seed {seed}")
        try:
            trainer = Trainer(cfg, seed, run_dir, progress, resume=resume, initial_evals=initial_evals, dist=dist)
            if changes:
                run_dir.log(config_change_row(trainer.step, changes))
            progress.start_at(trainer.step)
            timing = trainer.run()
            records = episode_records(cfg, trainer.last_eval.summaries)
            if records:
                run_dir.write_result(build_run_result(cfg, trainer, {seed: records}, timing["wall_time_s"]))
        finally:
            progress.close()
            run_dir.close()
        before, after = trainer.eval_history[0], trainer.eval_history[-1]
        gain, gain_se, _ = paired_gain(*(_read_jsonl(run_dir.eval_records_path(r["step"])) for r in (before, after)))
        summary = {"seed": seed, "run_dir": str(run_dir.path), "before": before["success"],
                   "before_se": before["success_se"], "after": after["success"], "after_se": after["success_se"],
                   "gain": gain, "gain_se": gain_se, "wall_time_s": timing["wall_time_s"]}
        summaries.append(summary)
        progress.summary(
            f"{cfg.algo} from {model_name(cfg)} on {cfg.env_id}, seed {seed}: success before {before['success']:.3f} ± "
            f"{before['success_se']:.3f}, after {after['success']:.3f} ± {after['success_se']:.3f}, "
            f"gain {gain:+.3f} ± {gain_se:.3f} (paired SE over the same {before['episodes']} held-out tasks; "
            f"{timing['wall_time_s']:.0f} s) -> {run_dir.path}")
    if len(summaries) > 1:
        for key in ("before", "after", "gain"):
            mean, se = mean_se([s[key] for s in summaries])
            Progress("json" if cfg.log_mode == "json" else "quiet", 0).summary(
                f"{cfg.algo} {key}: success {mean:.3f} ± {se:.3f} (mean ± SE over {len(summaries)} seeds)")
    return summaries
