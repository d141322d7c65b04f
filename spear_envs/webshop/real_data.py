"""Finding, checking and streaming WebShop data files (real upstream files or generated ones).

A data directory holds a product file (a JSON array, upstream ``items_shuffle*.json``), an attribute
file (``items_ins_v2*.json``) and optionally a human-instruction file (``items_human_ins*.json``).
:func:`find_data_files` picks them; :func:`verify_file` checks known upstream files against the sizes
and sha256 values pinned below (from the upstream release, as recorded in the project's data notes),
so a truncated or edited copy is reported instead of silently changing every score.
:func:`iter_json_array` streams a product file one record at a time (the full upstream file is 5.5 GB).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from spear_envs.webshop.catalog_generator import ATTRIBUTES_FILE, HUMAN_INS_FILE, PRODUCTS_FILE


@dataclass(frozen=True)
class PinnedFile:
    size: int
    sha256: str | None  # None: too large to hash on every load; the size is checked


#: Upstream files with known sizes and hashes.
PINNED_FILES: dict[str, PinnedFile] = {
    "items_shuffle_1000.json": PinnedFile(4_467_013, "30a4765c3a327af72d9a9a95a6b2486d516f0fa1d3ecd83681901ce82a21b269"),
    "items_ins_v2_1000.json": PinnedFile(147_099, "f88a36314a397b53b3d9c3fa5878e5f7b26d35019a51ec83fbedeca61a948f6f"),
    "items_human_ins.json": PinnedFile(5_137_548, "cf78667548a71786e1d9049c24b802e48e1084ad4bb021cae56ce1f6d96954a3"),
    "items_shuffle.json": PinnedFile(5_479_720_229, None),
    "items_ins_v2.json": PinnedFile(186_295_270, None),
}

#: (products, attributes) file name pairs, in the order they are looked for.
FILE_SETS = (
    ("items_shuffle_1000.json", "items_ins_v2_1000.json"),
    ("items_shuffle.json", "items_ins_v2.json"),
    (PRODUCTS_FILE, ATTRIBUTES_FILE),
)
HUMAN_FILES = ("items_human_ins.json", HUMAN_INS_FILE)


class DataFileError(ValueError):
    """A data file is missing, malformed, or differs from its pinned size/hash."""


@dataclass(frozen=True)
class DataFiles:
    products: Path
    attributes: Path
    human: Path | None


def find_data_files(data_dir: str | os.PathLike) -> DataFiles:
    """The product/attribute(/human) files in ``data_dir``; ``DataFileError`` says what is missing."""
    root = Path(data_dir).expanduser()
    if not root.is_dir():
        raise DataFileError(f"WebShop data_dir {str(root)!r} is not a directory")
    for prod, attr in FILE_SETS:
        if (root / prod).is_file():
            if not (root / attr).is_file():
                raise DataFileError(f"{root} has {prod} but not its attribute file {attr} (both are needed)")
            human = next((root / h for h in HUMAN_FILES if (root / h).is_file()), None)
            return DataFiles(root / prod, root / attr, human)
    expected = ", ".join(f"{p} + {a}" for p, a in FILE_SETS)
    present = sorted(p.name for p in root.iterdir())[:10]
    raise DataFileError(f"no WebShop product file in {root} (expected one of: {expected}); found {present}")


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def verify_file(path: Path) -> None:
    """Check a known upstream file against its pinned size (and sha256). Unknown names pass.

    Raises ``DataFileError`` naming the file, what was expected and what was found.
    """
    pin = PINNED_FILES.get(path.name)
    if pin is None:
        return
    size = path.stat().st_size
    if size != pin.size:
        raise DataFileError(
            f"{path} is {size:,} bytes but the upstream {path.name} is {pin.size:,} bytes: the copy is truncated "
            "or modified (pass verify_data=False to use it anyway; scores will not be comparable)"
        )
    if pin.sha256 is not None:
        digest = sha256_of(path)
        if digest != pin.sha256:
            raise DataFileError(
                f"{path} has sha256 {digest} but the upstream {path.name} has {pin.sha256}: the copy is modified "
                "(pass verify_data=False to use it anyway; scores will not be comparable)"
            )


def file_fingerprint(path: Path) -> str:
    """sha256 for files up to 256 MB, else name+size+mtime (hashing 5.5 GB on every load is too slow)."""
    st = path.stat()
    if st.st_size <= 256 << 20:
        return sha256_of(path)
    return f"{path.name}:{st.st_size}:{int(st.st_mtime)}"


def iter_json_array(path: Path, chunk_size: int = 1 << 20) -> Iterator[dict]:
    """Yield the elements of a top-level JSON array one at a time, reading ``chunk_size`` bytes at once.

    Raises ``DataFileError`` naming the file when it is not UTF-8 JSON holding an array of objects."""
    try:
        yield from _array_elements(path, chunk_size)
    except UnicodeDecodeError as exc:
        raise DataFileError(_not_utf8_message(path, exc)) from None


def _not_utf8_message(path: Path, exc: UnicodeDecodeError) -> str:
    bad = exc.object[exc.start:exc.end]
    return f"{path} is not UTF-8 text ({exc.reason}: bytes {bytes(bad)!r}); WebShop data files are UTF-8 JSON"


def _array_elements(path: Path, chunk_size: int) -> Iterator[dict]:
    decoder = json.JSONDecoder()
    with open(path, encoding="utf-8") as f:
        buf = f.read(chunk_size)
        pos = _skip_ws(buf, 0)
        if pos >= len(buf) or buf[pos] != "[":
            raise DataFileError(f"{path} is not a JSON array (first character {buf[pos:pos + 1]!r})")
        pos += 1
        index = 0
        while True:
            pos = _skip_ws(buf, pos)
            while pos >= len(buf) - 1:
                more = f.read(chunk_size)
                if not more:
                    break
                buf, pos = buf[pos:] + more, 0
                pos = _skip_ws(buf, pos)
            if pos < len(buf) and buf[pos] == "]":
                return
            if pos < len(buf) and buf[pos] == "," and index:
                pos = _skip_ws(buf, pos + 1)
            while True:
                try:
                    item, end = decoder.raw_decode(buf, pos)
                    break
                except json.JSONDecodeError as exc:
                    more = f.read(chunk_size)
                    if not more:
                        raise DataFileError(f"{path}: malformed JSON in element {index}: {exc.msg}") from None
                    buf, pos = buf[pos:] + more, 0
            if not isinstance(item, dict):
                raise DataFileError(f"{path}: element {index} is a {type(item).__name__}, expected an object")
            yield item
            index += 1
            pos = end


def _skip_ws(buf: str, pos: int) -> int:
    while pos < len(buf) and buf[pos] in " \t\r\n":
        pos += 1
    return pos


def load_json_object(path: Path) -> dict:
    """Load a JSON object file (attribute / human-instruction files); ``DataFileError`` if it is not one."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except json.JSONDecodeError as exc:
        raise DataFileError(f"{path} is not valid JSON: {exc}") from None
    except UnicodeDecodeError as exc:
        raise DataFileError(_not_utf8_message(path, exc)) from None
    if not isinstance(data, dict):
        raise DataFileError(f"{path} must hold a JSON object keyed by ASIN, got a {type(data).__name__}")
    return data
