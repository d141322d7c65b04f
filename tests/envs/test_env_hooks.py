"""The optional env hooks the trainer asks (task by index, expert action) on the three real envs:
``TaskBySeed`` sweeps distinct tasks, and each env's own expert wins its training tasks."""

from __future__ import annotations

import gymnasium as gym
import pytest

import spear_envs  # noqa: F401
from spear_envs.core import TaskBySeed, task_option
from spear_train.task_splits import split_env_kwargs

EXPERT_ON = {"spear/ALFWorld-v0": {"expert": "handcoded"}}
FAMILIES = {"spear/ALFWorld-v0": "alfworld", "spear/WebShop-v0": "webshop", "spear/MathTool-v0": "math"}


def _laptop_env(env_id: str, held_out: bool = False, **extra) -> gym.Env:
    kwargs = split_env_kwargs("laptop", FAMILIES[env_id], held_out)
    if env_id == "spear/ALFWorld-v0":
        kwargs["num_games"] = 6  # keep game generation small
    return gym.make(env_id, **kwargs, **extra)


@pytest.mark.parametrize("env_id", ["spear/ALFWorld-v0", "spear/WebShop-v0"])
def test_task_by_seed_plays_task_seed_mod_n(env_id):
    env = TaskBySeed(_laptop_env(env_id, held_out=True))
    try:
        n = env.unwrapped.task_count()
        ids = [env.reset(seed=s)[1]["task_id"] for s in range(4)]
        assert len(set(ids)) == 4  # consecutive seeds: distinct tasks (WebShop: distinct products too)
        assert env.reset(seed=n + 2)[1]["task_id"] == ids[2]
        assert task_option(env, 2) == env.unwrapped.task_options(2)
        _, info = env.reset(seed=2, options=env.unwrapped.task_options(3))  # the caller's options win
        assert info["task_id"] == ids[3]
    finally:
        env.close()


def test_task_by_seed_leaves_envs_without_a_task_list_alone():
    from tests.envs.toy_env import GuessWordEnv

    env = TaskBySeed(GuessWordEnv())
    try:
        assert env.unwrapped.task_count() is None and task_option(env, 5) == {}
        assert env.reset(seed=5)[0] == GuessWordEnv().reset(seed=5)[0]
    finally:
        env.close()


def test_math_task_by_seed_plays_distinct_problems():
    """The generator repeats small templates (reset seeds 0-99 drew 69 distinct level-1 eval problems); the
    task list skips repeats, so a 100-seed sweep plays 100 different problems, each the first appearance."""
    from spear_envs.math_tool.problem_generator import generate_problem

    env = TaskBySeed(_laptop_env("spear/MathTool-v0", held_out=True))
    raw = gym.make("spear/MathTool-v0", **split_env_kwargs("laptop", "math", True))
    try:
        inner = env.unwrapped
        assert len({raw.reset(seed=s)[0] for s in range(100)}) < 100  # the seeded draw repeats problems
        prompts = [env.reset(seed=s)[0] for s in range(100)]
        assert len(set(prompts)) == 100
        indices = [inner.task_options(i)["index"] for i in range(100)]
        assert indices == sorted(indices) and indices[0] == 0
        statements = [generate_problem(j, "eval", difficulty=1).problem for j in range(indices[-1] + 1)]
        firsts = [j for j, text in enumerate(statements) if text not in statements[:j]]
        assert firsts == indices  # task i: where the i-th new statement first appears
        assert env.reset(seed=inner.task_count() + 3)[0] == prompts[3]
        with pytest.raises(ValueError, match="task index"):
            inner.task_options(inner.task_count())
    finally:
        env.close()
        raw.close()


@pytest.mark.parametrize("env_id", sorted(FAMILIES))
def test_the_envs_own_expert_wins_training_tasks(env_id):
    env = TaskBySeed(_laptop_env(env_id, **EXPERT_ON.get(env_id, {})))
    won = 0
    try:
        for seed in range(3):
            _, info = env.reset(seed=seed)
            done = info["won"]
            while not done:
                _, _, terminated, truncated, info = env.step(env.unwrapped.expert_action())
                done = terminated or truncated
            won += info["won"]
    finally:
        env.close()
    assert won == 3


def test_alfworld_without_its_expert_says_how_to_switch_it_on():
    env = _laptop_env("spear/ALFWorld-v0")
    try:
        env.reset(seed=0)
        with pytest.raises(NotImplementedError, match="expert='handcoded'"):
            env.unwrapped.expert_action()
    finally:
        env.close()
