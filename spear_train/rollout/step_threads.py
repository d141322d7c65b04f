"""How many of an env host's steps run at once: the thread count (:func:`step_threads`) and whether an env
allows a step to overlap others (:func:`can_overlap`, the env contract's optional
:meth:`~spear_envs.core.TextEnv.step_can_overlap`). Used by :class:`~spear_train.rollout.workers.EnvHost`;
docs/rollouts.md, 'Env workers'."""

from __future__ import annotations

import os

__all__ = ["DEFAULT_STEP_THREADS", "step_threads", "can_overlap"]

#: Steps of one host that may run at once (threads) when ``EnvSpec.step_threads`` and
#: ``$SPEAR_ENV_STEP_THREADS`` leave it open; a host never uses more threads than it has envs.
DEFAULT_STEP_THREADS = 8


def step_threads(spec, num_envs: int) -> int:
    """Threads a host of ``num_envs`` envs steps with: ``spec.step_threads``, else ``$SPEAR_ENV_STEP_THREADS``,
    else :data:`DEFAULT_STEP_THREADS`; at most ``num_envs``. A value below 1 is a ``ValueError`` naming it."""
    if spec.step_threads is not None:
        value, source = spec.step_threads, "EnvSpec.step_threads"
    else:
        raw = os.environ.get("SPEAR_ENV_STEP_THREADS", str(DEFAULT_STEP_THREADS))
        try:
            value, source = int(raw), "$SPEAR_ENV_STEP_THREADS"
        except ValueError:
            raise ValueError(f"$SPEAR_ENV_STEP_THREADS must be a positive int, got {raw!r}") from None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{source} must be a positive int (1 = one step after another), got {value!r}")
    return max(1, min(value, num_envs))


def can_overlap(env, action: str) -> bool:
    """The env's :meth:`~spear_envs.core.TextEnv.step_can_overlap` for ``action`` (``False`` for envs
    without the hook, or when it raises: such a step then runs, and fails, on the caller's thread)."""
    hook = getattr(env.unwrapped, "step_can_overlap", None)
    try:
        return bool(hook(action)) if hook is not None else False
    except Exception:
        return False
