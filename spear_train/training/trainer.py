"""The one training step every preset runs (docs/algorithms.md, 'Training step order'). Presets differ only in config.

A training step t is seven named phases over one :class:`~spear_train.training.step_batch.StepBatch`, in
this order (:meth:`Trainer.train_step`, then :meth:`Trainer.learn`):

1. rollout: ``groups_per_step`` task instances x ``group_size`` copies, lock-step, one sample per env step
   (one per episode for math); failed samples and those whose prompt exceeds ``max_prompt_tokens`` are
   left out; the rest become the step's batch;
2. score: ``s_i = R_env(τ) + b_tool(t, L(τ))`` (math: ``±1 + bonus``);
3. filter: flags (over-long, void, repetitive, unreadable), then the low-variance group filter;
4. advantages: invalid-action penalty ``s_i -= 0.1·(1 − valid_i)``, then GRPO or GiGPO, flagged = 0;
   (laptop knob) a random subset of ``train_turns_per_episode`` turns per trajectory is kept for training;
5. replay: [SPEAR] if the buffer is full, drain it into a P50-recalibrated replay batch (before this
   step's samples enter it, so a step never replays itself);
6. update: old log-probs under the pre-update policy; AdamW steps over on-policy mini-batches
   (``ppo_epochs`` passes), then over the replay batch's mini-batches with loss x c(t);
7. upkeep: [SPEAR] the buffer admits this step's A > 0 samples; the baseline history records this
   step's group mean/std rewards.

All randomness of a step flows from the run seed and the checkpointed generator ``self.rng`` (drawn in
phase order: group filter, turn subset, drain, mini-batch orders), so a resumed run repeats an
uninterrupted one exactly on CPU. Evaluation, checkpoints and the run loop: :meth:`Trainer.run`.
"""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Any

import torch

from spear_train.algorithms.baseline import BaselineHistory
from spear_train.algorithms.replay_buffer import ReplayBuffer
from spear_train.algorithms.sample_filters import group_reward_stats, low_variance_group_filter
from spear_train.algorithms.schedules import replay_loss_weight, tool_bonus_decay
from spear_train.rollout.samples import Rollout
from spear_train.training import trainer_checkpoints
from spear_train.training.algo_adapter import algorithm_config, loss_settings
from spear_train.training.distributed import SINGLE, DataParallel, DistContext, broadcast_model, gather_rollout
from spear_train.training.run_config import RunConfig, save_run_config
from spear_train.training.seeds import derive_seed
from spear_train.training.step_batch import StepBatch
from spear_train.training.step_values import rollout_metrics, sample_flags, scores_for, step_advantages, turn_subset
from spear_train.training.train_batch import TrainBatch
from spear_train.training.update import UpdateStats, optimise, recompute_logprobs, shuffled_order


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
        self.start_weights_sha256 = run_policy.start_weights_sha256(cfg)  # restore() puts back the saved one
        self.pad_id = int(self.policy.tokenizer.pad_token_id)
        self.optimizer = torch.optim.AdamW(self.policy.model.parameters(), lr=cfg.lr, betas=tuple(cfg.adam_betas),
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
            trainer_checkpoints.restore(self)
        broadcast_model(self.policy.model, dist)
        if dist.is_main:
            save_run_config(cfg, run_dir.config_path, dataclasses.asdict(self.algo))

    # ------------------------------------------------------------------ one training step
    def train_step(self, t: int) -> dict[str, Any]:
        """Phase 1 (several processes: each rolls out its groups, then all gather the step's samples),
        then :meth:`learn`; returns the step's metrics row."""
        t0 = time.perf_counter()
        rollout = gather_rollout(self.rollouts.collect(t, derive_seed(self.seed, t)), self.dist)
        return self.learn(t, rollout, t0)

    def learn(self, t: int, rollout: Rollout, t0: float | None = None) -> dict[str, Any]:
        """Phases 1-7 of the module docstring on the step's whole rollout; returns the metrics row."""
        t0 = time.perf_counter() if t0 is None else t0
        batch, row = self.rollout(t, rollout)
        t_rollout = time.perf_counter() - t0
        a = self.algo
        kappa = tool_bonus_decay(t, a.tool_bonus_steps, a.tool_bonus_mode)
        c_t = replay_loss_weight(t, a.replay_warmup_steps, a.replay_loss_coef) if a.enable_replay else 0.0
        row.update(kappa=kappa, c=c_t)
        if not len(batch):
            return {**row, "skipped": True, "tokens_per_s": 0.0, "time_step": time.perf_counter() - t0}
        batch = self.advantages(self.filter(self.score(batch, kappa), row))
        t1 = time.perf_counter()
        replay = self.replay(t)
        on = self.update(batch, replay, c_t, row)
        self.upkeep(t, batch)
        row["replay_size"] = len(self.buffer)
        elapsed = time.perf_counter() - t0
        row.update(score_mean=float(batch.scores.mean()), adv_abs_mean=float(batch.advantages.abs().mean()),
                   trained_samples=len(batch), generated_tokens=rollout.generated_tokens,
                   tokens_per_s=(rollout.generated_tokens + on.tokens) / max(elapsed, 1e-9),
                   time_rollout=t_rollout, time_update=time.perf_counter() - t1, time_step=elapsed)
        return row

    def rollout(self, t: int, rollout: Rollout) -> tuple[StepBatch, dict[str, Any]]:
        """Phase 1: the rollout's usable samples as one batch, and the row's rollout metrics."""
        samples = [s for s in rollout.samples if not s.failed and s.response_ids]
        fits = [s for s in samples if len(s.prompt_ids) <= self.cfg.max_prompt_tokens]
        batch = StepBatch.from_samples(fits)
        row = {"kind": "train", "step": t, **rollout_metrics([e for e in rollout.episodes if not e.failed], batch),
               "failed_episodes": len(rollout.failed_episodes), "samples": len(batch),
               "long_prompts": len(samples) - len(fits)}
        return batch, row

    def score(self, batch: StepBatch, kappa: float) -> StepBatch:
        """Phase 2: ``s_i`` with the tool-call bonus κ(t)."""
        batch.scores = scores_for(batch, kappa, self.algo, self.math_env)
        return batch

    def filter(self, batch: StepBatch, row: dict[str, Any]) -> StepBatch:
        """Phase 3: flag samples, then keep the low-variance group filter's samples (scores before the
        invalid penalty; trajectory-weighted group stats in the agent envs)."""
        a = self.algo
        batch.flagged = sample_flags(batch, self.cfg.max_response_tokens, a)
        row["flagged_frac"] = float(batch.flagged.float().mean())
        traj_ids = batch.traj_ids if a.group_stats == "trajectory" else None
        kept = low_variance_group_filter(batch.scores, batch.group_ids, a.group_filter_ratio, traj_ids,
                                         a.group_filter_type, a.group_filter_pow2, generator=self.rng)
        batch = batch.select(kept)
        row["kept_samples"] = len(batch)
        return batch

    def advantages(self, batch: StepBatch) -> StepBatch:
        """Phase 4: penalised scores and advantages (flagged = 0), then the turns trained on."""
        batch.scores, advantages = step_advantages(batch, self.algo)
        batch.tokens = batch.tokens.with_values(advantages=advantages, keep=~batch.flagged)
        turns = 0 if self.math_env else self.cfg.train_turns_per_episode
        return batch.select(turn_subset(batch, turns, self.rng))

    def replay(self, t: int) -> TrainBatch | None:
        """Phase 5 [SPEAR]: a full buffer drains into this step's replay batch (P50-recalibrated ``Â``)."""
        if not (self.algo.enable_replay and self.buffer.is_full(self._baseline_mean())):
            return None
        drained = self.buffer.drain(t, self.history.p50(), generator=self.rng)
        return TrainBatch.from_buffer(drained.samples, drained.advantages) if drained is not None else None

    def update(self, batch: StepBatch, replay: TrainBatch | None, c_t: float, row: dict[str, Any]) -> UpdateStats:
        """Phase 6: π_old log-probs, ``ppo_epochs`` on-policy passes (each in a fresh random order), then
        the replay pass with loss weight c(t); returns the on-policy statistics."""
        cfg = self.cfg
        common = dict(pad_id=self.pad_id, mini_batch_size=cfg.mini_batch_size, micro_batch_size=cfg.micro_batch_size,
                      grad_clip=cfg.grad_clip, generator=self.rng, dp=self.dp)
        old = recompute_logprobs(self.policy.model, batch.tokens, self.pad_id, cfg.micro_batch_size, dp=self.dp)
        batch.tokens = batch.tokens.with_values(old_log_probs=old)
        for epoch in range(cfg.ppo_epochs):
            order = shuffled_order(batch.tokens, self.rng)
            stats = optimise(self.policy.model, self.optimizer, batch.tokens.select(order), self.loss, **common)
            on = stats if epoch == 0 else on.merge(stats)
        row.update(on.summary(""))
        row["replay_batch"] = len(replay) if replay is not None else 0
        if replay is not None and c_t > 0:
            rep = optimise(self.policy.model, self.optimizer, replay, self.replay_loss, loss_weight=c_t, **common)
            row.update(rep.summary("replay_"))
        return on

    def upkeep(self, t: int, batch: StepBatch) -> None:
        """Phase 7 [SPEAR]: the buffer admits this step's A > 0 samples (math: with a tool call); the
        baseline history records this step's group mean and std rewards."""
        if not self.algo.enable_replay:
            return
        calls = batch.column("num_tool_calls") > 0
        self.buffer.add(t, batch.tokens.buffer_tensors(), batch.scores, batch.advantages, has_tool_call=calls)
        traj_ids = batch.traj_ids if self.algo.group_stats == "trajectory" else None
        _, means, stds = group_reward_stats(batch.scores, batch.group_ids, traj_ids)
        self.history.add(t, means, stds)

    def _baseline_mean(self) -> float | None:
        p50 = self.history.p50()
        return None if p50 is None else p50[0]

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, step: int) -> dict[str, Any]:
        """Evaluate the policy on the held-out split; log, record and plot the result (rank 0). In a data-parallel
        run every rank plays its share of the evaluation's chunks and rank 0 merges them: the same episodes as
        one process would play (:mod:`spear_train.training.evaluation`)."""
        from dataclasses import asdict

        from spear_train.training.distributed import gather_objects
        from spear_train.training.evaluation import evaluate, merge_results
        from spear_train.training.initial_eval import initial_eval_key

        cached = step == 0 and self.initial_evals is not None and not self.dist.is_distributed
        key = initial_eval_key(self.cfg, self.seed) if cached else None
        result = self.initial_evals.get(key) if key is not None else None
        if result is None:
            result = evaluate(self.cfg, "model", self.policy, seed=derive_seed(self.seed, 2**20),
                              progress=f"eval @ step {step}" if self.progress.mode == "bar" else "",
                              shard=(self.dist.rank, self.dist.world_size))
            if self.dist.is_distributed:
                result = merge_results(gather_objects(result, self.dist))
            if key is not None:
                self.initial_evals[key] = result
        self.last_eval = result  # on every rank: the run's end evaluates again only if no rank has
        if not self.dist.is_main:  # rank 0 logs and records
            return {}
        path = self.run_dir.eval_records_path(step)
        path.write_text("".join(json.dumps(asdict(e)) + "\n" for e in result.summaries))
        row = {"kind": "eval", "step": step, **result.summary()}
        self.run_dir.log(row)
        self.eval_history.append(row)
        self.run_dir.plot_learning_curve(f"{self.cfg.algo} on {self.cfg.env_id}, seed {self.seed}")
        self.progress.note(f"eval @ step {step}: success {result.success:.3f} ± {result.success_se:.3f}, "
                           f"score {result.score:.3f} ± {result.score_se:.3f} ({result.episodes} episodes)")
        return row

    # ------------------------------------------------------------------ checkpoints and the run
    def state(self) -> dict[str, Any]:
        """Everything a resumed run needs besides the weights (:mod:`spear_train.training.trainer_checkpoints`)."""
        return trainer_checkpoints.state(self)

    def save(self):
        """Checkpoint this step (rank 0; the replicas are equal); returns its folder or None."""
        return trainer_checkpoints.save(self)

    def run(self) -> dict[str, Any]:
        """Evaluate at step 0, train to ``cfg.steps`` (evaluating every ``eval_every`` and checkpointing every
        ``checkpoint_every`` steps, and both at the end); returns ``{"wall_time_s": ...}``."""
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
