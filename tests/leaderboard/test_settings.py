"""The registered benchmark settings stay what the trainer plays.

The laptop track must be exactly ``spear-bench run``'s laptop evaluation: its env kwargs, its
evaluation length and its task choice per reset seed. When the trainer's laptop defaults change, these
tests fail: register a new setting version in ``spear_train/leaderboard/settings.py`` (old rows then stop
verifying as that track, which is the point) and update the expected kwargs.
"""

from __future__ import annotations

import gymnasium as gym
import pytest

import spear_envs  # noqa: F401 - registers the envs
from spear_train.nesting import nesting_depth
from spear_train.leaderboard.settings import (BenchmarkSetting, canonical_options, get_setting, match_setting,
                                              register_setting, settings_for)
from spear_envs.core import task_option
from spear_train.training.rollout_runner import env_spec
from spear_train.training.run_config import resolve_run_config

ENVS = {"alfworld": "spear/ALFWorld-v0", "webshop": "spear/WebShop-v0", "math": "spear/MathTool-v0"}


@pytest.mark.parametrize("family", list(ENVS))
@pytest.mark.parametrize("scale", ["laptop", "paper"])
def test_each_track_is_the_evaluation_the_trainer_plays(family, scale):
    cfg = resolve_run_config({"algo": "spear", "env": family, "scale": scale})
    spec = env_spec(cfg, held_out=True)
    setting = get_setting(ENVS[family], scale)
    assert setting is not None
    assert match_setting(spec.env_id, spec.kwargs) == setting, (
        f"{scale} evaluation kwargs {spec.kwargs} are not the registered {setting.key} {dict(setting.env_kwargs)}: "
        "register a new setting version")
    assert cfg.eval_episodes >= setting.min_episodes
    assert spec.kwargs.get("split") not in setting.training_splits


@pytest.mark.parametrize("family", list(ENVS))
def test_canonical_options_are_the_trainers_task_choice(family):
    setting = get_setting(ENVS[family], "laptop")
    env = gym.make(setting.env_id, **setting.env_kwargs)
    try:
        for seed in range(setting.min_episodes):
            assert canonical_options(setting, env, seed) == task_option(env, seed)
    finally:
        env.close()


def test_every_env_has_a_paper_and_a_laptop_track():
    for env_id in ENVS.values():
        assert [s.track for s in settings_for(env_id)] == ["paper", "laptop"]


def test_settings_match_exact_kwargs_only():
    laptop = get_setting("spear/ALFWorld-v0", "laptop")
    kwargs = dict(laptop.env_kwargs)
    assert match_setting("spear/ALFWorld-v0", kwargs) == laptop
    assert match_setting("spear/ALFWorld-v0", {**kwargs, "num_games": 140.0}) is None  # a float is not the int
    assert match_setting("spear/ALFWorld-v0", {**kwargs, "extra": 1}) is None
    assert match_setting("spear/ALFWorld-v0", {k: v for k, v in kwargs.items() if k != "max_steps"}) is None


def test_registering_a_different_setting_for_a_taken_track_is_refused():
    paper = get_setting("spear/MathTool-v0", "paper")
    assert register_setting(paper) is paper  # the same one again: fine
    with pytest.raises(ValueError, match="already registered"):
        register_setting(BenchmarkSetting("spear/MathTool-v0", "paper", "paper-x", {"split": "eval"}, 1))
    with pytest.raises(ValueError, match="option_rule"):
        BenchmarkSetting("x", "paper", "1", {}, 1, option_rule="pick-the-easy-ones")


def test_nesting_depth():
    assert nesting_depth(1) == 0 and nesting_depth([]) == 1 and nesting_depth({"a": [1, {"b": {}}]}) == 4
    assert nesting_depth({"a": {"b": 1}, "c": [[[]]]}) == 4
    deep: object = []
    for _ in range(10_000):  # no recursion: deep input is measured, not a crash
        deep = [deep]
    assert nesting_depth(deep) == 10_001
    assert nesting_depth(deep, limit=32) == 33  # stops once past the limit
    assert nesting_depth([[1]], limit=2) == 2
