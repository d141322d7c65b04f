"""Live progress of a run: a tqdm bar (default), nothing (``quiet``), or one JSON line per event (``json``).

The bar shows step, mean episode reward, training success, tokens/s and tqdm's ETA. Eval results and
notes are printed above the bar in ``bar`` mode, as JSON lines in ``json`` mode, and dropped in ``quiet``
mode except for :meth:`Progress.summary`, which always prints (to stdout).
"""

from __future__ import annotations

import json
import sys
from typing import Any


class Progress:
    def __init__(self, mode: str, total_steps: int, start_step: int = 0, desc: str = "train"):
        if mode not in ("bar", "quiet", "json"):
            raise ValueError(f"progress mode must be bar, quiet or json, got {mode!r}")
        self.mode = mode
        self._bar = None
        if mode == "bar":
            from tqdm import tqdm

            self._bar = tqdm(total=total_steps, initial=start_step, desc=desc, unit="step", dynamic_ncols=True,
                             file=sys.stderr)

    def start_at(self, step: int) -> None:
        """Steps already done (a resumed run)."""
        if self._bar is not None:
            self._bar.n = step
            self._bar.refresh()

    def step(self, row: dict[str, Any]) -> None:
        """Report one finished training step (a metrics row)."""
        if self._bar is not None:
            self._bar.set_postfix(reward=f"{row['reward_mean']:.2f}", success=f"{row['success']:.2f}",
                                  tok_s=f"{row['tokens_per_s']:.0f}", refresh=False)
            self._bar.update(1)
        elif self.mode == "json":
            print(json.dumps({"event": "step", **row}), flush=True)

    def note(self, text: str, **fields: Any) -> None:
        """A message worth seeing (evaluation results, resume point)."""
        if self._bar is not None:
            self._bar.write(text, file=sys.stderr)
        elif self.mode == "json":
            print(json.dumps({"event": "note", "text": text, **fields}), flush=True)

    def summary(self, text: str) -> None:
        """Final lines a user must see in every mode."""
        if self.mode == "json":
            print(json.dumps({"event": "summary", "text": text}), flush=True)
        else:
            print(text, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


class EvalBar:
    """A tqdm bar over one evaluation's episodes (on stderr, removed when done), so an evaluation never
    sits silent; with ``desc=""`` every method does nothing.

    :meth:`watch` wraps the env pool the episodes play in: each env step that ends an episode (terminated,
    truncated or failed) moves the bar at once; :meth:`set_done` sets the exact count after each batch
    (episodes the turn limit ends are counted there)."""

    def __init__(self, total: int, desc: str = ""):
        self._bar = None
        if desc:
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=desc, unit="episode", dynamic_ncols=True, leave=False,
                             file=sys.stderr)

    def watch(self, pool):
        """``pool`` itself, or a proxy of it that counts finished episodes on the bar."""
        return pool if self._bar is None else _CountingPool(pool, self._bar)

    def set_done(self, episodes: int) -> None:
        if self._bar is not None:
            self._bar.n = episodes
            self._bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


class _CountingPool:
    """An env pool that passes everything through and counts the episodes its steps end."""

    def __init__(self, pool, bar):
        self._pool, self._bar = pool, bar

    def step(self, actions):
        outcomes = self._pool.step(actions)
        values = outcomes.values() if isinstance(outcomes, dict) else outcomes
        ended = sum(1 for o in values if o.terminated or o.truncated or o.error)
        if ended:
            self._bar.update(min(ended, self._bar.total - self._bar.n))
        return outcomes

    def __getattr__(self, name: str):
        return getattr(self._pool, name)
