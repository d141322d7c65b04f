"""The optimisation pass of one training step: PPO-style AdamW steps over mini-batches, with gradient
accumulation over micro-batches, used for the on-policy batch and, scaled by c(t), for the SPEAR replay batch
(docs/algorithms.md, 'Replay pass').

A :class:`TrainBatch` holds the token data of N samples; :func:`optimise` walks it in mini-batches of
``mini_batch_size`` samples (one optimiser step each) and micro-batches of ``micro_batch_size`` (one
forward/backward each, loss divided by the number of micro-batches). Inside a mini-batch, samples that
share a prompt are put next to each other, so a micro-batch forwards that prompt once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from spear_train.algorithms.clip_cov import clip_cov_loss, kl_cov_loss
from spear_train.algorithms.policy_loss import actor_loss, masked_mean, ppo_clip_loss
from spear_train.training.logprobs import pad_values, response_logprobs, response_mask


@dataclass
class TrainBatch:
    """N samples ready for the loss.

    ``advantages[i]`` is the scalar advantage of sample i (already 0 for flagged samples);
    ``old_logprobs[i]`` one value per response token (the importance-ratio denominator);
    ``loss_mask[i]`` 1 on tokens the model produced (0 on tool-reply tokens);
    ``advantage_mask[i]`` (per sample) 0 when the sample's policy-gradient term is removed by a flag.
    """

    prompt_ids: list[list[int]]
    response_ids: list[list[int]]
    loss_mask: list[list[int]]
    old_logprobs: list[list[float]]
    advantages: list[float]
    advantage_keep: list[bool]

    def __len__(self) -> int:
        return len(self.prompt_ids)

    def select(self, index: list[int]) -> "TrainBatch":
        return TrainBatch(*[[getattr(self, f)[i] for i in index] for f in
                            ("prompt_ids", "response_ids", "loss_mask", "old_logprobs", "advantages",
                             "advantage_keep")])


@dataclass(frozen=True)
class LossSettings:
    """The knobs of the policy loss (docs/algorithms.md, 'Policy loss', 'Loss aggregation',
    'Clip-Cov and KL-Cov')."""

    loss_mode: str = "vanilla"  # vanilla | clip_cov | kl_cov
    clip_low: float = 0.2
    clip_high: float = 0.2
    dual_clip_c: float | None = 10.0
    loss_agg_mode: str = "token-mean"
    norm_length: int | None = None  # seq-mean-token-sum-norm divisor (max response length)
    entropy_coef: float = 0.0
    clip_cov_ratio: float = 0.0002
    clip_cov_lb: float = 1.0
    clip_cov_ub: float = 5.0
    kl_cov_ratio: float = 0.0002
    ppo_kl_coef: float = 0.1
    flagged_in_loss_denominator: bool = True  # agent envs: flagged samples keep mask 1 in aggregation


@dataclass
class UpdateStats:
    """Averages over the micro-batches of one :func:`optimise` call."""

    optimizer_steps: int = 0
    loss: list[float] = field(default_factory=list)
    clipfrac: list[float] = field(default_factory=list)
    approx_kl: list[float] = field(default_factory=list)
    entropy: list[float] = field(default_factory=list)
    grad_norm: list[float] = field(default_factory=list)
    tokens: int = 0

    def merge(self, other: "UpdateStats") -> "UpdateStats":
        """Both passes' statistics together (steps and tokens add up, lists concatenate)."""
        return UpdateStats(self.optimizer_steps + other.optimizer_steps, self.loss + other.loss,
                           self.clipfrac + other.clipfrac, self.approx_kl + other.approx_kl,
                           self.entropy + other.entropy, self.grad_norm + other.grad_norm, self.tokens + other.tokens)

    def summary(self, prefix: str) -> dict[str, float]:
        def mean(xs):
            return float(sum(xs) / len(xs)) if xs else float("nan")

        return {f"{prefix}loss": mean(self.loss), f"{prefix}clipfrac": mean(self.clipfrac),
                f"{prefix}approx_kl": mean(self.approx_kl), f"{prefix}entropy": mean(self.entropy),
                f"{prefix}grad_norm": mean(self.grad_norm), f"{prefix}optimizer_steps": self.optimizer_steps}


def micro_batch_loss(model: torch.nn.Module, batch: TrainBatch, settings: LossSettings, pad_id: int,
                     generator: torch.Generator | None = None):
    """``(total_loss, PolicyLossOutput, entropy_mean, tokens)`` of one micro-batch (gradients attached)."""
    need_entropy = settings.entropy_coef != 0.0
    logp, entropy = response_logprobs(model, batch.prompt_ids, batch.response_ids, pad_id,
                                      with_entropy=True)
    width = logp.shape[1]
    device = logp.device
    mask = pad_values([[float(m) for m in row] for row in batch.loss_mask], width, device) \
        * response_mask(batch.response_ids, device)[:, :width]
    keep = torch.tensor([float(k) for k in batch.advantage_keep], device=device).unsqueeze(-1)
    adv_mask = mask * keep
    advantages = torch.tensor(batch.advantages, dtype=torch.float32, device=device).unsqueeze(-1) * adv_mask
    old = pad_values(batch.old_logprobs, width, device)
    loss_mask = mask if settings.flagged_in_loss_denominator else adv_mask
    common = dict(loss_agg_mode=settings.loss_agg_mode, norm_length=settings.norm_length)
    if settings.loss_mode == "vanilla":
        out = ppo_clip_loss(logp, old, advantages, loss_mask, settings.clip_low, settings.clip_high,
                            settings.dual_clip_c, **common)
    elif settings.loss_mode == "clip_cov":
        out = clip_cov_loss(logp, old, advantages, loss_mask, settings.clip_low, settings.clip_high,
                            settings.clip_cov_ratio, settings.clip_cov_lb, settings.clip_cov_ub,
                            generator=generator, **common)
    elif settings.loss_mode == "kl_cov":
        out = kl_cov_loss(logp, old, advantages, loss_mask, settings.kl_cov_ratio, settings.ppo_kl_coef, **common)
    else:
        raise ValueError(f"loss_mode must be vanilla, clip_cov or kl_cov, got {settings.loss_mode!r}")
    total = actor_loss(out.loss, entropy if need_entropy else None, loss_mask, settings.entropy_coef, **common)
    entropy_mean = float(masked_mean(entropy.detach(), mask))
    return total, out, entropy_mean, int(mask.sum().item())


def optimise(model: torch.nn.Module, optimizer: torch.optim.Optimizer, batch: TrainBatch, settings: LossSettings,
             *, pad_id: int, mini_batch_size: int, micro_batch_size: int, grad_clip: float,
             loss_weight: float = 1.0, generator: torch.Generator | None = None, dp=None) -> UpdateStats:
    """One pass over ``batch`` in mini-batch order (samples grouped by prompt inside each mini-batch, see
    :func:`by_prompt`): per mini-batch ``zero_grad``; per micro-batch
    ``backward(loss_weight · loss / n_micro)``; clip the grad norm to ``grad_clip``; ``optimizer.step``.

    ``dp``: a :class:`~spear_train.training.distributed.DataParallel` in a multi-process run: this rank
    computes only the micro-batches it owns and the gradients are summed over ranks before clipping."""
    stats = UpdateStats()
    model.train()
    for start in range(0, len(batch), mini_batch_size):
        mini = by_prompt(batch, range(start, min(start + mini_batch_size, len(batch))))
        micros = [mini[i:i + micro_batch_size] for i in range(0, len(mini), micro_batch_size)]
        optimizer.zero_grad(set_to_none=True)
        for k, micro in enumerate(micros):
            if dp is not None and not dp.owns(k):
                dp.skip(batch.select(micro), settings, generator)
                continue
            total, out, entropy_mean, tokens = micro_batch_loss(model, batch.select(micro), settings, pad_id, generator)
            (loss_weight * total / len(micros)).backward()
            stats.loss.append(float(total.detach()))
            stats.clipfrac.append(float(out.clipfrac))
            stats.approx_kl.append(float(out.approx_kl))
            stats.entropy.append(entropy_mean)
            stats.tokens += tokens
        if dp is not None:
            dp.all_reduce_gradients(model)
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        stats.grad_norm.append(float(norm) if math.isfinite(float(norm)) else float("nan"))
        if math.isfinite(float(norm)):
            optimizer.step()
            stats.optimizer_steps += 1
    optimizer.zero_grad(set_to_none=True)
    model.eval()
    return stats if dp is None else dp.merge_stats(stats)


@torch.no_grad()
def recompute_logprobs(model: torch.nn.Module, batch: TrainBatch, pad_id: int, micro_batch_size: int,
                       dp=None) -> list[list[float]]:
    """``log π(response | prompt)`` per response token under the current ``model`` (π_old in
    docs/algorithms.md, 'Policy loss').
    With ``dp`` (a multi-process run) each rank computes the chunks it owns and the rows are all-gathered."""
    model.eval()
    order = by_prompt(batch, range(len(batch)))
    out: list[list[float]] = [[] for _ in range(len(batch))]
    for chunk, start in enumerate(range(0, len(batch), micro_batch_size)):
        if dp is not None and not dp.owns(chunk):
            continue
        idx = order[start:start + micro_batch_size]
        part = batch.select(idx)
        logp, _ = response_logprobs(model, part.prompt_ids, part.response_ids, pad_id, with_entropy=False)
        for k, (i, r) in enumerate(zip(idx, part.response_ids)):
            out[i] = logp[k, : len(r)].tolist()
    if dp is not None:
        return dp.merge_logprobs({i: row for i, row in enumerate(out) if row}, len(batch))
    return out


def by_prompt(batch: TrainBatch, index) -> list[int]:
    """``index`` reordered so samples with the same prompt are adjacent (first-appearance order), so they
    land in one micro-batch and share one prompt forward (see :mod:`spear_train.training.logprobs`)."""
    index = list(index)
    first: dict[tuple, int] = {}
    for rank, i in enumerate(index):
        first.setdefault(tuple(batch.prompt_ids[i]), rank)
    return sorted(index, key=lambda i: first[tuple(batch.prompt_ids[i])])
