"""Vectorised group statistics over a flat batch of samples.

Gathers use ``index_select`` rather than advanced indexing: on a busy multi-threaded CPU the latter
was up to 1000× slower for these shapes (see benchmarks/algorithms_bench.py).

Every estimator in this package works on a flat batch of ``B`` samples, each carrying an integer group
id (a ``uid``: one task instance rolled out ``n`` times) and, where needed, a trajectory id. Ids may be any
integers; they are made dense with :func:`dense_ids` (first-appearance order), so groups are never
identified by their position in a shuffled batch (docs/algorithms.md, 'Design choices').
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import torch
from torch import Tensor


def ids_from_keys(keys: Sequence[Hashable], device: torch.device | str | None = None) -> Tensor:
    """Map hashable keys (uids, trajectory ids, raw observation strings) to int64 ids.

    Equal keys get equal ids (exact equality, no fuzzy matching); ids are numbered in order of first
    appearance. Loops over samples (not tokens), which is where the keys live.

    Returns: ``LongTensor[len(keys)]``.
    """
    table: dict[Hashable, int] = {}
    ids = [table.setdefault(key, len(table)) for key in keys]
    return torch.tensor(ids, dtype=torch.long, device=device)


def dense_ids(ids: Tensor) -> tuple[Tensor, int]:
    """Renumber arbitrary integer ids ``[B]`` to ``0..G-1`` in order of first appearance.

    Returns: ``(dense[B], G)``.
    """
    if ids.dim() != 1:
        raise ValueError(f"ids must be 1-D [B], got shape {tuple(ids.shape)}")
    if ids.numel() == 0:
        return ids.new_zeros(0, dtype=torch.long), 0
    uniq, inverse = torch.unique(ids, return_inverse=True)
    num = uniq.numel()
    positions = torch.arange(ids.numel(), device=ids.device)
    first = torch.full((num,), ids.numel(), dtype=torch.long, device=ids.device)
    first = first.scatter_reduce(0, inverse, positions, reduce="amin")
    rank = torch.empty_like(first).scatter_(0, torch.argsort(first), torch.arange(num, device=ids.device))
    return rank.index_select(0, inverse), num


def pair_ids(a: Tensor, b: Tensor) -> Tensor:
    """Dense ids of the pairs ``(a_i, b_i)`` (e.g. (uid, anchor state)), first-appearance order. ``[B]``."""
    da, _ = dense_ids(a)
    db, nb = dense_ids(b)
    return dense_ids(da * max(nb, 1) + db)[0]


def group_count(dense: Tensor, num_groups: int, dtype: torch.dtype) -> Tensor:
    """Number of samples per group, ``[G]`` in ``dtype``."""
    return torch.zeros(num_groups, dtype=dtype, device=dense.device).index_add_(
        0, dense, torch.ones_like(dense, dtype=dtype)
    )


def group_mean_std(values: Tensor, dense: Tensor, num_groups: int, unbiased: bool = True) -> tuple[Tensor, Tensor, Tensor]:
    """Per-group mean, std and count of ``values[B]`` grouped by ``dense[B]`` (ids in ``0..G-1``).

    ``std = sqrt(Σ (v − mean)² / (n − ddof))`` with ddof = 1 when ``unbiased`` (torch default) else 0.
    A group with ``n ≤ ddof`` gets std NaN-free 0 here; callers decide what singletons mean.

    Returns: ``(mean[G], std[G], count[G])`` in ``values.dtype``.
    """
    count = group_count(dense, num_groups, values.dtype)
    total = torch.zeros(num_groups, dtype=values.dtype, device=values.device).index_add_(0, dense, values)
    mean = total / count.clamp_min(1)
    sq = torch.zeros_like(total).index_add_(0, dense, (values - mean.index_select(0, dense)) ** 2)
    ddof = 1 if unbiased else 0
    std = torch.sqrt(sq / (count - ddof).clamp_min(1))
    return mean, std, count


def trajectory_means(values: Tensor, traj_ids: Tensor) -> tuple[Tensor, Tensor]:
    """Mean of ``values[B]`` per trajectory.

    Returns: ``(traj_mean[T], traj_of_sample[B])`` where ``traj_of_sample`` are dense trajectory ids.
    """
    traj, num = dense_ids(traj_ids)
    mean, _, _ = group_mean_std(values, traj, num)
    return mean, traj


def group_of_trajectory(group_ids: Tensor, traj: Tensor, num_traj: int) -> Tensor:
    """Group id of every trajectory ``[T]``, given per-sample group ids and dense trajectory ids ``[B]``.

    Every sample of a trajectory must carry the same group id.
    """
    out = torch.zeros(num_traj, dtype=group_ids.dtype, device=group_ids.device)
    return out.scatter(0, traj, group_ids)
