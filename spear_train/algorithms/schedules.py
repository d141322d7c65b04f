"""SPEAR's progressive schedules: replay-loss warm-up c(t) and tool-call bonus decay κ(t).

Formulas: docs/algorithms.md, 'Replay warm-up c(t)' and 'Tool-call bonus κ(t)'.

``t`` is the global training step (starting at 1; ``t = 0`` is allowed and gives the start value).
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor

ToolBonusMode = Literal["none", "constant", "cosine"]
ToolBonusVariant = Literal["agent", "qwen2.5", "qwen3"]
TOOL_BONUS_MODES = ("none", "constant", "cosine")
TOOL_BONUS_VARIANTS = ("agent", "qwen2.5", "qwen3")


def _check_steps(t: int, total_steps: int) -> None:
    if t < 0:
        raise ValueError(f"step t must be >= 0, got {t}")
    if total_steps <= 0:
        raise ValueError(f"total_steps must be > 0, got {total_steps}")


def replay_loss_weight(t: int, total_steps: int, coef: float = 1.0) -> float:
    """Replay-loss cosine warm-up: ``c(t) = coef·(1 − cos(πt/T))/2`` for ``t ≤ T``, else ``coef``.

    ``c(0) = 0``, ``c(T/2) = coef/2``, ``c(T) = coef``.
    """
    _check_steps(t, total_steps)
    if t > total_steps:
        return float(coef)
    return float(coef) * (1.0 - math.cos(math.pi * t / total_steps)) / 2.0


def tool_bonus_decay(t: int, total_steps: int, mode: ToolBonusMode = "cosine") -> float:
    """Tool-bonus factor κ(t).

    * ``cosine``: ``(1 + cos(πt/T))/2`` for ``t ≤ T``, else 0 (``κ(0) = 1``, ``κ(T) = 0``);
    * ``constant``: 1;  ``none``: 0 (no bonus).
    """
    _check_steps(t, total_steps)
    if mode == "none":
        return 0.0
    if mode == "constant":
        return 1.0
    if mode != "cosine":
        raise ValueError(f"mode must be one of {TOOL_BONUS_MODES}, got {mode!r}")
    if t > total_steps:
        return 0.0
    return (1.0 + math.cos(math.pi * t / total_steps)) / 2.0


def _as_float(values: Tensor, dtype: torch.dtype | None) -> Tensor:
    return values.to(dtype or (values.dtype if values.is_floating_point() else torch.get_default_dtype()))


def agent_tool_bonus(num_steps: Tensor, kappa: float, dtype: torch.dtype | None = None) -> Tensor:
    """Agent-env tool bonus: ``b = max(0, min(1, 0.1·L)·κ)``, added to every sample of the trajectory.

    ``num_steps``: ``[N]`` episode lengths L(τ) (every action counts as a tool call). Returns float ``[N]``.
    """
    base = torch.clamp(0.1 * _as_float(num_steps, dtype), max=1.0)
    return torch.clamp(base * kappa, min=0.0)


def math_reward(
    correct: Tensor, num_tool_calls: Tensor, kappa: float, variant: ToolBonusVariant = "qwen2.5", dtype: torch.dtype | None = None
) -> Tensor:
    """Math score with the tool bonus, ``[N]`` bool × ``[N]`` int → float ``[N]``.

    ``base = min(0.1·n_tc, 1)``.

    * ``qwen2.5``: ``±1 + base·κ``;
    * ``qwen3``: wrong ``−1 + base·κ``; correct ``1 + 1[n_tc > 0]·κ``.
    """
    calls = _as_float(num_tool_calls, dtype)
    base = torch.clamp(0.1 * calls, max=1.0)
    sign = torch.where(correct.bool(), 1.0, -1.0).to(calls.dtype)
    if variant == "qwen2.5":
        return sign + base * kappa
    if variant == "qwen3":
        return torch.where(correct.bool(), 1.0 + (calls > 0).to(calls.dtype) * kappa, -1.0 + base * kappa)
    raise ValueError(f"variant must be 'qwen2.5' or 'qwen3', got {variant!r}")
