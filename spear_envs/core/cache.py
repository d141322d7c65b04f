"""Where spear-bench keeps generated data (games, catalogs, indexes, converted models).

Root: ``$SPEAR_BENCH_CACHE`` if set, else ``$XDG_CACHE_HOME/spear-bench``, else ``~/.cache/spear-bench``.
Callers version their sub-folders (for example ``alfworld/games-v3``) so a generator change never
reads stale files.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """The spear-bench cache root (not created)."""
    if os.environ.get("SPEAR_BENCH_CACHE"):
        return Path(os.environ["SPEAR_BENCH_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "spear-bench"


def cache_dir(*parts: str) -> Path:
    """``cache_root()/parts...``, created if missing."""
    path = cache_root().joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
