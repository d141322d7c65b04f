"""The facts a leaderboard row shows beside its numbers, read from the result's own config and hardware.

* training steps: ``config["steps"]`` for a training run (``spear-bench run``), the ``step_N`` of the
  evaluated checkpoint for ``spear-bench eval`` of a checkpoint, ``0`` for an evaluated model without one
  (the shipped policy with no RL), ``None`` for scripted agents (no training at all);
* device: the run's ``config["device"]`` when it names one, otherwise ``hardware.accelerator``
  (``cpu`` when there is none);
* wall time: ``wall_time_s`` (training and evaluation of that run).

:func:`submission_summary` is the database row of an accepted result.
"""

from __future__ import annotations

import re
from typing import Any

from spear_train.leaderboard.schema import Result


def training_steps(result: Result) -> int | None:
    config = result.config
    if result.preset in ("scripted", "eval-expert", "eval-random"):
        return None
    if result.preset.startswith("eval-"):
        match = re.search(r"step_(\d+)", str(config.get("checkpoint") or ""))
        return int(match.group(1)) if match else 0
    steps = config.get("steps")
    return steps if isinstance(steps, int) and not isinstance(steps, bool) else None


def device(result: Result) -> str:
    named = result.config.get("device")
    if isinstance(named, str) and named in ("cpu", "cuda"):
        return named
    accelerator = result.hardware.accelerator
    return "cpu" if accelerator in ("", "none") else f"cuda ({accelerator})"


def submission_summary(result: Result, verification: Any) -> dict[str, Any]:
    """The database columns of ``result`` once ``verification`` (:class:`~.verify.Verification`) passed."""
    m = verification.metrics
    graded = verification.graded_score or (None, None)
    return {
        "content_hash": verification.content_hash, "env_id": result.env.id, "env_version": result.env.version,
        "method": result.method, "model_name": result.model.name, "preset": result.preset,
        "success_mean": m.success_mean, "success_stderr": m.success_stderr,
        "score_mean": m.score_mean, "score_stderr": m.score_stderr,
        "n_seeds": len(result.seeds), "n_episodes": verification.episodes,
        "verified_env_version": verification.env_version,
        "track": verification.setting.track, "setting": verification.setting.key,
        "steps": training_steps(result), "device": device(result), "wall_time_s": result.wall_time_s,
        "graded_score_mean": graded[0], "graded_score_stderr": graded[1],
    }


def format_steps(steps: int | None) -> str:
    return "—" if steps is None else ("0 (no RL)" if steps == 0 else str(steps))


def format_wall_time(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
