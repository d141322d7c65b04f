"""PPO-clip policy loss with clip-higher and dual clip, loss aggregation, entropy and low-variance KL.

Formulas: docs/algorithms.md, 'Policy loss' and 'Loss aggregation'. All functions take ``[B, L]`` tensors
(B responses, L = padded response width) and a 0/1 mask of the same shape; masked tokens never
contribute to any sum or mean.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import torch
from torch import Tensor

LossAggMode = Literal["token-mean", "seq-mean-token-sum", "seq-mean-token-mean", "seq-mean-token-sum-norm"]
LOSS_AGG_MODES = ("token-mean", "seq-mean-token-sum", "seq-mean-token-mean", "seq-mean-token-sum-norm")
LOG_RATIO_CLAMP = 20.0


class PolicyLossOutput(NamedTuple):
    """Result of a policy-loss function.

    ``loss``: scalar aggregated loss. ``token_loss``: ``[B, L]`` per-token loss before aggregation
    (unmasked values; the mask is applied by aggregation). ``clipfrac``: masked fraction of tokens clipped
    (vanilla) or selected (Clip-Cov/KL-Cov). ``approx_kl``: masked mean of ``logπ_old − logπ``.
    ``selected``: ``[B, L]`` bool, tokens touched by Clip-Cov/KL-Cov (all False for vanilla).
    """

    loss: Tensor
    token_loss: Tensor
    clipfrac: Tensor
    approx_kl: Tensor
    selected: Tensor


def masked_mean(values: Tensor, mask: Tensor) -> Tensor:
    """``Σ m·v / (Σ m + 1e-8)`` over all elements (scalar)."""
    mask = mask.to(values.dtype)
    return (values * mask).sum() / (mask.sum() + 1e-8)


def aggregate_loss(token_loss: Tensor, mask: Tensor, mode: LossAggMode = "token-mean", norm_length: int | None = None) -> Tensor:
    """Reduce a ``[B, L]`` loss matrix ℓ with mask m to a scalar (docs/algorithms.md, 'Loss aggregation').

    * ``token-mean``:              ``Σ_ik m·ℓ / (Σ_ik m + 1e-8)``
    * ``seq-mean-token-sum``:      ``(1/B) Σ_i Σ_k m·ℓ``
    * ``seq-mean-token-mean``:     ``(1/B) Σ_i (Σ_k m·ℓ / Σ_k m)``; a row with no valid token adds 0
    * ``seq-mean-token-sum-norm``: ``Σ_i Σ_k m·ℓ / norm_length`` (a sum over sequences, not a mean);
      ``norm_length`` defaults to the padded width L. The reference pads to ``max_response_length``,
      so pass that to reproduce its constant divisor.

    Masked entries never contribute, even if they hold inf/NaN.
    """
    if token_loss.shape != mask.shape or token_loss.dim() != 2:
        raise ValueError(f"token_loss and mask must both be [B, L]; got {tuple(token_loss.shape)} and {tuple(mask.shape)}")
    m = mask.to(token_loss.dtype)
    masked = torch.where(m > 0, token_loss, torch.zeros((), dtype=token_loss.dtype, device=token_loss.device)) * m
    if mode == "token-mean":
        return masked.sum() / (m.sum() + 1e-8)
    if mode == "seq-mean-token-sum":
        return masked.sum(-1).mean()
    if mode == "seq-mean-token-mean":
        per_seq = m.sum(-1)
        return torch.where(per_seq > 0, masked.sum(-1) / per_seq.clamp_min(1e-8), 0).mean()
    if mode == "seq-mean-token-sum-norm":
        length = token_loss.shape[-1] if norm_length is None else norm_length
        if length <= 0:
            raise ValueError(f"norm_length must be > 0, got {length}")
        return masked.sum() / length
    raise ValueError(f"loss_agg_mode must be one of {LOSS_AGG_MODES}, got {mode!r}")


def ppo_clip_loss(
    log_prob: Tensor,
    old_log_prob: Tensor,
    advantages: Tensor,
    mask: Tensor,
    clip_low: float = 0.2,
    clip_high: float = 0.2,
    dual_clip_c: float | None = 10.0,
    loss_agg_mode: LossAggMode = "token-mean",
    norm_length: int | None = None,
) -> PolicyLossOutput:
    """"Vanilla" PPO-clip loss with clip-higher and dual clip ('Policy loss'), all tensors ``[B, L]``.

    Per token::

        ρ  = exp(clamp(logπ − logπ_old, −20, 20))
        ℓ  = max(−A·ρ, −A·clip(ρ, 1 − clip_low, 1 + clip_high))
        ℓ  = min(ℓ, −A·c)    where A < 0 (dual clip, c = dual_clip_c > 1; None disables)

    then ``loss = aggregate_loss(ℓ, mask, loss_agg_mode, norm_length)``.
    """
    log_ratio = (log_prob - old_log_prob).clamp(-LOG_RATIO_CLAMP, LOG_RATIO_CLAMP)
    ratio = torch.exp(log_ratio)
    unclipped = -advantages * ratio
    clipped = -advantages * torch.clamp(ratio, 1.0 - clip_low, 1.0 + clip_high)
    token_loss = torch.maximum(unclipped, clipped)
    if dual_clip_c is not None:
        token_loss = torch.where(advantages < 0, torch.minimum(token_loss, -advantages * dual_clip_c), token_loss)
    clipfrac = masked_mean((clipped > unclipped).to(log_prob.dtype), mask)
    return PolicyLossOutput(
        loss=aggregate_loss(token_loss, mask, loss_agg_mode, norm_length),
        token_loss=token_loss,
        clipfrac=clipfrac,
        approx_kl=masked_mean(-log_ratio, mask).detach(),
        selected=torch.zeros_like(mask, dtype=torch.bool),
    )


def entropy_from_logits(logits: Tensor) -> Tensor:
    """Entropy of the full softmax per position: ``H = logsumexp(z) − Σ_v softmax(z)_v · z_v``.

    ``[..., V]`` → ``[...]``.
    """
    probs = torch.softmax(logits, dim=-1)
    return torch.logsumexp(logits, dim=-1) - (probs * logits).sum(-1)


def entropy_from_log_probs(log_probs: Tensor) -> Tensor:
    """Entropy of a distribution given as log-probabilities (e.g. ``log_softmax(z)``), per position:
    ``H = −Σ_v exp(ℓ_v) · ℓ_v``. ``[..., V]`` → ``[...]``; equals :func:`entropy_from_logits` of the logits
    up to float rounding (this form reuses a log-softmax already computed)."""
    return -(log_probs.exp() * log_probs).sum(-1)


def low_var_kl(log_prob: Tensor, ref_log_prob: Tensor) -> Tensor:
    """k3 estimator of KL(π‖π_ref) per token, clamped to [−10, 10].

    ``Δ = logπ_ref − logπ``; ``k3 = exp(Δ) − Δ − 1``. Δ is clamped to ±20 first, which only avoids
    overflow (k3 exceeds the ±10 clamp long before). Shapes: ``[B, L]`` → ``[B, L]``.
    """
    delta = (ref_log_prob - log_prob).clamp(-LOG_RATIO_CLAMP, LOG_RATIO_CLAMP)
    return (torch.exp(delta) - delta - 1).clamp(-10.0, 10.0)


def actor_loss(
    pg_loss: Tensor,
    entropy: Tensor | None,
    mask: Tensor,
    entropy_coef: float = 0.0,
    kl: Tensor | None = None,
    kl_coef: float = 0.0,
    loss_agg_mode: LossAggMode = "token-mean",
    norm_length: int | None = None,
) -> Tensor:
    """Total actor loss ``pg_loss − β_H·Agg(H) + β_KL·Agg(k3)`` (docs/algorithms.md, 'Policy loss').

    Args:
        pg_loss: scalar policy-gradient loss (from :func:`ppo_clip_loss` or Clip-Cov/KL-Cov).
        entropy: ``[B, L]`` per-token entropy, or None when ``entropy_coef == 0``.
        mask: ``[B, L]`` loss mask (in the agent envs flagged samples keep mask 1 here, see 'What a flag does').
        kl: ``[B, L]`` per-token :func:`low_var_kl`, or None when ``kl_coef == 0``.
    """
    total = pg_loss
    if entropy_coef != 0.0:
        if entropy is None:
            raise ValueError("entropy_coef != 0 needs the per-token entropy")
        total = total - entropy_coef * aggregate_loss(entropy, mask, loss_agg_mode, norm_length)
    if kl_coef != 0.0:
        if kl is None:
            raise ValueError("kl_coef != 0 needs the per-token KL")
        total = total + kl_coef * aggregate_loss(kl, mask, loss_agg_mode, norm_length)
    return total
