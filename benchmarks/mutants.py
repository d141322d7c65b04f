"""The planted bugs of ``benchmarks/mutation_check.py``: realistic mistakes in the trainer's wiring
(spear_train/training) and in the algorithms it calls (spear_train/algorithms).

Each mutant is an exact text replacement in one file: ``old`` must occur exactly once in the current
source, or the mutant is reported as STALE (the code moved; update the snippet here). ``issue`` marks the
eleven kinds that once passed the suite unnoticed (docs/training.md, "Mutation check").
"""

from __future__ import annotations

from dataclasses import dataclass

TRAINER = "spear_train/training/trainer.py"
VALUES = "spear_train/training/step_values.py"
STEP_BATCH = "spear_train/training/step_batch.py"
UPDATE = "spear_train/training/update.py"
ADAPTER = "spear_train/training/algo_adapter.py"
BUFFER = "spear_train/algorithms/replay_buffer.py"
BASELINE = "spear_train/algorithms/baseline.py"


@dataclass(frozen=True)
class Mutant:
    """A named bug: ``edits`` are ``(old, new)`` replacements applied in order to the file ``path``."""

    name: str
    path: str  # relative to the repository root
    edits: tuple[tuple[str, str], ...]
    what: str
    issue: bool = False  # one of the core kinds the mutation check must always catch


def bug(name: str, path: str, old: str, new: str, what: str, issue: bool = False) -> Mutant:
    """A mutant with a single replacement."""
    return Mutant(name, path, ((old, new),), what, issue)


# Phases 5-7 of Trainer.learn, for the mutant that runs buffer upkeep before the drain.
_PHASES = """        replay = self.replay(t)
        on = self.update(batch, replay, c_t, row)
        self.upkeep(t, batch)
"""
_UPKEEP_FIRST = """        self.upkeep(t, batch)
        replay = self.replay(t)
        on = self.update(batch, replay, c_t, row)
"""

MUTANTS: tuple[Mutant, ...] = (
    # ------------------------------------------------------------ the core kinds (must always be caught)
    bug("replay-weight-one", TRAINER, "self.replay_loss, loss_weight=c_t, **common)",
        "self.replay_loss, loss_weight=1.0, **common)", "replay loss weight c(t) replaced by 1", True),
    bug("flagged-keep-advantage", VALUES, "return scores, zero_flagged_advantages(adv, batch.flagged)",
        "return scores, zero_flagged_advantages(adv, torch.zeros_like(batch.flagged))",
        "flagged samples keep their advantage", True),
    bug("penalty-sign", VALUES, "scores = apply_invalid_penalty(batch.scores, valid, algo.invalid_action_penalty)",
        "scores = apply_invalid_penalty(batch.scores, valid, -algo.invalid_action_penalty)",
        "invalid-action penalty with the wrong sign", True),
    bug("gigpo-preset-runs-grpo", VALUES, 'if algo.advantage_estimator == "gigpo":',
        'if algo.advantage_estimator == "GiGPO":', "GRPO advantages used for a GiGPO preset", True),
    bug("tool-bonus-dropped", VALUES,
        'return returns + agent_tool_bonus(batch.column("episode_length"), kappa, dtype=torch.float64)',
        "return returns", "agent-env tool-call bonus dropped", True),
    Mutant("upkeep-before-drain", TRAINER, ((_PHASES, _UPKEEP_FIRST),),
           "buffer upkeep moved before the drain (a step replays its own samples)", True),
    bug("optimise-ignores-loss-weight", UPDATE, "(loss_weight * total / len(micros)).backward()",
        "(total / len(micros)).backward()", "optimise ignores loss_weight", True),
    bug("grad-clip-off", UPDATE, "clip_grad_norm_(model.parameters(), grad_clip)",
        'clip_grad_norm_(model.parameters(), float("inf"))', "gradient clipping off", True),
    bug("micro-loss-not-divided", UPDATE, "(loss_weight * total / len(micros)).backward()",
        "(loss_weight * total).backward()", "micro-batch losses not divided by their count", True),
    bug("old-logprobs-never-recomputed", TRAINER, "batch.tokens = batch.tokens.with_values(old_log_probs=old)",
        "batch.tokens = batch.tokens.with_values()", "old log-probs never recomputed (left at 0)", True),
    bug("replay-uses-on-policy-loss", TRAINER, "replay, self.replay_loss, loss_weight=c_t",
        "replay, self.loss, loss_weight=c_t", "replay pass with the on-policy loss settings", True),
    # ------------------------------------------------------------ more of the same family
    bug("replay-settings-from-on-policy", ADAPTER,
        "loss_mode=algo.replay_policy_loss if replay else algo.policy_loss",
        "loss_mode=algo.policy_loss", "loss_settings(replay=True) returns the on-policy loss mode"),
    bug("math-tool-bonus-dropped", VALUES, 'batch.column("num_tool_calls"), kappa, algo.tool_bonus_variant',
        'batch.column("num_tool_calls"), 0.0, algo.tool_bonus_variant', "math tool-call bonus dropped"),
    bug("math-buffer-ignores-tool-calls", TRAINER, "batch.advantages, has_tool_call=calls)",
        "batch.advantages, has_tool_call=torch.ones_like(calls))", "math buffer admits answers without a tool call"),
    bug("tool-replies-trained", STEP_BATCH, "[list(s.loss_mask) if s.loss_mask else [1] * len(s.response_ids)",
        "[[1] * len(s.response_ids)", "tool-reply tokens get loss mask 1"),
    bug("gigpo-step-weight-ignored", VALUES, "algo.gigpo_mode,\n                              algo.gigpo_step_weight)",
        "algo.gigpo_mode,\n                              1.0)", "GiGPO step-level weight omega ignored"),
    bug("gigpo-returns-unpenalised", VALUES,
        "        returns = apply_invalid_penalty(returns, valid, algo.invalid_action_penalty)\n", "",
        "GiGPO step returns miss the invalid-action penalty"),
    bug("clip-ratios-swapped", ADAPTER,
        "clip_low=algo.clip_ratio_low,\n        clip_high=algo.clip_ratio_high,",
        "clip_low=algo.clip_ratio_high,\n        clip_high=algo.clip_ratio_low,", "clip ratios low/high swapped"),
    bug("flagged-denominator-inverted", ADAPTER,
        "flagged_in_loss_denominator=not algo.exclude_flagged_from_loss",
        "flagged_in_loss_denominator=algo.exclude_flagged_from_loss",
        "flagged samples in/out of the loss denominator the wrong way round"),
    bug("kappa-frozen", TRAINER, "kappa = tool_bonus_decay(t, a.tool_bonus_steps",
        "kappa = tool_bonus_decay(0, a.tool_bonus_steps", "tool-bonus decay kappa(t) stuck at kappa(0)"),
    bug("replay-warmup-skipped", TRAINER, "replay_loss_weight(t, a.replay_warmup_steps,",
        "replay_loss_weight(a.replay_warmup_steps, a.replay_warmup_steps,", "c(t) without its warm-up"),
    bug("history-from-advantages", TRAINER, "group_reward_stats(batch.scores, batch.group_ids, traj_ids)",
        "group_reward_stats(batch.advantages, batch.group_ids, traj_ids)",
        "baseline history fed advantages instead of scores"),
    bug("ppo-epochs-ignored", TRAINER, "for epoch in range(cfg.ppo_epochs):", "for epoch in range(1):",
        "ppo_epochs ignored"),
    bug("advantage-mask-ignored", UPDATE, "dtype=torch.float32), masks.advantage_mask)",
        "dtype=torch.float32), mask)", "unkept samples keep their policy-gradient term"),
    bug("old-logprobs-misassigned", UPDATE, "out[idx, : logp.shape[1]] = logp.float().cpu()",
        "out[start:start + len(idx), : logp.shape[1]] = logp.float().cpu()", "pi_old log-probs given to the wrong samples"),
    bug("no-zero-grad-per-mini-batch", UPDATE, "        optimizer.zero_grad(set_to_none=True)\n        for ",
        "        for ", "gradients accumulate across mini-batches"),
    bug("replay-batch-not-filtered", BUFFER, "keep = recalibration_keep_mask(adv, strict=self.strict_positive)",
        "keep = torch.ones_like(adv, dtype=torch.bool)", "replayed samples below the P50 baseline kept"),
    bug("replay-keeps-stored-advantage", BUFFER,
        "adv = p50_recalibrate(scores, baseline[0], baseline[1], self.norm_by_std, ADV_EPS)",
        "adv = stored_adv.clone()", "replay advantages not recalibrated against the baseline"),
    bug("baseline-p75", BASELINE, "float(torch.quantile(means, 0.5))", "float(torch.quantile(means, 0.75))",
        "SPEAR baseline at the 75th percentile instead of the median"),
    bug("buffer-admits-zero-advantage", BUFFER, "admit = advantages > 0", "admit = advantages >= 0",
        "buffer admits A = 0 (flagged and constant-group samples)"),
    bug("buffer-stale-bound-off-by-one", BUFFER, 'replay_step - c["step"] <= self.max_age',
        'replay_step - c["step"] < self.max_age', "replay staleness bound one step too strict"),
    # ------------------------------------------------------------ the phases of the training step
    bug("group-filter-skipped", TRAINER, "        batch = batch.select(kept)\n", "",
        "the low-variance group filter's choice ignored (Dr.BoT trains on every group)"),
    bug("flags-ignored", TRAINER, "batch.flagged = sample_flags(batch, self.cfg.max_response_tokens, a)",
        "batch.flagged = torch.zeros(len(batch), dtype=torch.bool)", "no sample is ever flagged"),
    bug("flagged-kept-in-loss", TRAINER, "advantages=advantages, keep=~batch.flagged)",
        "advantages=advantages, keep=torch.ones_like(batch.flagged))",
        "flagged samples stay in the math loss (keep mask all true)"),
    bug("turn-subset-ignored", TRAINER, "turns = 0 if self.math_env else self.cfg.train_turns_per_episode",
        "turns = 0", "train_turns_per_episode ignored (every turn trained)"),
    bug("clip-higher-ignored", UPDATE, "settings.clip_low, settings.clip_high,\n                            settings.dual_clip_c",
        "settings.clip_low, settings.clip_low,\n                            settings.dual_clip_c",
        "the vanilla loss clips symmetrically at clip_low (clip-higher ignored)"),
    bug("replay-drain-skipped", TRAINER, "        replay = self.replay(t)\n", "        replay = None\n",
        "a full buffer is never drained into a replay pass"),
)
