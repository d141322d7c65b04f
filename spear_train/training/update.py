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
from spear_train.algorithms.grpo_advantage import broadcast_to_tokens
from spear_train.algorithms.policy_loss import actor_loss, masked_mean, ppo_clip_loss
from spear_train.algorithms.sample_filters import mask_flagged_samples
from spear_train.training.logprobs import packed_hosts, padded_response_logprobs
from spear_train.training.train_batch import TrainBatch

__all__ = ["TrainBatch", "LossSettings", "UpdateStats", "micro_batch_loss", "optimise", "recompute_logprobs",
           "by_prompt", "shuffled_order"]


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
    """``(total_loss, PolicyLossOutput, entropy_mean, tokens)`` of one micro-batch (gradients attached).

    Token masks: ``m = loss_mask · response_mask``; unkept (flagged) samples lose their advantage,
    ``A_ik = A_i · m_ik · keep_i``, and stay in the loss denominator unless
    ``settings.flagged_in_loss_denominator`` is off (docs/algorithms.md, 'What a flag does')."""
    logp, entropy = padded_response_logprobs(model, batch.prompt_ids, batch.prompt_len, batch.response_ids,
                                             batch.response_len, pad_id, with_entropy=True)
    width, device = logp.shape[1], logp.device
    mask = (batch.loss_mask[:, :width].float() * batch.response_mask(width)).to(device)
    masks = mask_flagged_samples(mask, ~batch.keep.to(device), not settings.flagged_in_loss_denominator)
    advantages = broadcast_to_tokens(batch.advantages.to(device=device, dtype=torch.float32), masks.advantage_mask)
    old = batch.old_log_probs[:, :width].to(device=device, dtype=torch.float32)
    loss_mask = masks.loss_mask
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
    total = actor_loss(out.loss, entropy if settings.entropy_coef != 0.0 else None, loss_mask,
                       settings.entropy_coef, **common)
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
                       dp=None) -> torch.Tensor:
    """``[N, R]`` float32: ``log π(response | prompt)`` per response token under the current ``model``
    (π_old in docs/algorithms.md, 'Policy loss'), 0 past each response; ``R`` is the batch's padded width.
    With ``dp`` (a multi-process run) each rank computes the chunks it owns and the rows are all-gathered."""
    model.eval()
    order = by_prompt(batch, range(len(batch)))
    out = torch.zeros((len(batch), batch.response_ids.shape[1]), dtype=torch.float32)
    done: list[int] = []
    for chunk, start in enumerate(range(0, len(batch), micro_batch_size)):
        if dp is not None and not dp.owns(chunk):
            continue
        idx = order[start:start + micro_batch_size]
        part = batch.select(idx)
        logp, _ = padded_response_logprobs(model, part.prompt_ids, part.prompt_len, part.response_ids,
                                           part.response_len, pad_id, with_entropy=False)
        out[idx, : logp.shape[1]] = logp.float().cpu()
        done.extend(idx)
    return dp.merge_logprobs(out, done) if dp is not None else out


def shuffled_order(batch: TrainBatch, generator: torch.Generator | None = None) -> torch.Tensor:
    """A random order of ``batch``'s samples for one pass: ``randperm(N)``, except when samples pack
    (:func:`~spear_train.training.logprobs.packs`: the turns of trajectories under an append-only prompt),
    where whole families (the samples of one host) are shuffled and kept together, so mini-batches cut
    as few trajectories as possible and each trajectory's forward is shared by its turns."""
    sequences = batch.sequence_keys()
    hosts = packed_hosts(sequences)
    if hosts is None:
        return torch.randperm(len(batch), generator=generator)
    families: dict[int, list[int]] = {}
    for i, host in enumerate(hosts):
        families.setdefault(host, []).append(i)
    groups = list(families.values())
    return torch.tensor([i for g in torch.randperm(len(groups), generator=generator).tolist() for i in groups[g]])


def by_prompt(batch: TrainBatch, index) -> list[int]:
    """``index`` reordered so samples with the same prompt are adjacent (first-appearance order), so they
    land in one micro-batch and share one prompt forward (see :mod:`spear_train.training.logprobs`).
    Samples whose sequences pack into one host (:func:`~spear_train.training.logprobs.pack_hosts`: the
    turns of one trajectory under an append-only prompt) count as having their host's prompt, so a
    trajectory's turns are adjacent too and share one forward."""
    index = list(index)
    if not index:
        return []
    part = batch.select(index)
    prompts, sequences = part.prompt_keys(), part.sequence_keys()
    hosts = packed_hosts(sequences) or range(len(index))
    keys = [prompts[h] for h in hosts]
    first: dict[tuple, int] = {}
    for rank, key in enumerate(keys):
        first.setdefault(key, rank)
    return [index[r] for r in sorted(range(len(index)), key=lambda r: first[keys[r]])]
