"""Registers the toy GuessWord env (tests/envs/toy_env.py) and its two benchmark settings.

Imported by these tests and, through ``--env-module``, by server subprocesses they start. The toy
settings are the tests' own (small task lists); the real envs' settings are not touched.
"""

import gymnasium as gym

from spear_train.leaderboard.settings import BenchmarkSetting, register_setting

TOY_ID = "spear-test/GuessWord-v0"
TOY_MIN_EPISODES = 2

if TOY_ID not in gym.registry:
    gym.register(TOY_ID, entry_point="tests.envs.toy_env:GuessWordEnv", max_episode_steps=5, kwargs={"max_steps": 5})

register_setting(BenchmarkSetting(TOY_ID, "paper", "test-paper-1", {"max_steps": 5}, min_episodes=TOY_MIN_EPISODES))
register_setting(BenchmarkSetting(TOY_ID, "laptop", "test-laptop-1", {"max_steps": 3},
                                  min_episodes=TOY_MIN_EPISODES))
