"""GRPO outcome advantage and the invalid-action penalty (docs/algorithms.md, 'GRPO advantage',
'Invalid-action penalty').

A sample is one environment step (ALFWorld/WebShop) or one whole response (math). Group statistics are
taken over the samples that share a uid, so in the agent envs they are *step-weighted*: a 40-step
trajectory weighs 40 times in its group's mean and std. No loop over tokens: the scalar advantage
is broadcast to the response tokens with :func:`broadcast_to_tokens`.
"""

from __future__ import annotations

from torch import Tensor

from spear_train.algorithms.grouping import dense_ids, group_mean_std

INVALID_ACTION_PENALTY = 0.1
ADV_EPS = 1e-6


def apply_invalid_penalty(values: Tensor, valid: Tensor, penalty: float = INVALID_ACTION_PENALTY) -> Tensor:
    """``values − penalty · (1 − valid)``, per sample (also applied to GiGPO step returns).

    Args:
        values: ``[B]`` sample scores ``s_i`` (or GiGPO step returns ``G_k``).
        valid: ``[B]`` format validity of the step's action (bool or 0/1), see docs/rollouts.md, 'Action parsing'.
    Returns: ``[B]``, same dtype as ``values``.
    """
    return values - penalty * (1 - valid.to(values.dtype))


def grpo_advantage(scores: Tensor, group_ids: Tensor, norm_by_std: bool = True, eps: float = ADV_EPS) -> Tensor:
    """GRPO outcome advantage per sample.

    With ``μ_g`` the mean and ``σ_g`` the unbiased (ddof = 1) std of the scores of all samples in group g:

    * ``norm_by_std=True`` (GRPO):          ``A_i = (s_i − μ_g) / (σ_g + eps)``
    * ``norm_by_std=False`` (Dr.BoT/SPEAR): ``A_i = s_i − μ_g``
    * a singleton group uses ``μ = 0, σ = 1``, i.e. ``A_i = s_i / (1 + eps)`` or ``s_i``.

    Args:
        scores: ``[B]`` float sample scores ``s_i``.
        group_ids: ``[B]`` integer group (uid) ids; any integers.
    Returns: ``[B]`` advantages in ``scores.dtype``.
    """
    if scores.shape != group_ids.shape or scores.dim() != 1:
        raise ValueError(f"scores and group_ids must both be [B]; got {tuple(scores.shape)} and {tuple(group_ids.shape)}")
    dense, num = dense_ids(group_ids)
    mean, std, count = group_mean_std(scores, dense, num, unbiased=True)
    singleton = count <= 1
    mean = mean.masked_fill(singleton, 0.0)
    std = std.masked_fill(singleton, 1.0)
    centred = scores - mean.index_select(0, dense)
    return centred / (std.index_select(0, dense) + eps) if norm_by_std else centred


def broadcast_to_tokens(advantages: Tensor, response_mask: Tensor) -> Tensor:
    """Token advantages ``A_ik = A_i · m_ik``: ``[B]`` × ``[B, L]`` → ``[B, L]`` (dtype of ``advantages``)."""
    return advantages.unsqueeze(-1) * response_mask.to(advantages.dtype)
