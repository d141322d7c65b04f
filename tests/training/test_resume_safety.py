"""Safe resume: a changed config is refused (or recorded), unreadable or hostile state files fall back to
the previous checkpoint, and a failed checkpoint write is a clear error that leaves nothing behind."""

from __future__ import annotations

import errno
import hashlib
import json
import random
import subprocess
import uuid
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from spear_train.training import checkpoint as ckpt
from spear_train.training.checkpoint import (
    CheckpointWriteError,
    load_latest_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from spear_train.training.resume_guard import ConfigChangedError, config_changes
from tests.training.test_loop import tiny_run
from tests.training.toy_train import COIN_ID

MARKER = Path(f"/tmp/spear-unpickled-{uuid.uuid4().hex}")


def _state(step):
    return {"step": step, "weights": torch.arange(4.0) * step, "rng": rng_state()}


def _rewrite_manifest(folder: Path) -> None:
    """Make the manifest match the files as they are now (so only the load itself can fail)."""
    manifest = json.loads((folder / "manifest.json").read_text())
    for name in manifest["files"]:
        manifest["files"][name] = hashlib.sha256((folder / name).read_bytes()).hexdigest()
    (folder / "manifest.json").write_text(json.dumps(manifest))


def _leave_marker(path):
    Path(path).write_text("code ran")
    return "payload"


class _Payload:
    def __reduce__(self):
        return (_leave_marker, (str(MARKER),))


def test_rng_states_survive_a_weights_only_round_trip(tmp_path):
    torch.manual_seed(3)
    random.seed(4)
    np.random.seed(5)
    np.random.standard_normal()  # leaves a cached gaussian in numpy's state
    torch.save(rng_state(), tmp_path / "rng.pt")
    expected = (torch.rand(2), random.random(), np.random.standard_normal())
    set_rng_state(torch.load(tmp_path / "rng.pt", weights_only=True))
    again = (torch.rand(2), random.random(), np.random.standard_normal())
    assert torch.equal(expected[0], again[0]) and expected[1:] == again[1:]


def test_a_checkpoint_of_the_earlier_format_still_resumes(tmp_path):
    """Earlier checkpoints held numpy's RNG state as a uint32 array and python's as a tuple."""
    random.seed(6)
    np.random.seed(7)
    old = {"step": 1, "rng": {"python": random.getstate(), "numpy": np.random.get_state(),
                              "torch": torch.get_rng_state()}}
    expected = (random.random(), np.random.rand())
    save_checkpoint(tmp_path, 1, old)
    loaded = load_latest_checkpoint(tmp_path)
    assert loaded.step == 1
    set_rng_state(loaded.state["rng"])
    assert (random.random(), np.random.rand()) == expected


@pytest.mark.parametrize("garbage", [b"not a torch file at all", b"PK\x03\x04" + b"\x00" * 64])
def test_unreadable_state_with_a_matching_hash_falls_back(tmp_path, garbage):
    save_checkpoint(tmp_path, 1, _state(1), keep=5)
    newest = save_checkpoint(tmp_path, 2, _state(2), keep=5)
    (newest / "trainer_state.pt").write_bytes(garbage)
    _rewrite_manifest(newest)
    with pytest.warns(UserWarning, match="step_000002.*unreadable"):
        loaded = load_latest_checkpoint(tmp_path)
    assert loaded.step == 1


def test_a_state_holding_arbitrary_objects_is_never_unpickled(tmp_path):
    save_checkpoint(tmp_path, 1, _state(1), keep=5)
    newest = save_checkpoint(tmp_path, 2, _state(2), keep=5)
    torch.save({**_state(2), "payload": _Payload()}, newest / "trainer_state.pt")
    _rewrite_manifest(newest)
    try:
        with pytest.warns(UserWarning, match="step_000002"):
            loaded = load_latest_checkpoint(tmp_path)
        assert loaded.step == 1 and not MARKER.exists()
    finally:
        MARKER.unlink(missing_ok=True)


def _no_temporary_folders(root: Path) -> bool:
    return not any(p.name.startswith((".tmp-", ".old-")) for p in root.iterdir())


def test_a_writer_error_is_clear_and_leaves_no_temporary_folder(tmp_path):
    class SafetensorError(Exception):  # what safetensors raises when the disk fills
        pass

    def full_disk(folder):
        folder.mkdir()
        (folder / "model.safetensors").write_bytes(b"partial")
        raise SafetensorError("Error while serializing: IoError(No space left on device)")

    with pytest.raises(CheckpointWriteError) as excinfo:
        save_checkpoint(tmp_path, 3, _state(3), save_policy=full_disk)
    message = str(excinfo.value)
    assert "step_000003" in message and str(tmp_path) in message and "MB free" in message
    assert "No space left" in message and "disk mounted at" in message
    assert _no_temporary_folders(tmp_path) and load_latest_checkpoint(tmp_path) is None


@pytest.fixture
def tiny_disk(tmp_path):
    """A real 1 MB tmpfs (needs root and mount); skips where mounting is not allowed."""
    mount = tmp_path / "tiny-disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "spear-test", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=True)


def test_a_full_disk_names_the_disk_and_leaves_nothing(tiny_disk):
    big = {"step": 1, "weights": torch.zeros(1 << 20)}  # 4 MB on a 1 MB disk
    with pytest.raises(CheckpointWriteError, match=f"disk mounted at {tiny_disk}") as excinfo:
        save_checkpoint(tiny_disk / "checkpoints", 1, big)
    assert "OSError" in str(excinfo.value) or "RuntimeError" in str(excinfo.value)
    assert _no_temporary_folders(tiny_disk / "checkpoints")
    save_checkpoint(tiny_disk / "checkpoints", 2, _state(2))  # a small one still fits: nothing leaked
    assert load_latest_checkpoint(tiny_disk / "checkpoints").step == 2


def test_an_earlier_spelling_of_the_same_setting_is_no_change():
    # configs written before prompt_format's default became "" hold None for the same setting
    assert config_changes({"prompt_format": None, "lr": 1e-4}, {"prompt_format": "", "lr": 1e-4}) == {}
    assert config_changes({"prompt_format": None}, {"prompt_format": "chat"}) == {"prompt_format": [None, "chat"]}
    assert config_changes({"algorithm": {"prompt_format": None}}, {"algorithm": {"prompt_format": ""}}) != {}


def test_config_changes_are_named_key_by_key():
    saved = {"lr": 1e-4, "steps": 3, "out": "a", "algorithm": {"clip_ratio_high": 0.28, "gamma": 0.95}}
    current = {"lr": 0.5, "steps": 3, "out": "b", "algorithm": {"clip_ratio_high": 0.2, "gamma": 0.95}}
    assert config_changes(saved, current) == {"algorithm.clip_ratio_high": [0.28, 0.2], "lr": [1e-4, 0.5]}


def _run(values, *extra):
    from spear_train.cli.main import main

    config = Path(values["out"]) / f"run-{uuid.uuid4().hex[:6]}.yaml"
    config.write_text(yaml.safe_dump(values))
    return main(["run", "--config", str(config), *extra])


def test_resume_with_a_changed_config_is_refused_or_recorded(tiny_policy_dir, tmp_path, capsys):
    values = tiny_run(tiny_policy_dir, tmp_path, COIN_ID, "alfworld", "grpo", steps=1, eval_every=1,
                      eval_episodes=1, checkpoint_every=1, lr=1e-4)
    assert _run(values) == 0
    run_dir = tmp_path / "grpo-lettera-v0-seed0"
    config_before = (run_dir / "config.yaml").read_text()
    changed = {**values, "lr": 0.5, "steps": 2}
    assert _run(changed, "--resume") == 2
    err = capsys.readouterr().err
    assert "lr: 0.0001 -> 0.5" in err and "steps: 1 -> 2" in err and "--allow-config-change" in err
    assert (run_dir / "config.yaml").read_text() == config_before  # not overwritten
    with pytest.raises(ConfigChangedError, match="lr"):
        from spear_train.training.loop import run_seeds
        from spear_train.training.run_config import resolve_run_config

        run_seeds(resolve_run_config(changed), resume=True)
    assert _run(changed, "--resume", "--allow-config-change") == 0
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    change = [r for r in rows if r["kind"] == "config_change"]
    assert change == [{"kind": "config_change", "step": 1, "changes": {"lr": [0.0001, 0.5], "steps": [1, 2]}}]
    assert [r["step"] for r in rows if r["kind"] == "train"] == [1, 2]
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["lr"] == 0.5
    assert _run(changed, "--resume") == 0  # the recorded config is now the run's own


def test_a_failed_checkpoint_write_is_a_cli_error(tiny_policy_dir, tmp_path, capsys, monkeypatch):
    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(ckpt.torch, "save", no_space)
    values = tiny_run(tiny_policy_dir, tmp_path, COIN_ID, "alfworld", "grpo", steps=1, eval_every=1,
                      eval_episodes=1, checkpoint_every=1)
    assert _run(values) == 2
    err = capsys.readouterr().err
    assert "could not write checkpoint step_000001" in err and "No space left on device" in err
    assert "Traceback" not in err
    assert _no_temporary_folders(tmp_path / "grpo-lettera-v0-seed0" / "checkpoints")


def test_allow_config_change_needs_resume(tmp_path, capsys):
    from spear_train.cli.main import main

    assert main(["run", "--allow-config-change", "--out", str(tmp_path)]) == 2
    assert "--allow-config-change only applies with --resume" in capsys.readouterr().err
