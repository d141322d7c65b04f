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


def test_policy_weights_reload_exactly_and_tied_keys_are_accepted(tmp_path):
    """The trainer state holds no copy of the weights: resume reads them back from ``policy/``."""
    from spear_train.models.tiny_model import build_tiny_model
    from spear_train.models.tokenizer import train_tokenizer
    from spear_train.training.checkpoint import load_policy_weights

    from tests.training.conftest import TINY_SHAPE, TOY_TEXTS

    tokenizer = train_tokenizer(TOY_TEXTS, vocab_size=300)
    saved = build_tiny_model(tokenizer, TINY_SHAPE, seed=0)
    saved.save_pretrained(tmp_path / "policy")
    other = build_tiny_model(tokenizer, TINY_SHAPE, seed=1)
    assert any(not torch.equal(a, b) for a, b in zip(saved.state_dict().values(), other.state_dict().values()))
    load_policy_weights(other, tmp_path / "policy")
    for key, value in saved.state_dict().items():
        assert torch.equal(value, other.state_dict()[key]), key

    import dataclasses
    wider = build_tiny_model(tokenizer, dataclasses.replace(TINY_SHAPE, intermediate_size=128), seed=0)
    with pytest.raises(RuntimeError, match="size mismatch"):
        load_policy_weights(wider, tmp_path / "policy")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CorruptCheckpoint, match="no safetensors"):
        load_policy_weights(other, tmp_path / "empty")


def test_cuda_rng_states_are_restored_when_cuda_is_present(monkeypatch):
    state = rng_state()
    state["cuda"] = [torch.ByteTensor([1, 2, 3])]
    restored = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "set_rng_state_all", lambda states: restored.append(states))
    set_rng_state(state)
    assert restored == [state["cuda"]]
