"""The registered benchmark settings: what a leaderboard row must have played, versioned in code.

A :class:`BenchmarkSetting` is one fixed task set of one env on one *track*:

* ``env_kwargs`` -- exactly the constructor kwargs every episode record carries (held-out split included);
* the evaluation episode list -- reset seeds ``0..N-1``, each played once, each with its *canonical* reset
  options (:func:`canonical_options`: ALFWorld game ``seed mod num_games``, WebShop goal
  ``perm[seed mod n]`` of a fixed permutation, none for MathTool), with ``N >= min_episodes``;
* ``version`` -- bumped whenever any of the above changes, so old and new rows are never ranked together.

Tracks per env: ``paper`` (the benchmark setting: registered turn limit, default data, held-out split; what
``spear-bench eval --scale paper`` plays) and ``laptop`` (exactly what ``spear-bench run``'s default
laptop evaluation plays: smaller ALFWorld scenes, shorter turn limits). The laptop settings mirror
``spear_train.training.scales.ENV_DEFAULTS`` and ``spear_train.task_splits.ENV_SPLITS`` at ``scale=laptop``;
``tests/leaderboard/test_settings.py`` fails when the two drift apart, and the fix is a new setting
version here. Other envs (tests, plugins) add settings with :func:`register_setting`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

TRACKS = ("paper", "laptop")

#: Rules that give a reset seed its canonical reset options (see :func:`canonical_options`).
OPTION_RULES = ("none", "game_index", "goal_index", "distinct_problem")


@dataclass(frozen=True)
class BenchmarkSetting:
    """One registered task set (see the module docstring)."""

    env_id: str
    track: str
    version: str
    env_kwargs: Mapping[str, Any]
    min_episodes: int
    option_rule: str = "none"
    training_splits: tuple[str, ...] = ("train",)
    #: env kwarg that sets the tool time-out (MathTool's ``timeout_s``); replay sets it to the budget's short
    #: one: a tool's output never changes a reward, so replay needs the calls, not their results.
    tool_timeout_kwarg: str | None = None
    #: ``final_info`` key holding a graded 0-1 score shown beside success (WebShop's ``score``).
    graded_score_key: str | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if self.option_rule not in OPTION_RULES:
            raise ValueError(f"option_rule must be one of {OPTION_RULES}, got {self.option_rule!r}")
        if self.min_episodes < 1:
            raise ValueError(f"min_episodes must be >= 1, got {self.min_episodes}")

    @property
    def key(self) -> str:
        """``<env id>:<track>:<version>``, the setting's identity in hashes and tables."""
        return f"{self.env_id}:{self.track}:{self.version}"


_SETTINGS: dict[tuple[str, str], BenchmarkSetting] = {}


def register_setting(setting: BenchmarkSetting) -> BenchmarkSetting:
    """Add ``setting`` (one per env and track; re-registering an equal one is a no-op)."""
    key = (setting.env_id, setting.track)
    existing = _SETTINGS.get(key)
    if existing is not None and existing != setting:
        raise ValueError(f"a different setting is already registered for {setting.env_id} track {setting.track!r}")
    _SETTINGS[key] = setting
    return setting


def settings_for(env_id: str) -> list[BenchmarkSetting]:
    """The settings of ``env_id``, paper track first."""
    found = [s for (e, _), s in _SETTINGS.items() if e == env_id]
    return sorted(found, key=lambda s: (TRACKS.index(s.track) if s.track in TRACKS else len(TRACKS), s.track))


def get_setting(env_id: str, track: str) -> BenchmarkSetting | None:
    return _SETTINGS.get((env_id, track))


def all_settings() -> list[BenchmarkSetting]:
    return [s for env_id in sorted({e for e, _ in _SETTINGS}) for s in settings_for(env_id)]


def match_setting(env_id: str, env_kwargs: Mapping[str, Any]) -> BenchmarkSetting | None:
    """The setting whose kwargs equal ``env_kwargs`` exactly (types included), or ``None``."""
    for setting in settings_for(env_id):
        if _same(setting.env_kwargs, env_kwargs):
            return setting
    return None


def _same(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return set(a) == set(b) and all(type(a[k]) is type(b[k]) and a[k] == b[k] for k in a)


def canonical_options(setting: BenchmarkSetting, env: Any, seed: int) -> dict[str, Any]:
    """The reset options the evaluation plays with reset seed ``seed`` (``env``: the built env).

    ``game_index``: ``{"game_index": seed mod num_games}``. ``goal_index``: ``{"goal_index": perm[seed mod n]}``
    with ``perm = default_rng(n).permutation(n)`` over the ``n`` goals of the env's split (consecutive goals
    are option variants of one product). ``distinct_problem``: ``{"index": j}`` with ``j`` the generator index of
    the ``seed mod GENERATED_TASKS``-th distinct problem of the split (MathTool: repeated statements skipped,
    :mod:`spear_envs.math_tool.task_list`). ``none``: ``{}``. The same rule as the trainer's evaluation
    (``spear_envs.core.task_option``, which asks the env's task hooks).
    """
    inner = getattr(env, "unwrapped", env)
    if setting.option_rule == "game_index":
        return {"game_index": seed % inner.num_games}
    if setting.option_rule == "goal_index":
        n = len(inner.catalog.goals(inner.goal_kind, inner.split))
        return {"goal_index": int(np.random.default_rng(n).permutation(n)[seed % n])}
    if setting.option_rule == "distinct_problem":
        from spear_envs.math_tool.task_list import GENERATED_TASKS, distinct_problem_index

        return {"index": distinct_problem_index(seed % GENERATED_TASKS, inner.split, inner.difficulty, inner.families)}
    return {}


def task_capacity(setting: BenchmarkSetting, env: Any) -> int | None:
    """How many distinct tasks the setting's split holds (``None``: unbounded), the largest allowed N."""
    inner = getattr(env, "unwrapped", env)
    if setting.option_rule == "game_index":
        return int(inner.num_games)
    if setting.option_rule == "goal_index":
        return len(inner.catalog.goals(inner.goal_kind, inner.split))
    if setting.option_rule == "distinct_problem":
        from spear_envs.math_tool.task_list import GENERATED_TASKS

        return GENERATED_TASKS
    return None


# ---------------------------------------------------------------------------- the registered settings
ALFWORLD, WEBSHOP, MATHTOOL = "spear/ALFWorld-v0", "spear/WebShop-v0", "spear/MathTool-v0"

for _setting in (
    BenchmarkSetting(ALFWORLD, "paper", "paper-1", {"split": "eval_in_distribution", "max_steps": 50},
                     min_episodes=100, option_rule="game_index",
                     description="registered env (50 turns, medium scenes), held-out games 0..N-1"),
    BenchmarkSetting(ALFWORLD, "laptop", "laptop-1",
                     {"scene_size": "small", "num_games": 140, "split": "eval_in_distribution", "max_steps": 30},
                     min_episodes=100, option_rule="game_index",
                     description="spear-bench run's laptop evaluation: small scenes, 30 turns, games 0..N-1"),
    BenchmarkSetting(WEBSHOP, "paper", "paper-1", {"split": "test", "max_steps": 15}, min_episodes=100,
                     option_rule="goal_index", graded_score_key="score",
                     description="registered env (15 turns), test goals perm[0..N-1]"),
    BenchmarkSetting(WEBSHOP, "laptop", "laptop-1", {"split": "eval", "max_steps": 10}, min_episodes=100,
                     option_rule="goal_index", graded_score_key="score",
                     description="spear-bench run's laptop evaluation: eval goals, 10 turns"),
    # version 2: task i is the i-th distinct problem (version 1 drew a problem per reset seed, with repeats:
    # 69 distinct in the laptop track's 100); the laptop track's tool calls stop after 5 s (30 s in version 1)
    BenchmarkSetting(MATHTOOL, "paper", "paper-2", {"split": "eval", "max_steps": 8}, min_episodes=60,
                     option_rule="distinct_problem", tool_timeout_kwarg="timeout_s",
                     description="registered env (8 turns), distinct eval problems 0..N-1"),
    BenchmarkSetting(MATHTOOL, "laptop", "laptop-2",
                     {"split": "eval", "difficulty": 1, "max_steps": 4, "timeout_s": 5.0},
                     min_episodes=100, option_rule="distinct_problem", tool_timeout_kwarg="timeout_s",
                     description="spear-bench run's laptop evaluation: distinct level-1 eval problems, 4 turns, "
                                 "5 s tool calls"),
):
    register_setting(_setting)
