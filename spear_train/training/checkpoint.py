"""Checkpoints that survive a SIGKILL: atomic, verified, and never replacing good ones with bad ones.

Layout: ``<run>/checkpoints/step_000010/`` holding

* ``policy/``: the model (and tokenizer) as written by the policy's ``save_pretrained``, loadable by
  ``load_policy(path)`` and by ``spear-bench eval --checkpoint``;
* ``trainer_state.pt``: the model state dict, optimiser state, replay buffer, baseline history, RNG states
  and step, everything :func:`load_latest_checkpoint` needs for an exact resume;
* ``manifest.json`` (written last): step, and the SHA-256 of every other file.

A checkpoint is written under a temporary name and renamed into place once complete, so a killed
writer leaves at most an ignored ``.tmp-*`` folder. Loading walks the checkpoints newest first and
skips any whose manifest is missing or whose files do not match their hashes (a warning names it).
Old checkpoints are deleted only after a newer one is complete.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

MANIFEST = "manifest.json"
STATE_FILE = "trainer_state.pt"
POLICY_DIR = "policy"


class CorruptCheckpoint(RuntimeError):
    """A checkpoint folder failed verification (missing manifest, missing file or hash mismatch)."""


def rng_state() -> dict[str, Any]:
    """The state of every global RNG the trainer draws from (python, numpy, torch CPU and CUDA)."""
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` returned."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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
    root.mkdir(parents=True, exist_ok=True)
    final = root / checkpoint_name(step)
    tmp = root / f".tmp-{checkpoint_name(step)}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    torch.save(state, tmp / STATE_FILE)
    if save_policy is not None:
        save_policy(tmp / POLICY_DIR)
    files = sorted(p for p in tmp.rglob("*") if p.is_file())
    manifest = {"step": step, "files": {str(p.relative_to(tmp)): _sha256(p) for p in files}}
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1))
    _fsync_tree(tmp)
    if final.exists():  # a stale folder of the same step from a killed run: replace it
        trash = root / f".old-{checkpoint_name(step)}-{os.getpid()}"
        final.rename(trash)
        tmp.rename(final)
        shutil.rmtree(trash)
    else:
        tmp.rename(final)
    _prune(root, keep)
    return final


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
        if _sha256(file) != digest:
            raise CorruptCheckpoint(f"{path}: {name} does not match its hash (truncated or modified)")
    return step


@dataclass
class LoadedCheckpoint:
    path: Path
    step: int
    state: dict[str, Any]


def load_latest_checkpoint(ckpt_root: str | Path, map_location: str = "cpu") -> LoadedCheckpoint | None:
    """The newest checkpoint that verifies, or ``None`` when there is none; corrupt ones are skipped
    with a warning naming them."""
    for path in reversed(list_checkpoints(ckpt_root)):
        try:
            step = verify_checkpoint(path)
            state = torch.load(path / STATE_FILE, map_location=map_location, weights_only=False)
        except (CorruptCheckpoint, RuntimeError, EOFError, OSError) as exc:
            warnings.warn(f"skipping checkpoint {path.name}: {exc}", stacklevel=2)
            continue
        return LoadedCheckpoint(path, step, state)
    return None
