"""What the phases of a training step compute per sample, as functions of a :class:`StepBatch` and the
preset: scores (with the tool-call bonus), flags, advantages and the trained turn subset. Each one reads
the batch and calls the tested pure functions of :mod:`spear_train.algorithms`; formulas are in
docs/algorithms.md under the names quoted.
"""

from __future__ import annotations

import torch
from torch import Tensor

from spear_train.algorithms.config import AlgorithmConfig
from spear_train.algorithms.gigpo_advantage import discounted_returns, gigpo_advantage
from spear_train.algorithms.grpo_advantage import apply_invalid_penalty, grpo_advantage
from spear_train.algorithms.sample_filters import (
    is_unreadable,
    is_void_math_turn,
    is_void_turn,
    overlong_flags,
    repetitive_flags,
    zero_flagged_advantages,
)
from spear_train.algorithms.schedules import agent_tool_bonus, math_reward
from spear_train.rollout.samples import Episode
from spear_train.training.step_batch import StepBatch


def scores_for(batch: StepBatch, kappa: float, algo: AlgorithmConfig, math_env: bool) -> Tensor:
    """``s_i`` ``[N]`` float64 before the invalid penalty: the episode reward plus the tool-call bonus
    ('Tool-call bonus κ(t)'): ``R_env(τ) + κ·b(L(τ))`` in the agent envs, ``±1 + κ·min(0.1·n_tc, 1)`` for math."""
    if math_env:
        return math_reward(batch.column("won"), batch.column("num_tool_calls"), kappa, algo.tool_bonus_variant,
                           dtype=torch.float64)
    returns = batch.column("episode_return", torch.float64)
    return returns + agent_tool_bonus(batch.column("episode_length"), kappa, dtype=torch.float64)


def sample_flags(batch: StepBatch, max_response_tokens: int, algo: AlgorithmConfig) -> Tensor:
    """``[N]`` bool: the sample is over-long, void, repetitive or unreadable, for each flag the preset
    switches on ('Sample flags'). Over-long: the generation was cut (``truncated``) or
    ``length ≥ max_response_tokens``."""
    s, tokens = batch.samples, batch.tokens
    flagged = torch.zeros(len(s), dtype=torch.bool)
    if not s:
        return flagged
    if algo.filter_void_turn:
        math_rule = algo.void_turn_rule == "boxed_answer"
        flagged |= torch.tensor([is_void_math_turn(x.response_text) if math_rule else is_void_turn(x.response_text_raw)
                                 for x in s])
    if algo.filter_unreadable:
        flagged |= torch.tensor([is_unreadable(x.response_text) for x in s])
    if algo.filter_overlong:
        flagged |= batch.column("truncated", torch.bool) | overlong_flags(tokens.response_len, max_response_tokens)
    if algo.filter_repetitive:
        flagged |= repetitive_flags(tokens.response_ids, tokens.response_mask(), algo.repetition_ngram,
                                    algo.repetition_threshold)
    return flagged


def step_advantages(batch: StepBatch, algo: AlgorithmConfig) -> tuple[Tensor, Tensor]:
    """``(scores, advantages)``, both ``[N]`` float64: the invalid-action penalty
    ``s_i −= penalty·(1 − valid_i)``, then GRPO ('GRPO advantage') or GiGPO ('GiGPO advantage', step returns
    penalised the same way) advantages, 0 for flagged samples and float noise ('What a flag does')."""
    valid = batch.column("action_valid")
    scores = apply_invalid_penalty(batch.scores, valid, algo.invalid_action_penalty)
    if algo.advantage_estimator == "gigpo":
        returns = discounted_returns(batch.column("reward", torch.float64), batch.traj_ids, algo.gamma,
                                     batch.column("step"))
        returns = apply_invalid_penalty(returns, valid, algo.invalid_action_penalty)
        adv = gigpo_advantage(scores, returns, batch.group_ids, batch.keys("anchor_obs"), algo.gigpo_mode,
                              algo.gigpo_step_weight)
    else:
        adv = grpo_advantage(scores, batch.group_ids, algo.norm_adv_by_std)
    return scores, zero_flagged_advantages(adv, batch.flagged)


def turn_subset(batch: StepBatch, turns: int, generator: torch.Generator) -> list[int]:
    """Rows to train on: every row when ``turns <= 0``, else a uniform random ``turns`` of each
    trajectory's samples (all of a shorter one), ascending (a CPU-budget knob, ``train_turns_per_episode``)."""
    if turns <= 0:
        return list(range(len(batch)))
    by_traj: dict[str, list[int]] = {}
    for i, s in enumerate(batch.samples):
        by_traj.setdefault(s.traj_id, []).append(i)
    chosen: list[int] = []
    for idx in by_traj.values():
        if len(idx) <= turns:
            chosen.extend(idx)
        else:
            pick = torch.randperm(len(idx), generator=generator)[:turns].tolist()
            chosen.extend(idx[p] for p in pick)
    return sorted(chosen)


def mixed_group_rate(episodes: list[Episode]) -> float:
    """Share of the step's groups holding both a won and a lost episode (the groups whose advantages are
    not all zero under a success reward): ``#{g : 0 < wins_g < n_g} / #groups``; 0 with no episodes."""
    groups: dict[str, list[bool]] = {}
    for e in episodes:
        groups.setdefault(e.group_id, []).append(bool(e.won))
    return sum(any(w) and not all(w) for w in groups.values()) / max(len(groups), 1)


def rollout_metrics(episodes: list[Episode], batch: StepBatch) -> dict[str, float]:
    """The rollout's part of a step's metrics row (means over the step's finished episodes and samples)."""
    return {"reward_mean": _mean([e.episode_return for e in episodes]),
            "success": _mean([float(e.won) for e in episodes]),
            "episode_length": _mean([e.length for e in episodes]),
            "invalid_frac": _mean([1.0 - s.action_valid for s in batch.samples]),
            "mixed_groups": mixed_group_rate(episodes)}


def _mean(xs) -> float:
    xs = list(xs)
    return float(sum(xs) / len(xs)) if xs else float("nan")
