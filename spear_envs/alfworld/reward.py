"""The ALFWorld reward (docs/rollouts.md, 'Env rewards'): ``win_reward`` on the step that wins, 0 otherwise.

verl-agent uses 10 (``10 * won`` per step, and the episode ends on a win). The 0.1 invalid-format penalty
is applied by the trainer, not here (docs/algorithms.md,
'Design choices': format validity vs admissibility).
"""

from __future__ import annotations

DEFAULT_WIN_REWARD = 10.0


def alfworld_reward(won: bool, win_reward: float = DEFAULT_WIN_REWARD) -> float:
    """Reward for one step: ``win_reward`` if this step reached the goal, else 0.0."""
    return float(win_reward) if won else 0.0


def check_win_reward(win_reward: float) -> float:
    """Validate a configured win reward (a finite, non-negative number)."""
    if isinstance(win_reward, bool) or not isinstance(win_reward, (int, float)):
        raise TypeError(f"win_reward must be a number, got {type(win_reward).__name__}")
    if not (0.0 <= float(win_reward) < float("inf")):
        raise ValueError(f"win_reward must be finite and >= 0, got {win_reward!r}")
    return float(win_reward)
