"""The one batch object a training step's phases pass along (spear_train/training/trainer.py): the step's
samples and everything computed per sample, row ``i`` everywhere being sample ``i``.

Filtering is :meth:`StepBatch.select`, which keeps the same rows of every field at once (no parallel
lists re-indexed by hand). The samples' token ids become tensors once, in :attr:`StepBatch.tokens`
(a :class:`~spear_train.training.train_batch.TrainBatch`), which is what the update and the replay
buffer receive.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from spear_train.algorithms.grouping import ids_from_keys
from spear_train.rollout.samples import Sample
from spear_train.training.train_batch import TrainBatch


@dataclass
class StepBatch:
    """The samples of one step with their per-sample tensors ``[N]``.

    ``group_ids`` / ``traj_ids``: long ids of each sample's group and trajectory (first-appearance order);
    ``scores``: ``s_i`` float64 (after the invalid-action penalty once the advantages phase ran);
    ``flagged``: bool, the sample's policy-gradient term is removed; ``tokens``: the token tensors, whose
    ``advantages`` / ``keep`` / ``old_log_probs`` the later phases fill in. Fields not computed yet are None.
    """

    samples: list[Sample]
    tokens: TrainBatch
    group_ids: Tensor
    traj_ids: Tensor
    scores: Tensor | None = None
    flagged: Tensor | None = None

    @classmethod
    def from_samples(cls, samples: list[Sample]) -> "StepBatch":
        """The samples as a batch: ids and token tensors built here, once (a sample without a loss mask
        trains on every response token)."""
        tokens = TrainBatch.from_lists([list(s.prompt_ids) for s in samples], [list(s.response_ids) for s in samples],
                                       [list(s.loss_mask) if s.loss_mask else [1] * len(s.response_ids)
                                        for s in samples])
        return cls(samples=list(samples), tokens=tokens, group_ids=ids_from_keys([s.group_id for s in samples]),
                   traj_ids=ids_from_keys([s.traj_id for s in samples]))

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def advantages(self) -> Tensor:
        """``A_i`` ``[N]`` float64 (0 until the advantages phase ran)."""
        return self.tokens.advantages

    def select(self, which) -> "StepBatch":
        """The rows ``which`` (a ``[N]`` bool mask or a sequence/tensor of indices, in the order wanted)
        of every field."""
        index = torch.as_tensor(which)
        if index.dtype == torch.bool:
            index = torch.nonzero(index).squeeze(-1)
        index = index.long().reshape(-1)
        picked = index.tolist()
        return StepBatch(samples=[self.samples[i] for i in picked], tokens=self.tokens.select(index),
                         group_ids=self.group_ids[index], traj_ids=self.traj_ids[index],
                         scores=None if self.scores is None else self.scores[index],
                         flagged=None if self.flagged is None else self.flagged[index])

    def column(self, name: str, dtype: torch.dtype | None = None) -> Tensor:
        """``[N]`` tensor of one per-sample field of the :class:`Sample` s (e.g. ``"action_valid"``)."""
        return torch.tensor([getattr(s, name) for s in self.samples], dtype=dtype)

    def keys(self, name: str) -> Tensor:
        """Ids (first-appearance order) of a hashable per-sample field, e.g. ``"anchor_obs"`` for GiGPO."""
        return ids_from_keys([getattr(s, name) for s in self.samples])
