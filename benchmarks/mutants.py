"""The planted bugs of ``benchmarks/mutation_check.py``: realistic mistakes in the trainer's wiring
(spear_train/training) and in the algorithms it calls (spear_train/algorithms).

Each mutant is an exact text replacement in one file: ``old`` must occur exactly once in the current
source, or the mutant is reported as STALE (the code moved; update the snippet here). ``issue`` marks the
eleven kinds that once passed the suite unnoticed (docs/training.md, "Mutation check").
"""

from __future__ import annotations

from dataclasses import dataclass

LOOP = "spear_train/training/loop.py"
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


# Steps 7-9 of Trainer.train_step, for the mutant that moves buffer upkeep before the drain.
_DRAIN = """        # 7. replay batch from a full buffer
        replay = None
        if algo.enable_replay and self.buffer.is_full(self._baseline_mean()):
"""
_UPKEEP = """        # 9. buffer and baseline upkeep
        if algo.enable_replay:
            tensors = batch_to_tensors(batch)
            calls = torch.tensor([s.num_tool_calls > 0 for s in samples])
            self.buffer.add(t, tensors, scores, adv, has_tool_call=calls)
            _, means, stds = group_reward_stats(scores, ids_from_keys([s.group_id for s in samples]),
                                                ids_from_keys([s.traj_id for s in samples]) if by_traj else None)
            self.history.add(t, means, stds)
"""

MUTANTS: tuple[Mutant, ...] = (
    # ------------------------------------------------------------ the core kinds (must always be caught)
    bug("replay-weight-one", LOOP, "grad_clip=cfg.grad_clip, loss_weight=c_t,",
        "grad_clip=cfg.grad_clip, loss_weight=1.0,", "replay loss weight c(t) replaced by 1", True),
    bug("flagged-keep-advantage", LOOP, "torch.where(flagged | (adv.abs() < 1e-9),",
        "torch.where((adv.abs() < 1e-9),", "flagged samples keep their advantage", True),
    bug("penalty-sign", LOOP, "scores = apply_invalid_penalty(scores, valid, algo.invalid_action_penalty)",
        "scores = apply_invalid_penalty(scores, valid, -algo.invalid_action_penalty)",
        "invalid-action penalty with the wrong sign", True),
    bug("gigpo-preset-runs-grpo", LOOP, 'if algo.advantage_estimator == "gigpo":',
        'if algo.advantage_estimator == "GiGPO":', "GRPO advantages used for a GiGPO preset", True),
    bug("tool-bonus-dropped", LOOP, "return returns + agent_tool_bonus(lengths, kappa, dtype=torch.float64)",
        "return returns", "agent-env tool-call bonus dropped", True),
    Mutant("upkeep-before-drain", LOOP, ((_UPKEEP, ""), (_DRAIN, _UPKEEP + _DRAIN)),
           "buffer upkeep moved before the drain (a step replays its own samples)", True),
    bug("optimise-ignores-loss-weight", UPDATE, "(loss_weight * total / len(micros)).backward()",
        "(total / len(micros)).backward()", "optimise ignores loss_weight", True),
    bug("grad-clip-off", UPDATE, "clip_grad_norm_(model.parameters(), grad_clip)",
        'clip_grad_norm_(model.parameters(), float("inf"))', "gradient clipping off", True),
    bug("micro-loss-not-divided", UPDATE, "(loss_weight * total / len(micros)).backward()",
        "(loss_weight * total).backward()", "micro-batch losses not divided by their count", True),
    bug("old-logprobs-never-recomputed", LOOP, "batch.old_logprobs = recompute_logprobs(",
        "_unused = recompute_logprobs(", "old log-probs never recomputed (left at 0)", True),
    bug("replay-uses-on-policy-loss", LOOP, "replay, self.replay_loss, pad_id=self.pad_id",
        "replay, self.loss, pad_id=self.pad_id", "replay pass with the on-policy loss settings", True),
    # ------------------------------------------------------------ more of the same family
    bug("replay-settings-from-on-policy", ADAPTER,
        "loss_mode=algo.replay_policy_loss if replay else algo.policy_loss",
        "loss_mode=algo.policy_loss", "loss_settings(replay=True) returns the on-policy loss mode"),
    bug("math-tool-bonus-dropped", LOOP, "return math_reward(won, calls, kappa,", "return math_reward(won, calls, 0.0,",
        "math tool-call bonus dropped"),
    bug("math-buffer-ignores-tool-calls", LOOP, "self.buffer.add(t, tensors, scores, adv, has_tool_call=calls)",
        "self.buffer.add(t, tensors, scores, adv, has_tool_call=torch.ones_like(calls))",
        "math buffer admits answers without a tool call"),
    bug("tool-replies-trained", LOOP,
        "loss_mask=[list(s.loss_mask) if s.loss_mask else [1] * len(s.response_ids) for s in samples],",
        "loss_mask=[[1] * len(s.response_ids) for s in samples],", "tool-reply tokens get loss mask 1"),
    bug("gigpo-step-weight-ignored", LOOP, "algo.gigpo_mode, algo.gigpo_step_weight)", "algo.gigpo_mode, 1.0)",
        "GiGPO step-level weight omega ignored"),
    bug("gigpo-returns-unpenalised", LOOP,
        "            returns = apply_invalid_penalty(returns, valid, algo.invalid_action_penalty)\n", "",
        "GiGPO step returns miss the invalid-action penalty"),
    bug("clip-ratios-swapped", ADAPTER,
        "clip_low=algo.clip_ratio_low,\n        clip_high=algo.clip_ratio_high,",
        "clip_low=algo.clip_ratio_high,\n        clip_high=algo.clip_ratio_low,", "clip ratios low/high swapped"),
    bug("flagged-denominator-inverted", ADAPTER,
        "flagged_in_loss_denominator=not algo.exclude_flagged_from_loss",
        "flagged_in_loss_denominator=algo.exclude_flagged_from_loss",
        "flagged samples in/out of the loss denominator the wrong way round"),
    bug("kappa-frozen", LOOP, "kappa = tool_bonus_decay(t, algo.tool_bonus_steps",
        "kappa = tool_bonus_decay(0, algo.tool_bonus_steps", "tool-bonus decay kappa(t) stuck at kappa(0)"),
    bug("replay-warmup-skipped", LOOP, "replay_loss_weight(t, algo.replay_warmup_steps,",
        "replay_loss_weight(algo.replay_warmup_steps, algo.replay_warmup_steps,", "c(t) without its warm-up"),
    bug("history-from-advantages", LOOP, "_, means, stds = group_reward_stats(scores,",
        "_, means, stds = group_reward_stats(adv,", "baseline history fed advantages instead of scores"),
    bug("ppo-epochs-ignored", LOOP, "for epoch in range(cfg.ppo_epochs):", "for epoch in range(1):",
        "ppo_epochs ignored"),
    bug("advantage-mask-ignored", UPDATE, "adv_mask = mask * keep", "adv_mask = mask",
        "unkept samples keep their policy-gradient term"),
    bug("old-logprobs-misassigned", UPDATE, "out[i] = logp[k, : len(r)].tolist()",
        "out[start + k] = logp[k, : len(r)].tolist()", "pi_old log-probs given to the wrong samples"),
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
)
