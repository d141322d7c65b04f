"""Clip-Cov and KL-Cov policy losses (docs/algorithms.md, 'Clip-Cov and KL-Cov'): covariance-based token selection.

Both measure, per valid token, ``cov_k = (A_k − Ā)(lp_k − l̄)`` where ``Ā`` and ``l̄`` are the masked means
of the advantages and the (detached) current log-probs over the micro-batch. Clip-Cov drops the loss of
a *random* subset of tokens whose covariance lies strictly between two bounds; KL-Cov adds a KL penalty
to the *top* tokens by covariance.

Randomness: a ``torch.Generator`` on the CPU drives the choice and the draw is moved to the data's device,
so a seeded generator selects the same tokens on CPU and CUDA.
"""

from __future__ import annotations

import torch
from torch import Tensor

from spear_train.algorithms.policy_loss import LossAggMode, PolicyLossOutput, aggregate_loss, masked_mean


def token_covariance(advantages: Tensor, log_prob: Tensor, mask: Tensor) -> Tensor:
    """``cov_k = (A_k − Ā)(lp_k − l̄)`` with exact means over valid tokens; masked tokens get −inf.

    Shapes: ``[B, L]`` each → ``[B, L]``. Computed without gradient.
    """
    with torch.no_grad():
        valid = mask > 0
        count = valid.sum().clamp_min(1)
        mean_adv = torch.where(valid, advantages, 0).sum() / count
        mean_lp = torch.where(valid, log_prob.detach(), 0).sum() / count
        cov = (advantages - mean_adv) * (log_prob.detach() - mean_lp)
        return cov.masked_fill(~valid, float("-inf"))


def random_subset_mask(candidates: Tensor, count: int, generator: torch.Generator | None = None) -> Tensor:
    """Uniformly random ``min(count, #candidates)`` True entries among ``candidates`` (bool, any shape).

    Draws one uniform key per element on the CPU (seedable, device-independent), then keeps the
    ``count`` candidates with the largest keys: a uniform subset without replacement.
    """
    flat = candidates.reshape(-1)
    keys = torch.rand(flat.numel(), generator=generator, dtype=torch.float64).to(flat.device)
    keys = torch.where(flat, keys, torch.full_like(keys, -1.0))
    k = min(int(count), int(flat.sum().item()))
    chosen = torch.zeros_like(flat)
    if k > 0:
        chosen[torch.topk(keys, k).indices] = True
    return chosen.reshape(candidates.shape)


def clip_cov_loss(
    log_prob: Tensor,
    old_log_prob: Tensor,
    advantages: Tensor,
    mask: Tensor,
    clip_low: float = 0.2,
    clip_high: float = 0.28,
    clip_cov_ratio: float = 0.0002,
    clip_cov_lb: float = 1.0,
    clip_cov_ub: float = 5.0,
    loss_agg_mode: LossAggMode = "seq-mean-token-sum-norm",
    norm_length: int | None = None,
    generator: torch.Generator | None = None,
) -> PolicyLossOutput:
    """Clip-Cov loss of one micro-batch; all tensors ``[B, L]``.

    1. ``ρ = exp(lp − lp_old)`` (no clamp); ``ℓ1 = −Aρ``; ``ℓ2 = −A·clip(ρ, 1 − clip_low, 1 + clip_high)``.
    2. Tokens already clipped (``ℓ2 > ℓ1`` and valid) are excluded, as are masked ones.
    3. ``N = max(⌊clip_cov_ratio · Σm⌋, 1)``; candidates: ``lb < cov_k < ub`` (strict).
    4. ``min(N, #candidates)`` candidates are chosen uniformly at random; their loss is multiplied by 0.
    5. ``loss = Agg(max(ℓ1, ℓ2) · corr, m)``: zeroed tokens still count in token-mean denominators.

    No dual clip. ``clipfrac`` is the selected fraction of valid tokens.
    """
    valid = mask > 0
    log_ratio = log_prob - old_log_prob
    ratio = torch.exp(log_ratio)
    unclipped = -advantages * ratio
    clipped = -advantages * torch.clamp(ratio, 1.0 - clip_low, 1.0 + clip_high)
    already_clipped = (clipped > unclipped) & valid
    cov = token_covariance(advantages, log_prob, mask).masked_fill(already_clipped, float("-inf"))
    n_select = max(int(clip_cov_ratio * int(valid.sum().item())), 1)
    candidates = (cov > clip_cov_lb) & (cov < clip_cov_ub) & valid
    selected = random_subset_mask(candidates, n_select, generator)
    token_loss = torch.maximum(unclipped, clipped) * (~selected).to(log_prob.dtype)
    return PolicyLossOutput(
        loss=aggregate_loss(token_loss, mask, loss_agg_mode, norm_length),
        token_loss=token_loss,
        clipfrac=masked_mean(selected.to(log_prob.dtype), mask),
        approx_kl=masked_mean(-log_ratio, mask).detach(),
        selected=selected,
    )


def kl_cov_loss(
    log_prob: Tensor,
    old_log_prob: Tensor,
    advantages: Tensor,
    mask: Tensor,
    kl_cov_ratio: float = 0.0002,
    ppo_kl_coef: float = 0.1,
    loss_agg_mode: LossAggMode = "seq-mean-token-sum-norm",
    norm_length: int | None = None,
) -> PolicyLossOutput:
    """KL-Cov loss of one micro-batch (present in the reference, unused by its scripts); ``[B, L]``.

    ``ℓ = −Aρ`` (no PPO clip) with ``ρ = exp(lp − lp_old)``; the top ``max(1, ⌊kl_cov_ratio·Σm⌋)`` valid
    tokens by covariance get ``ℓ + ppo_kl_coef·|lp − lp_old|``.
    """
    valid = mask > 0
    log_ratio = log_prob - old_log_prob
    unclipped = -advantages * torch.exp(log_ratio)
    n_valid = int(valid.sum().item())
    flat_selected = torch.zeros(valid.numel(), dtype=torch.bool, device=valid.device)
    if n_valid > 0:
        k = max(1, int(kl_cov_ratio * n_valid))
        cov = token_covariance(advantages, log_prob, mask).reshape(-1)
        flat_selected[torch.topk(cov, k).indices] = True
    selected = flat_selected.reshape(valid.shape)
    token_loss = unclipped + ppo_kl_coef * log_ratio.abs() * selected.to(log_prob.dtype)
    return PolicyLossOutput(
        loss=aggregate_loss(token_loss, mask, loss_agg_mode, norm_length),
        token_loss=token_loss,
        clipfrac=masked_mean(selected.to(log_prob.dtype), mask),
        approx_kl=masked_mean(-log_ratio, mask).detach(),
        selected=selected,
    )
