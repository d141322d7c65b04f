"""GRPO, GiGPO, Dr.BoT and SPEAR as pure, vectorised functions on batched torch tensors.

Formulas and defaults: docs/algorithms.md (the map from each paper component to its function, then
every formula by name). Conventions: ``B`` samples (one per env step in ALFWorld/WebShop, one per response in
math), ``L`` padded response width, group/trajectory/anchor ids as ``LongTensor[B]``
(:func:`ids_from_keys` turns uids or raw observation strings into ids).
"""

from spear_train.algorithms.baseline import BaselineHistory, decay_recalibrate, p50_recalibrate, recalibration_keep_mask
from spear_train.algorithms.clip_cov import clip_cov_loss, kl_cov_loss, random_subset_mask, token_covariance
from spear_train.algorithms.config import AlgorithmConfig
from spear_train.algorithms.gigpo_advantage import (
    discounted_returns,
    gigpo_advantage,
    gigpo_step_advantage,
    positions_in_trajectory,
)
from spear_train.algorithms.grouping import dense_ids, ids_from_keys
from spear_train.algorithms.grpo_advantage import apply_invalid_penalty, broadcast_to_tokens, grpo_advantage
from spear_train.algorithms.policy_loss import (
    LOSS_AGG_MODES,
    PolicyLossOutput,
    actor_loss,
    aggregate_loss,
    entropy_from_log_probs,
    entropy_from_logits,
    low_var_kl,
    masked_mean,
    ppo_clip_loss,
)
from spear_train.algorithms.presets import ENV_NAMES, PRESET_ALIASES, PRESET_NAMES, algorithm_preset
from spear_train.algorithms.replay_buffer import ReplayBatch, ReplayBuffer, replay_subsample_size
from spear_train.algorithms.sample_filters import (
    FlaggedMasks,
    group_reward_stats,
    is_unreadable,
    is_void_math_turn,
    is_void_turn,
    low_variance_group_filter,
    mask_flagged_samples,
    overlong_flags,
    pow2_floor,
    repetitive_flags,
    zero_flagged_advantages,
)
from spear_train.algorithms.schedules import agent_tool_bonus, math_reward, replay_loss_weight, tool_bonus_decay
from spear_train.config_error import ConfigError

__all__ = [
    # advantages
    "ids_from_keys", "dense_ids", "apply_invalid_penalty", "grpo_advantage", "broadcast_to_tokens",
    "positions_in_trajectory", "discounted_returns", "gigpo_step_advantage", "gigpo_advantage",
    # losses
    "LOSS_AGG_MODES", "PolicyLossOutput", "masked_mean", "aggregate_loss", "ppo_clip_loss", "entropy_from_logits", "entropy_from_log_probs",
    "low_var_kl", "actor_loss", "token_covariance", "random_subset_mask", "clip_cov_loss", "kl_cov_loss",
    # flags and filters
    "overlong_flags", "is_void_turn", "is_void_math_turn", "is_unreadable", "repetitive_flags", "FlaggedMasks",
    "mask_flagged_samples", "zero_flagged_advantages", "pow2_floor", "group_reward_stats", "low_variance_group_filter",
    # SPEAR
    "ReplayBuffer", "ReplayBatch", "replay_subsample_size", "BaselineHistory", "p50_recalibrate",
    "recalibration_keep_mask", "decay_recalibrate", "replay_loss_weight", "tool_bonus_decay", "agent_tool_bonus",
    "math_reward",
    # configs and presets
    "AlgorithmConfig", "ConfigError", "PRESET_NAMES", "PRESET_ALIASES", "ENV_NAMES", "algorithm_preset",
]
