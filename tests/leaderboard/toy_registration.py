"""Registers the toy GuessWord env (tests/envs/toy_env.py) under the id the env tests use.

Imported by these tests and, through ``--env-module``, by server subprocesses they start.
"""

import gymnasium as gym

TOY_ID = "spear-test/GuessWord-v0"

if TOY_ID not in gym.registry:
    gym.register(TOY_ID, entry_point="tests.envs.toy_env:GuessWordEnv", max_episode_steps=5, kwargs={"max_steps": 5})
