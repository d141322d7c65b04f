"""SPEAR's experience replay buffer: a flush-when-full store of good samples (docs/algorithms.md, 'Replay buffer').

Life cycle per training step t (the trainer drives it):

1. ``buffer.is_full(baseline)``: more than ``1.5 × buffer_size`` stored samples beat the P50 baseline?
2. if so, ``buffer.drain(t, baseline)``: recalibrate the advantages, keep a power-of-two random subset
   of at most ``buffer_size`` samples, return them as a :class:`ReplayBatch` and clear the buffer;
3. after the actor update, ``buffer.add(t, samples, scores, advantages)``: drop stale chunks, then admit
   this step's samples with on-policy advantage ``A > 0``.

Staleness: a chunk admitted at step s is kept while ``t − s ≤ tolerate_steps + 2`` (:attr:`max_age`),
where t is the step about to replay. This is the reference's rule "keep chunks within
``min(tolerate, 10)`` steps of the newest stored chunk, checked before each insertion", which with one
insertion per step lets samples be 1 to ``tolerate + 2`` steps old (1-7 for tolerate = 5); stating it
against the replaying step keeps the bound when steps are skipped.

Samples are dicts of tensors with a leading sample dimension (tokens, masks, collection-time
``old_log_probs``, ...). They are stored on the device given, and restored exactly by
:meth:`ReplayBuffer.load_state_dict`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from spear_train.algorithms.baseline import decay_recalibrate, p50_recalibrate, recalibration_keep_mask
from spear_train.algorithms.grpo_advantage import ADV_EPS
from spear_train.algorithms.sample_filters import pow2_floor, random_subset

MAX_TOLERATE_STEPS = 10


@dataclass
class ReplayBatch:
    """Samples drawn for one replay pass.

    ``samples``: dict of tensors ``[N, ...]`` (2-D+ tensors right-padded with zeros to a common width);
    ``advantages``: ``[N]`` recalibrated advantages ``Â``; ``scores``: ``[N]`` stored rewards;
    ``steps``: ``[N]`` collection step of each sample.
    """

    samples: dict[str, Tensor]
    advantages: Tensor
    scores: Tensor
    steps: Tensor

    def __len__(self) -> int:
        return int(self.advantages.numel())


def replay_subsample_size(n: int, buffer_size: int) -> int:
    """``min(pow2_floor(n), buffer_size)``, and 0 when ``n ≤ 1``."""
    return 0 if n <= 1 else min(pow2_floor(n), buffer_size)


def _cat_padded(parts: list[Tensor]) -> Tensor:
    width = max((p.shape[1] for p in parts if p.dim() > 1), default=None)
    if width is not None:
        parts = [F.pad(p, (0, 0) * (p.dim() - 2) + (0, width - p.shape[1])) if p.shape[1] < width else p for p in parts]
    return torch.cat(parts)


class ReplayBuffer:
    """SPEAR's flush-when-full replay buffer.

    Args:
        buffer_size: replay batch cap; the buffer counts as full above ``full_factor × buffer_size``.
        tolerate_steps: staleness tolerance (capped at 10); see the module docstring.
        decay_weight: None for P50 mode; ``w ∈ (0, 1]`` for decay mode (``Â = w·A``, no filtering).
        norm_by_std: P50 mode divides by ``b_σ + 1e-6`` (``norm_adv_by_std``).
        strict_positive: keep ``Â > 0`` (math) instead of ``Â ≥ 0`` (agent envs).
        require_tool_call: admit only samples that made ≥ 1 tool call (math).
        full_factor: 1.5 in the reference.
    """

    def __init__(
        self,
        buffer_size: int = 2048,
        tolerate_steps: int = 5,
        decay_weight: float | None = None,
        norm_by_std: bool = False,
        strict_positive: bool = False,
        require_tool_call: bool = False,
        full_factor: float = 1.5,
    ) -> None:
        if buffer_size < 1:
            raise ValueError(f"buffer_size must be >= 1, got {buffer_size}")
        if tolerate_steps < 0:
            raise ValueError(f"tolerate_steps must be >= 0, got {tolerate_steps}")
        if decay_weight is not None and not 0.0 < decay_weight <= 1.0:
            raise ValueError(f"decay_weight must be None (P50 mode) or in (0, 1], got {decay_weight}")
        self.buffer_size = buffer_size
        self.tolerate_steps = tolerate_steps
        self.decay_weight = decay_weight
        self.norm_by_std = norm_by_std
        self.strict_positive = strict_positive
        self.require_tool_call = require_tool_call
        self.full_factor = full_factor
        self._chunks: list[dict[str, Any]] = []

    @property
    def max_age(self) -> int:
        """Largest ``t − s`` of a sample admitted at step s that may be replayed at step t."""
        return min(self.tolerate_steps, MAX_TOLERATE_STEPS) + 2

    def __len__(self) -> int:
        """Number of stored samples."""
        return sum(int(c["scores"].numel()) for c in self._chunks)

    @property
    def steps(self) -> list[int]:
        """Collection step of each stored chunk, oldest first."""
        return [c["step"] for c in self._chunks]

    def _drop_stale(self, replay_step: int) -> None:
        self._chunks = [c for c in self._chunks if replay_step - c["step"] <= self.max_age]

    def add(self, step: int, samples: dict[str, Tensor], scores: Tensor, advantages: Tensor, has_tool_call: Tensor | None = None) -> int:
        """Drop stale chunks, then admit this step's samples with ``A > 0`` (and a tool call if required).

        Args:
            step: the training step that collected the samples.
            samples: tensors ``[B, ...]`` (must include collection-time ``old_log_probs`` for replay).
            scores: ``[B]`` rewards ``s_i`` (penalty and tool bonus included).
            advantages: ``[B]`` on-policy scalar advantages (0 for flagged samples).
            has_tool_call: ``[B]`` bool, required when ``require_tool_call``.
        Returns: the number of admitted samples.
        """
        if self._chunks and step < self._chunks[-1]["step"]:
            raise ValueError(f"step {step} is older than the newest stored chunk ({self._chunks[-1]['step']})")
        batch = scores.shape[0]
        for name, value in samples.items():
            if value.shape[0] != batch:
                raise ValueError(f"samples[{name!r}] has {value.shape[0]} rows, scores has {batch}")
        admit = advantages > 0
        if self.require_tool_call:
            if has_tool_call is None:
                raise ValueError("require_tool_call=True needs has_tool_call")
            admit = admit & has_tool_call.bool()
        self._drop_stale(step + 1)
        chunk = {
            "step": int(step),
            "scores": scores[admit].detach().clone(),
            "advantages": advantages[admit].detach().clone(),
            "samples": {name: value[admit].detach().clone() for name, value in samples.items()},
        }
        self._chunks.append(chunk)
        return int(admit.sum().item())

    def count_above_baseline(self, baseline: float | None) -> int:
        """Samples counted by the full trigger: all of them in decay mode; in P50 mode those with
        ``s > b``, or with no baseline yet those above their own chunk's mean reward."""
        if self.decay_weight is not None:
            return len(self)
        total = 0
        for c in self._chunks:
            if c["scores"].numel() == 0:
                continue
            threshold = c["scores"].mean() if baseline is None else baseline
            total += int((c["scores"] > threshold).sum().item())
        return total

    def is_full(self, baseline: float | None) -> bool:
        """``count_above_baseline(b) > full_factor × buffer_size`` (e.g. > 3072 for size 2048)."""
        return self.count_above_baseline(baseline) > self.full_factor * self.buffer_size

    def clear(self) -> None:
        self._chunks = []

    def drain(
        self,
        step: int,
        baseline: tuple[float, float] | None,
        generator: torch.Generator | None = None,
        min_samples: int = 1,
    ) -> ReplayBatch | None:
        """Build the replay batch for step ``step`` and clear the buffer (always, even when skipping).

        1. Drop samples older than :attr:`max_age`.
        2. P50 mode: ``Â = p50_recalibrate(s, b, b_σ)``, keep ``Â ≥ 0`` (``> 0`` if strict);
           decay mode: ``Â = w·A``, keep all.
        3. Keep a uniform random subset of ``replay_subsample_size(n, buffer_size)`` samples.
        4. Return None when fewer than ``min_samples`` remain (e.g. fewer than the number of GPUs).

        Args:
            baseline: ``(b, b_σ)`` from :meth:`BaselineHistory.p50`; required in P50 mode.
        """
        self._drop_stale(step)
        chunks, self._chunks = self._chunks, []
        chunks = [c for c in chunks if c["scores"].numel() > 0]
        if not chunks:
            return None
        scores = torch.cat([c["scores"] for c in chunks])
        stored_adv = torch.cat([c["advantages"] for c in chunks])
        steps = torch.cat([torch.full((c["scores"].numel(),), c["step"], dtype=torch.long, device=scores.device) for c in chunks])
        samples = {name: _cat_padded([c["samples"][name] for c in chunks]) for name in chunks[0]["samples"]}
        if self.decay_weight is not None:
            adv = decay_recalibrate(stored_adv, self.decay_weight)
            keep = torch.ones_like(adv, dtype=torch.bool)
        else:
            if baseline is None:
                raise ValueError("P50 mode needs a baseline (b, b_sigma); the baseline history is empty")
            adv = p50_recalibrate(scores, baseline[0], baseline[1], self.norm_by_std, ADV_EPS)
            keep = recalibration_keep_mask(adv, strict=self.strict_positive)
        kept = torch.nonzero(keep).squeeze(-1)
        pick = kept[random_subset(kept.numel(), replay_subsample_size(kept.numel(), self.buffer_size), generator).to(kept.device)]
        if pick.numel() < max(min_samples, 1):
            return None
        return ReplayBatch(
            samples={name: value[pick.to(value.device)] for name, value in samples.items()},
            advantages=adv[pick],
            scores=scores[pick],
            steps=steps[pick],
        )

    def state_dict(self) -> dict[str, Any]:
        """Settings and stored chunks (tensors cloned); :meth:`load_state_dict` restores them exactly."""
        return {
            "buffer_size": self.buffer_size,
            "tolerate_steps": self.tolerate_steps,
            "decay_weight": self.decay_weight,
            "norm_by_std": self.norm_by_std,
            "strict_positive": self.strict_positive,
            "require_tool_call": self.require_tool_call,
            "full_factor": self.full_factor,
            "chunks": [
                {"step": c["step"], "scores": c["scores"].clone(), "advantages": c["advantages"].clone(),
                 "samples": {k: v.clone() for k, v in c["samples"].items()}}
                for c in self._chunks
            ],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Replace settings and contents with ``state`` (from :meth:`state_dict`); validates the settings."""
        missing = {"buffer_size", "tolerate_steps", "decay_weight", "norm_by_std", "strict_positive",
                   "require_tool_call", "full_factor", "chunks"} - set(state)
        if missing:
            raise KeyError(f"replay buffer state lacks {sorted(missing)}")
        fresh = ReplayBuffer(
            buffer_size=int(state["buffer_size"]), tolerate_steps=int(state["tolerate_steps"]),
            decay_weight=state["decay_weight"], norm_by_std=bool(state["norm_by_std"]),
            strict_positive=bool(state["strict_positive"]), require_tool_call=bool(state["require_tool_call"]),
            full_factor=float(state["full_factor"]),
        )
        fresh._chunks = [
            {"step": int(c["step"]), "scores": c["scores"].clone(), "advantages": c["advantages"].clone(),
             "samples": {k: v.clone() for k, v in c["samples"].items()}}
            for c in state["chunks"]
        ]
        self.__dict__.update(fresh.__dict__)
