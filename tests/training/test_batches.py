"""The step's batch objects: ``StepBatch.select`` keeps every per-sample field aligned, ``TrainBatch``
trims padding to what it keeps and survives the replay buffer's storage unchanged."""

from __future__ import annotations

import pytest
import torch

import tests.training.fixed_rollouts as fx
from spear_train.algorithms.replay_buffer import ReplayBuffer
from spear_train.training.step_batch import StepBatch
from spear_train.training.train_batch import TrainBatch


def _batch() -> TrainBatch:
    return TrainBatch.from_lists([[1, 2], [3], [4, 5, 6]], [[7], [8, 9, 10], [11, 12]],
                                 [[1], [1, 0, 1], [1, 1]], [[-0.5], [-1.0, 0.0, -2.0], [-0.25, -0.75]],
                                 [1.5, -2.0, 0.5], [True, False, True])


def test_train_batch_pads_once_and_select_trims_to_the_kept_rows():
    b = _batch()
    assert b.response_ids.tolist() == [[7, 0, 0], [8, 9, 10], [11, 12, 0]] and b.prompt_len.tolist() == [2, 1, 3]
    assert b.old_log_probs.dtype == torch.float32 and b.advantages.dtype == torch.float64
    picked = b.select([2, 0])
    assert picked.rows("prompt_ids") == [[4, 5, 6], [1, 2]] and picked.rows("response_ids") == [[11, 12], [7]]
    assert picked.response_ids.shape == (2, 2) and picked.prompt_ids.shape == (2, 3)  # padding trimmed
    assert picked.rows("old_log_probs") == [[-0.25, -0.75], [-0.5]] and picked.advantages.tolist() == [0.5, 1.5]
    assert picked.keep.tolist() == [True, True] and picked.rows("loss_mask") == [[1, 1], [1]]
    by_mask = b.select(torch.tensor([False, True, False]))
    assert by_mask.rows("response_ids") == [[8, 9, 10]] and by_mask.keep.tolist() == [False]
    assert b.response_mask().tolist() == [[1, 0, 0], [1, 1, 1], [1, 1, 0]]
    assert b.prompt_keys() == [(1, 2), (3,), (4, 5, 6)]


def test_mismatched_lists_are_refused():
    with pytest.raises(ValueError, match="2 prompts but 1 responses"):
        TrainBatch.from_lists([[1], [2]], [[3]])


def test_replayed_samples_come_back_as_they_were_stored():
    b = _batch()
    buffer = ReplayBuffer(buffer_size=2, tolerate_steps=5)
    buffer.add(1, b.buffer_tensors(), scores=torch.tensor([3.0, 1.0, 2.0], dtype=torch.float64),
               advantages=torch.tensor([1.0, 1.0, 1.0], dtype=torch.float64))
    drained = buffer.drain(2, (1.5, 0.0), generator=torch.Generator().manual_seed(0))
    back = TrainBatch.from_buffer(drained.samples, drained.advantages)
    assert len(back) == 2  # scores 3 and 2 are at or above the baseline 1.5
    rows = {tuple(r): i for i, r in enumerate(b.rows("response_ids"))}
    for k, resp in enumerate(back.rows("response_ids")):
        i = rows[tuple(resp)]
        assert back.rows("prompt_ids")[k] == b.rows("prompt_ids")[i]
        assert back.rows("old_log_probs")[k] == b.rows("old_log_probs")[i]  # float32 -> float64 -> float32 exact
        assert back.rows("loss_mask")[k] == b.rows("loss_mask")[i]
    assert back.advantages.tolist() == pytest.approx(drained.advantages.tolist()) and bool(back.keep.all())


def test_step_batch_select_keeps_every_field_aligned():
    batch = StepBatch.from_samples(fx.agent_rollout(1).samples)
    batch.scores = torch.arange(len(batch), dtype=torch.float64)
    batch.flagged = torch.tensor([i % 3 == 0 for i in range(len(batch))])
    picked = batch.select(torch.tensor([i % 2 == 1 for i in range(len(batch))]))
    odd = list(range(1, len(batch), 2))
    assert [s.response_ids[0] for s in picked.samples] == [r[0] for r in picked.tokens.rows("response_ids")] \
        == [fx.first_id(1, i) for i in odd]
    assert picked.scores.tolist() == [float(i) for i in odd]
    assert picked.flagged.tolist() == [i % 3 == 0 for i in odd]
    assert picked.group_ids.tolist() == batch.group_ids[odd].tolist()
    assert picked.traj_ids.tolist() == batch.traj_ids[odd].tolist()
    assert picked.column("action_valid").tolist() == [batch.samples[i].action_valid for i in odd]
    reordered = batch.select([3, 0])
    assert [s.response_ids[0] for s in reordered.samples] == [fx.first_id(1, 3), fx.first_id(1, 0)]
