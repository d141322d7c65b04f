"""The token data of N training samples as right-padded tensors: what the loss reads, what the SPEAR replay
buffer stores and what it gives back. Built once from the samples' id lists; from then on every step
works on these tensors (no tensors -> lists -> tensors round-trips).

Row ``i`` is sample ``i``. Padding is 0 past ``prompt_len[i]`` / ``response_len[i]``; :meth:`TrainBatch.select`
trims the padding to the longest prompt and response it keeps, so a micro-batch has the same shapes
whether it came from a rollout or from the replay buffer.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import Tensor

#: the tensors the replay buffer stores per sample (docs/algorithms.md, 'Replay buffer')
BUFFER_KEYS = ("prompt_ids", "prompt_len", "response_ids", "response_len", "loss_mask", "old_log_probs", "keep")


def pad_rows(rows: list[list], dtype: torch.dtype) -> Tensor:
    """Right-pad variable-length rows with 0 to ``[N, max(1, longest)]``."""
    width = max(max((len(r) for r in rows), default=1), 1)
    out = torch.zeros((len(rows), width), dtype=dtype)
    for i, r in enumerate(rows):
        if len(r):
            out[i, : len(r)] = torch.tensor(r, dtype=dtype)
    return out


def _width(t: Tensor, width: int) -> Tensor:
    """``t [N, W]`` cut or zero-padded to ``[N, width]``."""
    if t.shape[1] >= width:
        return t[:, :width]
    return torch.nn.functional.pad(t, (0, width - t.shape[1]))


@dataclass
class TrainBatch:
    """N samples ready for the loss.

    ``prompt_ids [N, P]`` / ``response_ids [N, R]`` long, with ``prompt_len`` / ``response_len [N]``;
    ``loss_mask [N, R]`` 1 on tokens the model produced (0 on tool-reply tokens); ``old_log_probs [N, R]``
    float32, the importance-ratio denominator log π_old per response token; ``advantages [N]`` float64,
    the scalar advantage of each sample (0 for flagged samples); ``keep [N]`` bool, False when the
    sample's policy-gradient term is removed by a flag (docs/algorithms.md, 'What a flag does').
    """

    prompt_ids: Tensor
    prompt_len: Tensor
    response_ids: Tensor
    response_len: Tensor
    loss_mask: Tensor
    old_log_probs: Tensor
    advantages: Tensor
    keep: Tensor

    def __len__(self) -> int:
        return int(self.prompt_len.numel())

    @classmethod
    def from_lists(cls, prompt_ids: list[list[int]], response_ids: list[list[int]],
                   loss_mask: list[list[int]] | None = None, old_logprobs: list[list[float]] | None = None,
                   advantages: list[float] | None = None, keep: list[bool] | None = None) -> "TrainBatch":
        """The one lists -> tensors conversion. Missing parts default to: loss mask 1 on every response
        token, old log-probs 0, advantages 0, every sample kept."""
        if len(prompt_ids) != len(response_ids):
            raise ValueError(f"{len(prompt_ids)} prompts but {len(response_ids)} responses")
        n = len(response_ids)
        responses = pad_rows(response_ids, torch.long)
        masks = pad_rows(loss_mask, torch.long) if loss_mask is not None else \
            pad_rows([[1] * len(r) for r in response_ids], torch.long)
        old = pad_rows(old_logprobs, torch.float32) if old_logprobs is not None else torch.zeros(responses.shape)
        return cls(prompt_ids=pad_rows(prompt_ids, torch.long),
                   prompt_len=torch.tensor([len(p) for p in prompt_ids], dtype=torch.long),
                   response_ids=responses,
                   response_len=torch.tensor([len(r) for r in response_ids], dtype=torch.long),
                   loss_mask=_width(masks, responses.shape[1]), old_log_probs=_width(old, responses.shape[1]),
                   advantages=torch.tensor(advantages if advantages is not None else [0.0] * n, dtype=torch.float64),
                   keep=torch.tensor(keep if keep is not None else [True] * n, dtype=torch.bool))

    @classmethod
    def from_buffer(cls, samples: dict[str, Tensor], advantages: Tensor) -> "TrainBatch":
        """A drained replay batch (:meth:`~spear_train.algorithms.replay_buffer.ReplayBuffer.drain`) with
        its recalibrated advantages ``Â``; every replayed sample is kept."""
        batch = cls(prompt_ids=samples["prompt_ids"], prompt_len=samples["prompt_len"],
                    response_ids=samples["response_ids"], response_len=samples["response_len"],
                    loss_mask=samples["loss_mask"], old_log_probs=samples["old_log_probs"].float(),
                    advantages=advantages.double(), keep=torch.ones(len(samples["prompt_len"]), dtype=torch.bool))
        return batch.select(torch.arange(len(batch)))

    def buffer_tensors(self) -> dict[str, Tensor]:
        """The per-sample tensors the replay buffer stores (:data:`BUFFER_KEYS`; log-probs as float64)."""
        return {"prompt_ids": self.prompt_ids, "prompt_len": self.prompt_len, "response_ids": self.response_ids,
                "response_len": self.response_len, "loss_mask": self.loss_mask,
                "old_log_probs": self.old_log_probs.double(), "keep": self.keep}

    def select(self, which) -> "TrainBatch":
        """The rows ``which`` (a ``[N]`` bool mask, or indices in the order wanted), padding trimmed to
        the longest prompt and response kept (at least 1 column)."""
        index = torch.as_tensor(which)
        if index.dtype == torch.bool:
            index = torch.nonzero(index).squeeze(-1)
        index = index.long().reshape(-1)
        plen, rlen = self.prompt_len[index], self.response_len[index]
        p_width = max(int(plen.max()) if len(index) else 1, 1)
        r_width = max(int(rlen.max()) if len(index) else 1, 1)
        return TrainBatch(prompt_ids=_width(self.prompt_ids[index], p_width), prompt_len=plen,
                          response_ids=_width(self.response_ids[index], r_width), response_len=rlen,
                          loss_mask=_width(self.loss_mask[index], r_width),
                          old_log_probs=_width(self.old_log_probs[index], r_width),
                          advantages=self.advantages[index], keep=self.keep[index])

    def with_values(self, **values: Tensor) -> "TrainBatch":
        """A copy with some fields replaced (e.g. ``old_log_probs`` once computed)."""
        return replace(self, **values)

    def response_mask(self, width: int | None = None) -> Tensor:
        """``[N, width]`` float32: 1 on each sample's real response tokens (width: the padded one)."""
        width = self.response_ids.shape[1] if width is None else width
        return (torch.arange(width).unsqueeze(0) < self.response_len.unsqueeze(-1)).float()

    def prompt_keys(self) -> list[tuple[int, ...]]:
        """Each sample's prompt as a hashable tuple (samples sharing a prompt share a forward pass)."""
        return [tuple(row[:n].tolist()) for row, n in zip(self.prompt_ids, self.prompt_len.tolist())]

    def sequence_keys(self) -> list[tuple[int, ...]]:
        """Each sample's ``prompt + response`` ids as a hashable tuple (packing: see
        :func:`spear_train.training.logprobs.pack_hosts`)."""
        return [p + tuple(row[:n].tolist()) for p, row, n in
                zip(self.prompt_keys(), self.response_ids, self.response_len.tolist())]

    def rows(self, name: str) -> list[list]:
        """A per-token field (``prompt_ids``, ``response_ids``, ``loss_mask``, ``old_log_probs``) as
        unpadded Python lists, for reading and tests."""
        lengths = (self.prompt_len if name == "prompt_ids" else self.response_len).tolist()
        return [row[:n].tolist() for row, n in zip(getattr(self, name), lengths)]
