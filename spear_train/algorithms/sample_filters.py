"""Sample flags, what a flag does to the masks, and the low-variance group filter
(docs/algorithms.md, 'Sample flags', 'What a flag does', 'Low-variance group filter').

Flags mark samples whose policy-gradient term is removed:

* over-long: the response hit the length cap;
* void turn: no action after the last ``</think>`` (agent envs), or no final ``\\boxed{}`` answer (math);
* repetitive: some n-gram of token ids (n = 20) occurs ≥ 10 times;
* unreadable: the decoded text holds U+FFFD or a mojibake form of it.

Text rules run once per sample (there is no token loop); token rules are vectorised over ``[B, L]``.
"""

from __future__ import annotations

import re
from typing import NamedTuple

import torch
from torch import Tensor

from spear_train.algorithms.grouping import dense_ids, group_mean_std, group_of_trajectory, trajectory_means

_ACTION_BLOCK = re.compile(r"<action>.*?</action>", re.DOTALL)
_THINK_CLOSE = "</think>"
MOJIBAKE_MARKERS = ("\ufffd", "ï¿½", "Ã¯Â¿Â½", "锟斤拷")
MATH_ANSWER_WINDOW = 100


def overlong_flags(response_lengths: Tensor, max_response_length: int) -> Tensor:
    """``length ≥ max_response_length`` per sample: ``[B]`` int → ``[B]`` bool (generation hit the cap)."""
    return response_lengths >= max_response_length


def is_void_turn(text: str) -> bool:
    """Agent-env void turn: the text is blank, or has no ``<action>…</action>`` block after the last
    ``</think>`` (the whole text is searched when there is no ``</think>``). ``<action></action>`` is not void.
    """
    if not text.strip():
        return True
    tail = text.rsplit(_THINK_CLOSE, 1)[-1]
    return _ACTION_BLOCK.search(tail) is None


def last_boxed(text: str) -> str | None:
    """Content of the last balanced ``\\boxed{…}`` in ``text``, or None."""
    start = text.rfind("\\boxed{")
    while start != -1:
        depth, i = 0, start + len("\\boxed")
        for j in range(i, len(text)):
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            if depth == 0:
                return text[i + 1:j]
        start = text.rfind("\\boxed{", 0, start)
    return None


def is_void_math_turn(text: str) -> bool:
    """Math void turn: no balanced ``\\boxed{}`` answer in the last 100 characters, the
    window the math reward reads. Unlike the reference, this rule does fire.
    """
    return last_boxed(text[-MATH_ANSWER_WINDOW:]) is None


def is_unreadable(text: str) -> bool:
    """True when the decoded text holds U+FFFD or one of :data:`MOJIBAKE_MARKERS`."""
    return any(marker in text for marker in MOJIBAKE_MARKERS)


def _pair(a: Tensor, b: Tensor) -> Tensor:
    """Dense ids of the pairs (a, b) of two non-negative id tensors of equal shape: equal iff both equal."""
    key = a * (int(b.max().item()) + 1) + b
    return torch.unique(key.reshape(-1), return_inverse=True)[1].reshape(key.shape)


def ngram_ids(token_ids: Tensor, n: int) -> Tensor:
    """Ids of all n-grams of each row: ``[B, L]`` → ``[B, L − n + 1]``; equal ids ⇔ equal n-grams.

    Exact (no hashing): ids of 2s-grams are dense ids of pairs of s-gram ids (doubling), and n is
    assembled from its binary digits. Ids are shared across rows.
    """
    width = token_ids.shape[1]
    spans = {1: torch.unique(token_ids, return_inverse=True)[1]}
    span = 1
    while span * 2 <= n:
        prev = spans[span]
        spans[span * 2] = _pair(prev[:, : width - 2 * span + 1], prev[:, span: width - span + 1])
        span *= 2
    acc, acc_span = spans[span], span
    for bit in sorted((s for s in spans if n & s and s != span), reverse=True):
        out = width - acc_span - bit + 1
        acc = _pair(acc[:, :out], spans[bit][:, acc_span: acc_span + out])
        acc_span += bit
    return acc


def repetitive_flags(token_ids: Tensor, mask: Tensor, ngram: int = 20, threshold: int = 10) -> Tensor:
    """Some n-gram of valid response token ids occurs ≥ ``threshold`` times in the sample.

    Args:
        token_ids: ``[B, L]`` response token ids.
        mask: ``[B, L]`` response mask; an n-gram counts only if all its tokens are valid.
    Returns: ``[B]`` bool. Exact: n-grams are compared by :func:`ngram_ids`, not hashed.
    """
    batch, width = token_ids.shape
    flags = torch.zeros(batch, dtype=torch.bool, device=token_ids.device)
    if width < ngram:
        return flags
    gram_valid = (mask > 0).unfold(1, ngram, 1).all(-1)  # [B, W]
    if not gram_valid.any():
        return flags
    grams = ngram_ids(token_ids.long(), ngram)  # [B, W]
    rows = torch.arange(batch, device=token_ids.device).unsqueeze(1).expand_as(grams)
    per_row = _pair(rows[gram_valid], grams[gram_valid])
    counts = torch.bincount(per_row)
    hit = counts.index_select(0, per_row) >= threshold
    return flags.index_fill_(0, rows[gram_valid][hit], True)


class FlaggedMasks(NamedTuple):
    """``advantage_mask``: multiplies the advantages (flagged rows 0). ``loss_mask``: used by loss
    aggregation and the entropy bonus. Both ``[B, L]``, same dtype as the input mask."""

    advantage_mask: Tensor
    loss_mask: Tensor


def mask_flagged_samples(response_mask: Tensor, flagged: Tensor, exclude_from_loss: bool) -> FlaggedMasks:
    """What a flag does: the flagged sample's response mask becomes 0.

    It stays in the batch and still counts in its group's reward statistics; its advantage becomes 0.
    ``exclude_from_loss=False`` (agent envs): the sample still counts in token-mean denominators and the
    entropy bonus. ``exclude_from_loss=True`` (math): it is fully excluded from the loss.

    Args: ``response_mask [B, L]``, ``flagged [B]`` bool.
    """
    keep = (~flagged.bool()).unsqueeze(-1).to(response_mask.dtype)
    advantage_mask = response_mask * keep
    return FlaggedMasks(advantage_mask, advantage_mask if exclude_from_loss else response_mask)


def zero_flagged_advantages(advantages: Tensor, flagged: Tensor, tol: float = 1e-9) -> Tensor:
    """``A_i = 0`` where sample i is flagged or ``|A_i| < tol``; else ``A_i`` (``[B]`` → ``[B]``).

    Flagged samples carry no policy-gradient signal (docs/algorithms.md, 'What a flag does'). Constant
    groups get exactly 0 too: their mean subtraction leaves float noise (~1e-16) that would otherwise
    pass the replay buffer's ``A > 0`` admission.
    """
    return torch.where(flagged.bool() | (advantages.abs() < tol), torch.zeros_like(advantages), advantages)


def pow2_floor(n: int) -> int:
    """Largest power of two ≤ n for n ≥ 1; 0 for n ≤ 0."""
    return 1 << (int(n).bit_length() - 1) if n >= 1 else 0


def random_subset(n: int, k: int, generator: torch.Generator | None = None, device: torch.device | str | None = None) -> Tensor:
    """``k`` distinct indices of ``range(n)`` drawn uniformly (CPU generator), sorted ascending. ``[k]`` long."""
    if not 0 <= k <= n:
        raise ValueError(f"cannot draw {k} of {n} items")
    return torch.randperm(n, generator=generator)[:k].sort().values.to(device)


def group_reward_stats(scores: Tensor, group_ids: Tensor, traj_ids: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
    """Per-group reward mean and std, as used by the group filter and the baseline history.

    With ``traj_ids`` (agent envs): trajectory score = mean of its samples' scores, then the mean and
    **population** std of the trajectory scores of each group (trajectory-weighted, not step-weighted).
    Without (math, one sample per response): mean and **unbiased** std of the sample scores.

    Returns: ``(group_of_sample[B], mean[G], std[G])``, groups numbered in first-appearance order.
    """
    groups, num = dense_ids(group_ids)
    if traj_ids is None:
        mean, std, _ = group_mean_std(scores, groups, num, unbiased=True)
        return groups, mean, std
    traj_score, traj = trajectory_means(scores, traj_ids)
    traj_group = group_of_trajectory(groups, traj, traj_score.numel())
    mean, std, _ = group_mean_std(traj_score, traj_group, num, unbiased=False)
    return groups, mean, std


def low_variance_group_filter(
    scores: Tensor,
    group_ids: Tensor,
    ratio: float,
    traj_ids: Tensor | None = None,
    keep: str = "std",
    pow2_subsample: bool = True,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Indices of the samples kept by the low-variance group filter, sorted ascending. ``[K]`` long.

    1. Group std from :func:`group_reward_stats` (scores taken *before* the invalid penalty).
    2. Keep the first ``⌊ratio·#groups⌋`` groups after a stable sort by std, descending for ``keep="std"``
       or ascending for ``"std_rev"``; ties keep first-appearance order.
    3. With ``pow2_subsample`` (agent envs), keep a uniform random subset of the surviving samples of
       size ``pow2_floor(count)``; samples are dropped individually.

    ``ratio = 1`` keeps everything (no subsample either).
    """
    if not 0.0 < ratio <= 1.0:
        raise ValueError(f"ratio must be in (0, 1], got {ratio}")
    if keep not in ("std", "std_rev"):
        raise ValueError(f"keep must be 'std' or 'std_rev', got {keep!r}")
    everything = torch.arange(scores.numel(), device=scores.device)
    if ratio == 1.0:
        return everything
    groups, _, std = group_reward_stats(scores, group_ids, traj_ids)
    order = torch.sort(std, descending=keep == "std", stable=True).indices
    kept_groups = order[: int(ratio * std.numel())]
    survivors = everything[torch.isin(groups, kept_groups)]
    if not pow2_subsample:
        return survivors
    pick = random_subset(survivors.numel(), pow2_floor(survivors.numel()), generator)
    return survivors[pick.to(survivors.device)]
