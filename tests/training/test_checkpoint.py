"""Checkpoints: exact state round trip, corrupt/partial ones skipped, pruning keeps good ones."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from spear_train.training.checkpoint import (
    CorruptCheckpoint,
    list_checkpoints,
    load_latest_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
    verify_checkpoint,
)


def _state(step):
    return {"step": step, "weights": torch.arange(4.0) * step, "rng": rng_state()}


def test_round_trip_and_rng_restore(tmp_path):
    torch.manual_seed(0)
    random.seed(1)
    np.random.seed(2)
    save_checkpoint(tmp_path, 3, _state(3))
    expected = (torch.rand(3), random.random(), np.random.rand())
    loaded = load_latest_checkpoint(tmp_path)
    assert loaded.step == 3 and torch.equal(loaded.state["weights"], torch.arange(4.0) * 3)
    set_rng_state(loaded.state["rng"])
    again = (torch.rand(3), random.random(), np.random.rand())
    assert torch.equal(expected[0], again[0]) and expected[1:] == again[1:]


def test_policy_folder_is_hashed(tmp_path):
    def save_policy(folder):
        folder.mkdir()
        (folder / "weights.bin").write_bytes(b"abc")

    path = save_checkpoint(tmp_path, 1, _state(1), save_policy=save_policy)
    assert verify_checkpoint(path) == 1
    (path / "policy" / "weights.bin").write_bytes(b"abd")
    with pytest.raises(CorruptCheckpoint, match="weights.bin"):
        verify_checkpoint(path)


def test_corrupt_newest_falls_back_to_previous(tmp_path):
    save_checkpoint(tmp_path, 1, _state(1), keep=5)
    newest = save_checkpoint(tmp_path, 2, _state(2), keep=5)
    state_file = newest / "trainer_state.pt"
    state_file.write_bytes(state_file.read_bytes()[:10])  # truncated
    with pytest.warns(UserWarning, match="step_000002"):
        loaded = load_latest_checkpoint(tmp_path)
    assert loaded.step == 1


def test_partial_checkpoint_without_manifest_is_skipped(tmp_path):
    save_checkpoint(tmp_path, 1, _state(1))
    partial = tmp_path / "step_000002"
    partial.mkdir()
    torch.save(_state(2), partial / "trainer_state.pt")
    with pytest.warns(UserWarning, match="manifest"):
        assert load_latest_checkpoint(tmp_path).step == 1


def test_no_checkpoint_gives_none(tmp_path):
    assert load_latest_checkpoint(tmp_path / "nothing") is None


def test_prune_keeps_newest(tmp_path):
    for step in range(1, 5):
        save_checkpoint(tmp_path, step, _state(step), keep=2)
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step_000003", "step_000004"]
