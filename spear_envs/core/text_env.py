"""The shared contract of every spear-bench environment: a multi-turn text ``gymnasium.Env``.

Contract (checked for every registered env by ``tests/envs/test_contract.py``):

* ``observation_space`` and ``action_space`` are :class:`~spear_envs.core.spaces.UnicodeText`
  (a ``gymnasium.spaces.Text``).
* ``reset(seed=..., options=...) -> (observation: str, info: dict)``; the same seed gives the same
  transcript for the same actions. Each env declares the option keys it understands in
  :attr:`TextEnv.reset_options`; any other key is a ``ValueError`` naming it (never silently ignored).
* ``step(action: str) -> (observation, reward: float, terminated, truncated, info)``.
* ``info`` always carries the keys in :data:`INFO_KEYS`:

  ``task`` (str)
      The instruction the agent must accomplish.
  ``task_id`` (str)
      A stable identifier of the task instance (same seed and data give the same id).
  ``admissible_actions`` (list[str] | None)
      The actions the env accepts in the current state, or ``None`` where the env has no such notion.
  ``won`` (bool)
      The task has been accomplished.
  ``action_valid`` (bool)
      The last action was one the env accepted (``True`` after reset).

  Env-specific extras are documented by each env.
* Bad input never reaches an engine: a non-``str`` action raises ``TypeError``; an action longer than
  ``max_action_length`` raises :class:`ActionTooLongError` (a ``ValueError``); stepping before
  ``reset`` or after the episode ended raises :class:`ResetNeeded`.
* The env truncates by itself after ``max_steps`` steps (registration uses the same number as
  ``max_episode_steps``), so it behaves the same whether built by ``gym.make`` or directly.

Optional hooks (the defaults say "not offered"; ``tests/envs/test_contract.py`` checks what an env offers):

* :meth:`TextEnv.task_count` and :meth:`TextEnv.task_options`: envs with a finite, indexable task list
  say how many tasks the split holds and which reset options play task ``i``, so a trainer can sweep
  ``N`` distinct tasks (:class:`~spear_envs.core.task_by_seed.TaskBySeed`) instead of guessing from
  the env's attributes. Envs that draw from an effectively unbounded task space return ``None``.
* :meth:`TextEnv.expert_action`: the env's scripted expert's next action for the current state
  (``NotImplementedError`` where the env has none, or it is switched off).
* :meth:`TextEnv.step_can_overlap`: whether ``step(action)`` may run in a worker thread side by side with
  the steps of the env's other instances in the process (default ``False``: every step runs on the
  caller's thread, one after another). An env host uses it to overlap steps that mostly wait (MathTool's
  sandboxed tool calls); the results are the same as stepping one after another.

Subclasses implement :meth:`TextEnv._reset` and :meth:`TextEnv._step`, and may override
:meth:`TextEnv.data_fingerprint` and the optional hooks.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, ClassVar

import gymnasium as gym
from gymnasium.error import ResetNeeded

from spear_envs.core.spaces import UnicodeText

INFO_KEYS: tuple[str, ...] = ("task", "task_id", "admissible_actions", "won", "action_valid")

__all__ = ["INFO_KEYS", "TextEnv", "ActionTooLongError", "ResetNeeded", "StepResult"]

StepResult = tuple[str, float, bool, bool, dict[str, Any]]


class ActionTooLongError(ValueError):
    """An action exceeded the env's ``max_action_length``."""


class TextEnv(gym.Env[str, str]):
    """Base class for multi-turn text tasks (see the module docstring for the full contract).

    Args:
        max_steps: steps after which the episode is truncated.
        max_action_length: longest accepted action, in characters.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["ansi"]}
    #: Version of the env's behaviour (pages, rewards, generator). Bump on any change that alters
    #: transcripts; the leaderboard refuses to replay records made with another version.
    env_version: ClassVar[str] = "0"
    max_observation_length: ClassVar[int] = 1_000_000
    #: The keys ``reset(options=...)`` accepts; others are refused before the env sees them.
    reset_options: ClassVar[tuple[str, ...]] = ()

    def __init__(self, *, max_steps: int, max_action_length: int = 4096, render_mode: str | None = None):
        if not isinstance(max_steps, int) or max_steps < 1:
            raise ValueError(f"max_steps must be a positive int, got {max_steps!r}")
        if not isinstance(max_action_length, int) or max_action_length < 1:
            raise ValueError(f"max_action_length must be a positive int, got {max_action_length!r}")
        if render_mode not in (None, "ansi"):
            raise ValueError(f"render_mode must be None or 'ansi', got {render_mode!r}")
        self.max_steps = max_steps
        self.max_action_length = max_action_length
        self.render_mode = render_mode
        self.observation_space = UnicodeText(self.max_observation_length)
        self.action_space = UnicodeText(max_action_length)
        self._steps_taken = 0
        self._episode_over: bool | None = None  # None: never reset
        self._last_observation = ""

    # ----------------------------------------------------------------- subclass hooks
    @abstractmethod
    def _reset(self, seed: int | None, options: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """Start a new episode. ``self.np_random`` is already seeded. Returns (observation, info)."""

    @abstractmethod
    def _step(self, action: str) -> tuple[str, float, bool, dict[str, Any]]:
        """Apply a validated action. Returns (observation, reward, terminated, info)."""

    def data_fingerprint(self) -> dict[str, Any]:
        """What data the env runs on (generator version and split, or hashes of real files)."""
        return {}

    # ----------------------------------------------------------------- optional hooks
    def task_count(self) -> int | None:
        """How many distinct tasks :meth:`task_options` can select, or ``None`` (the default) when the env
        has no finite, indexable task list (its seeded draws are the tasks)."""
        return None

    def task_options(self, index: int) -> dict[str, Any]:
        """The ``reset`` options that play task ``index`` (``0 <= index < task_count()``); a ``ValueError``
        names a bad index. Envs whose :meth:`task_count` is ``None`` raise ``NotImplementedError``."""
        raise NotImplementedError(f"{type(self).__name__} has no indexable task list (task_count() is None)")

    def expert_action(self) -> str:
        """The scripted expert's next action in the current state (after ``reset``). The default raises
        ``NotImplementedError``: the env offers no expert."""
        raise NotImplementedError(f"{type(self).__name__} offers no scripted expert")

    def step_can_overlap(self, action: str) -> bool:
        """Whether ``step(action)`` may run in a worker thread while other instances of this env step in
        other threads (one instance is never stepped twice at once). ``True`` promises that the step
        touches no state shared between instances without a lock, needs no main-thread facility (signal
        alarms) and gives the same result in any order. The default, ``False``, keeps the step on the
        caller's thread."""
        return False

    def _check_task_index(self, index: int) -> int:
        """``index`` if it is an int in ``[0, task_count())``, else a ``ValueError`` naming it."""
        count = self.task_count()
        if isinstance(index, bool) or not isinstance(index, int) or count is None or not 0 <= index < count:
            raise ValueError(f"task index must be an int in [0, {count}), got {index!r}")
        return index

    # ----------------------------------------------------------------- gymnasium API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict]:
        if options is not None and not isinstance(options, dict):
            raise TypeError(f"options must be a dict or None, got {type(options).__name__}")
        unknown = sorted(set(options or {}) - set(self.reset_options), key=str)
        if unknown:
            raise ValueError(f"unknown reset options {unknown} for {type(self).__name__}; "
                             f"supported: {list(self.reset_options)}")
        super().reset(seed=seed)
        observation, info = self._reset(seed, dict(options or {}))
        info.setdefault("action_valid", True)
        self._check_info(info)
        self._steps_taken = 0
        self._episode_over = False
        self._last_observation = observation
        return observation, info

    def step(self, action: str) -> StepResult:
        if not isinstance(action, str):
            raise TypeError(f"action must be a str, got {type(action).__name__}")
        if self._episode_over is None:
            raise ResetNeeded("step() called before reset(): call reset() to start an episode")
        if self._episode_over:
            raise ResetNeeded("the episode has ended (terminated or truncated): call reset() first")
        if len(action) > self.max_action_length:
            raise ActionTooLongError(
                f"action is {len(action)} characters long; this env accepts at most "
                f"{self.max_action_length} (max_action_length)"
            )
        observation, reward, terminated, info = self._step(action)
        self._check_info(info)
        self._steps_taken += 1
        truncated = not terminated and self._steps_taken >= self.max_steps
        self._episode_over = terminated or truncated
        self._last_observation = observation
        return observation, float(reward), bool(terminated), bool(truncated), info

    def render(self) -> str | None:
        return self._last_observation if self.render_mode == "ansi" else None

    @property
    def steps_taken(self) -> int:
        """Steps taken in the current episode."""
        return self._steps_taken

    # ----------------------------------------------------------------- helpers
    @staticmethod
    def _check_info(info: dict[str, Any]) -> None:
        missing = [k for k in INFO_KEYS if k not in info]
        if missing:
            raise RuntimeError(f"env bug: info is missing contract keys {missing}")
