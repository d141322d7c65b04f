"""Checkpoints that survive a SIGKILL: atomic, verified, and never replacing good ones with bad ones.

Layout: ``<run>/checkpoints/step_000010/`` holding

* ``policy/``: the model (and tokenizer) as written by the policy's ``save_pretrained``, loadable by
  ``load_policy(path)`` and by ``spear-bench eval --checkpoint``;
* ``trainer_state.pt``: the model state dict, optimiser state, replay buffer, baseline history, RNG states
  and step, everything :func:`load_latest_checkpoint` needs for an exact resume;
* ``manifest.json`` (written last): step, and the SHA-256 of every other file.

A checkpoint is written under a temporary name and renamed into place once complete, so a killed
writer leaves at most an ignored ``.tmp-*`` folder; a write that fails (a full disk) removes its
temporary folder and raises :class:`CheckpointWriteError` naming the folder, its disk and the space
left. Loading walks the checkpoints newest first and skips any whose manifest is missing, whose files
do not match their hashes, or whose state file cannot be read (a warning names it). Old checkpoints
are deleted only after a newer one is complete.

The state file is read with ``torch.load(weights_only=True)``: a run folder from someone else cannot
run code on load. So the state holds only tensors and plain Python values (RNG states included, see
:func:`rng_state`).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import traceback
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from spear_train.models.checksum import sha256_file

MANIFEST = "manifest.json"
STATE_FILE = "trainer_state.pt"
POLICY_DIR = "policy"


class CorruptCheckpoint(RuntimeError):
    """A checkpoint folder failed verification (missing manifest, missing file or hash mismatch)."""


class CheckpointWriteError(RuntimeError):
    """A checkpoint could not be written (e.g. the disk is full); nothing partial is left behind."""


def rng_state() -> dict[str, Any]:
    """The state of every global RNG the trainer draws from (python, numpy, torch CPU and CUDA), as
    tensors and plain Python values only (loadable with ``weights_only=True``)."""
    version, internal, gauss = random.getstate()
    numpy_state = np.random.get_state(legacy=False)
    state = {
        "python": [version, torch.tensor(internal, dtype=torch.int64), gauss],
        "numpy": {"key": torch.from_numpy(numpy_state["state"]["key"].astype(np.int64)),
                  "pos": int(numpy_state["state"]["pos"]), "has_gauss": int(numpy_state["has_gauss"]),
                  "gauss": float(numpy_state["gauss"])},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` returned (or the tuples that checkpoints of earlier versions hold)."""
    version, internal, gauss = state["python"]
    internal = internal.tolist() if isinstance(internal, torch.Tensor) else internal
    random.setstate((version, tuple(int(x) for x in internal), gauss))
    n = state["numpy"]
    if isinstance(n, dict):
        n = ("MT19937", n["key"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"])
    np.random.set_state(n)
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _legacy_safe_globals() -> list:
    """What checkpoints written before RNG states became tensors need besides tensors: plain uint32
    numpy arrays (numpy's RNG key). Object arrays stay refused (their dtype is not listed)."""
    try:
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct
    return [_reconstruct, np.ndarray, np.dtype, type(np.dtype(np.uint32))]


def _fsync_tree(root: Path) -> None:
    for path in sorted(root.rglob("*")):
        if path.is_file():
            with open(path, "rb") as f:
                os.fsync(f.fileno())


def checkpoint_name(step: int) -> str:
    return f"step_{step:06d}"


def save_checkpoint(ckpt_root: str | Path, step: int, state: dict[str, Any],
                    save_policy: Callable[[Path], None] | None = None, keep: int = 2) -> Path:
    """Write checkpoint ``step`` atomically and prune to the newest ``keep`` complete ones.

    Args:
        ckpt_root: the run's ``checkpoints/`` folder (created if needed).
        state: picklable trainer state (tensors, dicts, numpy arrays); saved with ``torch.save``.
        save_policy: writes a loadable policy into the folder it is given (e.g. ``save_pretrained``).
    Returns the final checkpoint folder.
    """
    root = Path(ckpt_root)
    final = root / checkpoint_name(step)
    tmp = root / f".tmp-{checkpoint_name(step)}-{os.getpid()}"
    try:
        root.mkdir(parents=True, exist_ok=True)
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir()
        torch.save(state, tmp / STATE_FILE)
        if save_policy is not None:
            save_policy(tmp / POLICY_DIR)
        files = sorted(p for p in tmp.rglob("*") if p.is_file())
        manifest = {"step": step, "files": {str(p.relative_to(tmp)): sha256_file(p) for p in files}}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1))
        _fsync_tree(tmp)
    except Exception as exc:  # OSError, or a writer's own type (safetensors raises SafetensorError)
        _release_frames(exc)  # close the writers' open files so their space comes back
        shutil.rmtree(tmp, ignore_errors=True)
        raise CheckpointWriteError(write_failure_message(root, step, exc)) from exc
    if final.exists():  # a stale folder of the same step from a killed run: replace it
        trash = root / f".old-{checkpoint_name(step)}-{os.getpid()}"
        final.rename(trash)
        tmp.rename(final)
        shutil.rmtree(trash)
    else:
        tmp.rename(final)
    _prune(root, keep)
    return final


def _release_frames(exc: BaseException | None) -> None:
    """Drop the locals of every frame in ``exc``'s traceback and the exceptions chained to it (a kept
    traceback would keep the half-written files open, and their disk space taken)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        traceback.clear_frames(exc.__traceback__)
        exc = exc.__cause__ or exc.__context__


def write_failure_message(root: Path, step: int, exc: BaseException) -> str:
    """Why checkpoint ``step`` could not be written under ``root``: the folder, its disk, the space left."""
    place = root if root.exists() else next((p for p in root.parents if p.exists()), Path("/"))
    mount = place.resolve()
    while not os.path.ismount(mount):
        mount = mount.parent
    try:
        free = f"{shutil.disk_usage(place).free / 2**20:,.0f} MB free"
    except OSError:
        free = "free space unknown"
    return (f"could not write checkpoint {checkpoint_name(step)} to {root} (disk mounted at {mount}, {free}): "
            f"{type(exc).__name__}: {exc}. Free some space (or pass --out on another disk) and resume "
            "with --resume; no partial checkpoint was left")


def _prune(root: Path, keep: int) -> None:
    complete = [p for p in list_checkpoints(root) if (p / MANIFEST).exists()]
    for old in complete[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    for leftover in root.glob(".tmp-*"):
        if not leftover.name.endswith(f"-{os.getpid()}"):
            shutil.rmtree(leftover, ignore_errors=True)


def list_checkpoints(ckpt_root: str | Path) -> list[Path]:
    """Checkpoint folders (complete or not), oldest first."""
    root = Path(ckpt_root)
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and p.name.startswith("step_"))


def verify_checkpoint(path: str | Path) -> int:
    """Check a checkpoint against its manifest; return its step or raise :class:`CorruptCheckpoint`."""
    path = Path(path)
    try:
        manifest = json.loads((path / MANIFEST).read_text())
        files, step = manifest["files"], int(manifest["step"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CorruptCheckpoint(f"{path}: missing or unreadable {MANIFEST} ({exc})") from None
    if STATE_FILE not in files:
        raise CorruptCheckpoint(f"{path}: manifest lists no {STATE_FILE}")
    for name, digest in files.items():
        file = path / name
        if not file.is_file():
            raise CorruptCheckpoint(f"{path}: {name} is missing")
        if sha256_file(file) != digest:
            raise CorruptCheckpoint(f"{path}: {name} does not match its hash (truncated or modified)")
    return step


@dataclass
class LoadedCheckpoint:
    path: Path
    step: int
    state: dict[str, Any]


def load_policy_weights(model: torch.nn.Module, folder: str | Path) -> None:
    """Load the weights a checkpoint's ``policy/`` folder holds (``save_pretrained``'s safetensors, one
    file or several shards) into ``model``, exactly as saved. The trainer state does not keep a second
    copy of the weights (for SmolLM2 that copy was 540 MB per checkpoint). Keys ``save_pretrained`` leaves
    out because they are tied to a saved one (``lm_head.weight`` of tied embeddings) are accepted."""
    from safetensors.torch import load_file

    files = sorted(Path(folder).glob("*.safetensors"))
    if not files:
        raise CorruptCheckpoint(f"{folder} holds no safetensors weights")
    weights: dict[str, torch.Tensor] = {}
    for f in files:
        weights.update(load_file(str(f)))
    missing, unexpected = model.load_state_dict(weights, strict=False)
    current = model.state_dict()
    loaded_ptrs = {current[k].data_ptr() for k in weights if k in current}
    untied = [k for k in missing if current[k].data_ptr() not in loaded_ptrs]
    if unexpected or untied:
        raise CorruptCheckpoint(f"{folder}: weights do not fit the model (missing {untied[:3]}, "
                                f"unexpected {list(unexpected)[:3]})")


def load_latest_checkpoint(ckpt_root: str | Path, map_location: str = "cpu") -> LoadedCheckpoint | None:
    """The newest checkpoint that verifies and whose state loads (``weights_only=True``: tensors and
    plain values only), or ``None`` when there is none; the others are skipped with a warning naming
    them, so resume falls back to the previous checkpoint."""
    for path in reversed(list_checkpoints(ckpt_root)):
        try:
            step = verify_checkpoint(path)
            with torch.serialization.safe_globals(_legacy_safe_globals()):
                state = torch.load(path / STATE_FILE, map_location=map_location, weights_only=True)
            if not isinstance(state, dict) or state.get("step") != step:
                raise CorruptCheckpoint(f"{STATE_FILE} does not hold the trainer state of step {step}")
        except Exception as exc:  # unreadable for any reason (torch raises several types): fall back
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            warnings.warn(f"skipping checkpoint {path.name}: {STATE_FILE} or its manifest is unreadable "
                          f"({type(exc).__name__}: {reason})", stacklevel=2)
            continue
        return LoadedCheckpoint(path, step, state)
    return None
