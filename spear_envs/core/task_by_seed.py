"""One distinct task per reset seed, for envs whose task list is finite and indexable.

:func:`task_option` asks the env's optional contract hooks (:meth:`~spear_envs.core.text_env.TextEnv.task_count`,
:meth:`~spear_envs.core.text_env.TextEnv.task_options`) which reset options play task ``seed mod N``;
:class:`TaskBySeed` applies them on every seeded reset. Sweeping seeds ``0..N-1`` then plays ``N``
distinct tasks, where the env's own seeded draw would repeat tasks (ALFWorld: game ``seed mod N``;
WebShop: goal ``perm[seed mod N]``, see its ``task_options``; MathTool: the ``N``-th distinct problem,
see :mod:`spear_envs.math_tool.task_list`). Envs without an indexable task list get no option.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym


def task_option(env: gym.Env, seed: int) -> dict[str, Any]:
    """The reset options that play task ``seed mod task_count()`` of ``env``'s split; ``{}`` for envs
    without the hooks or whose ``task_count()`` is ``None``."""
    inner = env.unwrapped
    count = inner.task_count() if hasattr(inner, "task_count") else None
    if count is None:
        return {}
    return inner.task_options(seed % count)


class TaskBySeed(gym.Wrapper):
    """``reset(seed=s)`` plays task ``s mod N`` of the split (:func:`task_option`). The inner env receives
    the choice as a reset option, so an :class:`~spear_envs.core.recorder.EpisodeRecorder` inside this
    wrapper records it and its records replay without the wrapper. Options given by the caller win."""

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            options = {**task_option(self.env, seed), **(options or {})}
        return self.env.reset(seed=seed, options=options or None)
