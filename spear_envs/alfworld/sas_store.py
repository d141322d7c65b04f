"""On-disk store of each ALFWorld game's two PDDL->SAS translations, shared by every process.

A reset of a game new to a process spends ~80% of its ~0.45 s CPU in Fast Downward's translator, run twice
(the plain translation the engine steps with and the optimised one its replanner uses). The result depends
only on the game's PDDL domain and problem texts and on the translator, so it is computed once per machine:
the first process to meet a game writes ``<cache>/alfworld/sas-v<SAS_STORE_VERSION>/<kk>/<key>.json.gz``
and every later process (env workers, evaluations, leaderboard replays, later runs) reads it in ~2 ms.

* **Key**: SHA-256 of this store's version, the ``fast_downward`` package version and the two PDDL texts,
  so a changed game, generator or translator never reads a stale entry.
* **What is kept**: the two SAS texts only (gzip'd JSON, ~55 KB a game). The translator's parsed task
  (its other output) is rebuilt by parsing and normalising the PDDL (~4 ms); that object is the same one
  the translation returns (``tests/envs/alfworld/test_sas_store.py`` compares them by pickle).
* **Failure is a miss, never an error**: a missing, truncated, corrupt or foreign file is ignored and
  translated again (and rewritten); a cache folder that cannot be written (read-only home, full disk) is
  skipped with one warning. Writes go to a temporary file renamed into place, so concurrent processes
  never read half a file.
* **Trust**: the files hold text the C planner parses, read from the user's own cache folder. Whoever can
  write there can already change the installed code; nothing here is read from a submission or the network.

Translations are deterministic (the same bytes in processes with different hash seeds), so an episode
played from a stored translation is the episode a fresh translation gives: the game-cache tests play both.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
import os
import tempfile
import warnings
import zlib
from pathlib import Path

SAS_STORE_VERSION = "1"
_MAGIC = "begin_version"  # every SAS text starts with its version section

_enabled = True
_warned = False


def set_enabled(enabled: bool) -> None:
    """Switch the store on or off for this process (off: every new game is translated, nothing is written)."""
    global _enabled
    if not isinstance(enabled, bool):
        raise ValueError(f"sas_store_enabled must be True or False, got {enabled!r}")
    _enabled = enabled


@functools.cache
def _translator_version() -> str:
    try:
        from importlib.metadata import version

        return version("fast_downward_textworld")
    except Exception:  # noqa: BLE001 - an unknown version still keys consistently within one install
        import fast_downward

        return getattr(fast_downward, "__version__", "unknown")


def entry_key(domain: str, problem: str) -> str:
    """The hex key of a (domain, problem) pair's entry."""
    h = hashlib.sha256()
    for part in (SAS_STORE_VERSION, _translator_version(), domain, problem):
        data = part.encode("utf-8")
        h.update(len(data).to_bytes(8, "big"))
        h.update(data)
    return h.hexdigest()


def store_dir() -> Path:
    """The store's folder (under the spear-bench cache root, ``$SPEAR_BENCH_CACHE`` if set); not created."""
    from spear_envs.core.cache import cache_root

    return cache_root() / "alfworld" / f"sas-v{SAS_STORE_VERSION}"


def entry_path(domain: str, problem: str) -> Path:
    key = entry_key(domain, problem)
    return store_dir() / key[:2] / f"{key}.json.gz"


def load(domain: str, problem: str) -> tuple[str, str] | None:
    """``(sas, sas_replan)`` stored for this game, or None (store off, no entry, or an unreadable one)."""
    if not _enabled:
        return None
    path = entry_path(domain, problem)
    try:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            entry = json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, EOFError, zlib.error, ValueError, UnicodeDecodeError):
        return None  # truncated or corrupt: translate again, save() replaces it
    if not isinstance(entry, dict) or entry.get("key") != path.name.split(".")[0]:
        return None
    sas, sas_replan = entry.get("sas"), entry.get("sas_replan")
    if not (isinstance(sas, str) and isinstance(sas_replan, str)
            and sas.startswith(_MAGIC) and sas_replan.startswith(_MAGIC)):
        return None
    return sas, sas_replan


def save(domain: str, problem: str, sas: str, sas_replan: str) -> bool:
    """Store a game's two translations; True when written. An unwritable folder warns once and returns False."""
    global _warned
    if not _enabled:
        return False
    path = entry_path(domain, problem)
    entry = {"key": path.name.split(".")[0], "sas": sas, "sas_replan": sas_replan}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json.gz")
        try:
            with os.fdopen(fd, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6, mtime=0) as f:
                f.write(json.dumps(entry).encode("utf-8"))
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        if not _warned:
            _warned = True
            warnings.warn(f"ALFWorld SAS store: cannot write {path.parent} ({exc}); games will be translated "
                          "in every process", RuntimeWarning, stacklevel=2)
        return False
    return True
