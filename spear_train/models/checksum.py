"""``checksum.sha256`` over a model folder, and the error built-in models raise.

The listing is in ``sha256sum`` format (``<hex digest>  <relative path>``), one line per file in the
folder except the listing itself, so ``sha256sum -c checksum.sha256`` run inside the folder checks it too.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

CHECKSUM_FILE = "checksum.sha256"


class BuiltinModelError(RuntimeError):
    """A built-in model is unavailable (not shipped, download failed, checksum mismatch)."""


def write_checksum(folder: Path) -> None:
    """Write ``checksum.sha256`` (``sha256sum`` format) over every other file in ``folder``."""
    lines = [f"{sha256_file(p)}  {p.relative_to(folder).as_posix()}" for p in payload_files(folder)]
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
        if sha256_file(path) != digest:
            raise BuiltinModelError(f"{path} does not match its checksum in {listing}: the file was altered")


WEIGHT_SUFFIXES = (".safetensors", ".bin")  # transformers' weight formats, preferred first


def weights_sha256(folder: Path) -> str | None:
    """The SHA-256 that names a model folder's weights: of the weights file when there is one (so
    ``sha256sum model.safetensors`` checks it), else of the ``sha256sum``-format listing of the sharded
    weight files (``<digest>  <name>`` lines, sorted by name); ``None`` when the folder holds no weights.
    Only the first suffix of ``WEIGHT_SUFFIXES`` the folder has counts (a ``.bin`` copy beside
    ``.safetensors`` is not what transformers loads)."""
    for suffix in WEIGHT_SUFFIXES:
        files = sorted(p for p in Path(folder).glob(f"*{suffix}") if p.is_file())
        if len(files) == 1:
            return sha256_file(files[0])
        if files:
            listing = "".join(f"{sha256_file(p)}  {p.name}\n" for p in files)
            return hashlib.sha256(listing.encode()).hexdigest()
    return None


def payload_files(folder: Path) -> list[Path]:
    """Every file under ``folder`` except the checksum listing, sorted."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.name != CHECKSUM_FILE)


def sha256_file(path: Path) -> str:
    """The hex SHA-256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
