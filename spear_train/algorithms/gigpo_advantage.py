"""GiGPO advantage: an episode part from uid groups plus a step part from anchor-state groups.

Formulas: docs/algorithms.md, 'GiGPO advantage'.

``A_i = A^E_i + ω · A^S_i``.

* ``A^E``: the GRPO advantage on the sample scores ``s_i`` (step-weighted uid groups).
* ``A^S``: within each *step group* (samples of one uid whose raw observations are exactly equal), the
  discounted return ``G_i`` centred (and, in ``mean_std_norm``, scaled) by the step group's statistics.
  A singleton step group gives ``A^S = 0``.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from spear_train.algorithms.grouping import dense_ids, group_mean_std, pair_ids
from spear_train.algorithms.grpo_advantage import ADV_EPS, grpo_advantage

GigpoMode = Literal["mean_std_norm", "mean_norm"]
GIGPO_MODES = ("mean_std_norm", "mean_norm")


def positions_in_trajectory(traj_ids: Tensor) -> Tensor:
    """0-based position of every sample within its trajectory, in batch order. ``[B]`` → ``[B]`` long.

    Samples of a trajectory must appear in step order (they need not be contiguous).
    """
    traj, num = dense_ids(traj_ids)
    order = torch.argsort(traj, stable=True)
    counts = torch.bincount(traj, minlength=num)
    starts = torch.cumsum(counts, 0) - counts
    pos_sorted = torch.arange(traj.numel(), device=traj.device) - starts.index_select(0, traj.index_select(0, order))
    return torch.empty_like(traj).scatter_(0, order, pos_sorted)


def discounted_returns(rewards: Tensor, traj_ids: Tensor, gamma: float, step_index: Tensor | None = None) -> Tensor:
    """Per-step discounted return ``G_k = Σ_{j ≥ k} γ^{j−k} r_j`` within each trajectory.

    Vectorised as a padded ``[T, Lmax]`` reward grid times the upper-triangular discount matrix
    ``D[k, j] = γ^{j−k}·1[j ≥ k]``.

    Args:
        rewards: ``[B]`` raw per-step env rewards (no tool bonus, no penalty).
        traj_ids: ``[B]`` trajectory ids.
        step_index: ``[B]`` 0-based step of each sample in its trajectory; default
            :func:`positions_in_trajectory` (batch order).
    Returns: ``[B]`` returns in ``rewards.dtype``.
    """
    traj, num = dense_ids(traj_ids)
    if step_index is None:
        step_index = positions_in_trajectory(traj_ids)
    if rewards.numel() == 0:
        return rewards.clone()
    width = int(step_index.max().item()) + 1
    cell = traj * width + step_index
    grid = torch.zeros(num * width, dtype=rewards.dtype, device=rewards.device).index_copy_(0, cell, rewards).view(num, width)
    k = torch.arange(width, device=rewards.device)
    power = (k.unsqueeze(0) - k.unsqueeze(1)).to(rewards.dtype)  # [k, j] = j − k
    discount = torch.where(power >= 0, torch.as_tensor(gamma, dtype=rewards.dtype, device=rewards.device) ** power.clamp_min(0), 0)
    returns = grid @ discount.T
    return returns.reshape(-1).index_select(0, cell)


def gigpo_step_advantage(returns: Tensor, group_ids: Tensor, anchor_ids: Tensor, mode: GigpoMode = "mean_std_norm", eps: float = ADV_EPS) -> Tensor:
    """Step-level part ``A^S`` of GiGPO.

    Step groups are the pairs (uid, anchor state). Within a step group with mean ``μ`` and unbiased std
    ``σ`` of the returns: ``mean_std_norm``: ``(G_i − μ)/(σ + eps)``; ``mean_norm``: ``G_i − μ``.
    A singleton step group uses its own value as mean, so ``A^S = 0`` (whatever its σ).

    Args:
        returns: ``[B]`` discounted returns, invalid penalty already applied.
        group_ids, anchor_ids: ``[B]`` uid ids and ids of the exact raw observation
            (see :func:`spear_train.algorithms.grouping.ids_from_keys`).
    Returns: ``[B]``.
    """
    if mode not in GIGPO_MODES:
        raise ValueError(f"mode must be one of {GIGPO_MODES}, got {mode!r}")
    step_groups = pair_ids(group_ids, anchor_ids)
    num = int(step_groups.max().item()) + 1 if step_groups.numel() else 0
    mean, std, _ = group_mean_std(returns, step_groups, num, unbiased=True)
    centred = returns - mean.index_select(0, step_groups)
    return centred / (std.index_select(0, step_groups) + eps) if mode == "mean_std_norm" else centred


def gigpo_advantage(
    scores: Tensor,
    returns: Tensor,
    group_ids: Tensor,
    anchor_ids: Tensor,
    mode: GigpoMode = "mean_std_norm",
    step_weight: float = 1.0,
    eps: float = ADV_EPS,
) -> Tensor:
    """GiGPO advantage ``A_i = A^E_i + ω·A^S_i`` per sample.

    Args:
        scores: ``[B]`` episode scores ``s_i`` (env reward + tool bonus − invalid penalty).
        returns: ``[B]`` discounted step returns with the invalid penalty applied (:func:`discounted_returns`).
        group_ids, anchor_ids: ``[B]`` uid ids and exact-observation ids.
        mode: normalisation of both parts: ``mean_std_norm`` or ``mean_norm``.
        step_weight: ω.
    Returns: ``[B]``.
    """
    if mode not in GIGPO_MODES:
        raise ValueError(f"mode must be one of {GIGPO_MODES}, got {mode!r}")
    episode = grpo_advantage(scores, group_ids, norm_by_std=mode == "mean_std_norm", eps=eps)
    return episode + step_weight * gigpo_step_advantage(returns, group_ids, anchor_ids, mode, eps)
