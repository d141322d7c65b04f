"""SPEAR's off-policy advantage recalibration: baseline history, P50 and decay modes
(docs/algorithms.md, 'P50 baseline and recalibration').

After every step the trainer records this step's per-group mean and std rewards. When the replay
buffer is drained, replayed samples get a fresh advantage against the median (P50) of that history,
instead of the stale group statistics of their collection step.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import torch
from torch import Tensor

from spear_train.algorithms.grpo_advantage import ADV_EPS


class BaselineHistory:
    """History of per-group mean and std rewards, bounded by ``max_size`` stored group means.

    Entries are ``(step, means[G_t], stds[G_t])``, one per training step. Before appending a new entry,
    whole oldest entries are popped while the stored total exceeds ``max_size``; the check runs before
    the append, so the total may exceed ``max_size`` by one step's worth (as the reference does).
    """

    def __init__(self, max_size: int = 10240) -> None:
        if max_size < 1:
            raise ValueError(f"max_size must be >= 1, got {max_size}")
        self.max_size = max_size
        self._entries: deque[tuple[int, Tensor, Tensor]] = deque()

    def __len__(self) -> int:
        """Number of stored group means (over all entries)."""
        return sum(means.numel() for _, means, _ in self._entries)

    @property
    def entry_sizes(self) -> list[int]:
        """Number of group means in each stored entry, oldest first."""
        return [means.numel() for _, means, _ in self._entries]

    def add(self, step: int, group_means: Tensor, group_stds: Tensor) -> None:
        """Record one step's per-group means and stds (``[G]`` each, stored as float64 on the CPU)."""
        if group_means.shape != group_stds.shape or group_means.dim() != 1:
            raise ValueError(f"group_means and group_stds must both be [G]; got {tuple(group_means.shape)}, {tuple(group_stds.shape)}")
        while self._entries and len(self) > self.max_size:
            self._entries.popleft()
        self._entries.append((int(step), group_means.detach().double().cpu().clone(), group_stds.detach().double().cpu().clone()))

    def p50(self) -> tuple[float, float] | None:
        """``(b, b_σ)``: medians (linear interpolation, as ``np.percentile(·, 50)``) of all stored group
        means and of all stored group stds; None while the history is empty."""
        if len(self) == 0:
            return None
        means = torch.cat([m for _, m, _ in self._entries])
        stds = torch.cat([s for _, _, s in self._entries])
        return float(torch.quantile(means, 0.5)), float(torch.quantile(stds, 0.5))

    def state_dict(self) -> dict[str, Any]:
        """Serialisable state (plain Python and CPU tensors); :meth:`load_state_dict` restores it exactly."""
        return {
            "max_size": self.max_size,
            "entries": [{"step": step, "means": m.clone(), "stds": s.clone()} for step, m, s in self._entries],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Replace this history with ``state`` (from :meth:`state_dict`)."""
        self.max_size = int(state["max_size"])
        self._entries = deque((int(e["step"]), e["means"].clone(), e["stds"].clone()) for e in state["entries"])


def p50_recalibrate(scores: Tensor, baseline: float, baseline_std: float, norm_by_std: bool = False, eps: float = ADV_EPS) -> Tensor:
    """P50 advantage of replayed samples: ``Â = s − b``, or ``(s − b)/(b_σ + eps)`` with ``norm_by_std``.

    ``scores``: ``[N]`` rewards ``s_i`` stored at collection time (penalty and tool bonus included).
    For GiGPO runs this replaces the GiGPO advantage; the step-level term is gone.
    """
    centred = scores - baseline
    return centred / (baseline_std + eps) if norm_by_std else centred


def recalibration_keep_mask(recalibrated: Tensor, strict: bool = False) -> Tensor:
    """Replayed samples kept after P50 recalibration: ``Â ≥ 0`` (agent envs) or ``Â > 0`` (``strict``, math)."""
    return recalibrated > 0 if strict else recalibrated >= 0


def decay_recalibrate(stored_advantages: Tensor, weight: float) -> Tensor:
    """Decay mode: ``Â = w · A_stored`` with ``w ∈ (0, 1]``; nothing is filtered."""
    if not 0.0 < weight <= 1.0:
        raise ValueError(f"decay weight must be in (0, 1], got {weight}")
    return weight * stored_advantages
