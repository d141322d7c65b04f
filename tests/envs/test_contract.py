"""The env contract, applied to every registered spear env (and a toy env that tests the machinery).

A new env registered in ``spear_envs`` is covered automatically: the parametrisation reads the registry.
"""

from __future__ import annotations

import json
import pickle

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env

import spear_envs
from spear_envs.core import INFO_KEYS, ActionTooLongError, EpisodeRecord, EpisodeRecorder, ResetNeeded, replay
from spear_envs.core.spaces import UnicodeText

from .toy_env import GuessWordEnv

TOY_ID = "spear-test/GuessWord-v0"
if TOY_ID not in gym.registry:
    gym.register(TOY_ID, entry_point=GuessWordEnv, max_episode_steps=5, kwargs={"max_steps": 5})

ENV_IDS = sorted(spear_envs.SPEAR_ENVS) + [TOY_ID]


def _policy_action(info: dict, k: int) -> str:
    """A deterministic action: cycles through admissible actions, or a fixed phrase."""
    actions = info.get("admissible_actions") or []
    return actions[k % len(actions)] if actions else f"look {k}"


def _transcript(env: gym.Env, seed: int, n_steps: int = 4) -> list:
    obs, info = env.reset(seed=seed)
    out: list = [obs, info["task"], info["task_id"]]
    for k in range(n_steps):
        obs, reward, term, trunc, info = env.step(_policy_action(info, k))
        out.append((obs, reward, term, trunc, info["won"], info["action_valid"]))
        if term or trunc:
            break
    return out


@pytest.fixture(params=ENV_IDS)
def env_id(request) -> str:
    return request.param


@pytest.fixture
def env(env_id):
    e = gym.make(env_id)
    yield e
    e.close()


def test_check_env_passes(env):
    check_env(env.unwrapped, skip_render_check=True)


def test_spaces_are_text(env):
    assert isinstance(env.observation_space, gym.spaces.Text)
    assert isinstance(env.action_space, UnicodeText)


def test_reset_and_step_types_and_info_keys(env):
    obs, info = env.reset(seed=3)
    assert isinstance(obs, str) and obs
    assert set(INFO_KEYS) <= set(info)
    assert isinstance(info["task"], str) and info["task"]
    assert isinstance(info["task_id"], str) and info["task_id"]
    assert info["admissible_actions"] is None or all(isinstance(a, str) for a in info["admissible_actions"])
    obs, reward, term, trunc, info = env.step(_policy_action(info, 0))
    assert isinstance(obs, str)
    assert isinstance(reward, float)
    assert isinstance(term, bool) and isinstance(trunc, bool)
    assert set(INFO_KEYS) <= set(info)
    assert isinstance(info["won"], bool) and isinstance(info["action_valid"], bool)


def test_same_seed_same_transcript(env_id):
    a, b = gym.make(env_id), gym.make(env_id)
    assert _transcript(a, seed=11) == _transcript(b, seed=11)
    assert _transcript(a, seed=11) == _transcript(a, seed=11)


def test_pickle_roundtrip_fresh_and_mid_episode(env_id):
    env = gym.make(env_id)
    copy = pickle.loads(pickle.dumps(env))
    assert _transcript(copy, seed=5) == _transcript(env, seed=5)
    env.reset(seed=6)
    mid = pickle.loads(pickle.dumps(env))
    assert _transcript(mid, seed=6) == _transcript(env, seed=6)


def test_non_string_action_raises_type_error(env):
    env.reset(seed=0)
    with pytest.raises(TypeError, match="int"):
        env.step(42)
    with pytest.raises(TypeError, match="NoneType"):
        env.step(None)


def test_too_long_action_is_rejected_with_message(env):
    env.reset(seed=0)
    limit = env.unwrapped.max_action_length
    with pytest.raises(ActionTooLongError, match=str(limit)):
        env.step("x" * (limit + 1))
    env.step(_policy_action({}, 0))  # the env still works afterwards


@pytest.mark.parametrize("options", [{"bogus": 1}, {"game_index": 3, "goal_index": 3, "index": 3}])
def test_unknown_reset_options_are_refused(env, options):
    supported = set(env.unwrapped.reset_options)
    unknown = sorted(set(options) - supported)
    with pytest.raises(ValueError, match="unknown reset options") as excinfo:
        env.reset(seed=0, options=options)
    assert str(unknown) in str(excinfo.value)  # named, not a random task played instead
    obs, _ = env.reset(seed=0)  # the env still works
    assert isinstance(obs, str)


def test_step_before_reset_raises(env_id):
    env = gym.make(env_id, disable_env_checker=True).unwrapped
    with pytest.raises(ResetNeeded, match="reset"):
        env.step("look")


def test_step_after_episode_end_raises(env_id):
    env = gym.make(env_id, max_steps=2).unwrapped
    _, info = env.reset(seed=1)
    for k in range(2):
        _, _, term, trunc, info = env.step(_policy_action(info, k))
        if term or trunc:
            break
    assert term or trunc
    with pytest.raises(ResetNeeded, match="ended"):
        env.step("look")


def test_recorder_replay_reproduces_rewards_and_roundtrips_json(env_id):
    env = EpisodeRecorder(gym.make(env_id, max_steps=3), seed=0)
    for _ in range(2):
        _, info = env.reset()
        done, k = False, 0
        while not done:
            _, _, term, trunc, info = env.step(_policy_action(info, k))
            done, k = term or trunc, k + 1
    assert len(env.records) == 2
    for record in env.records:
        again = EpisodeRecord.from_dict(json.loads(record.to_json()))
        assert again == record
        assert replay(again).matches(record)


# ----------------------------------------------------------------------------- optional hooks
def test_task_hooks_select_distinct_tasks_or_say_none(env):
    inner = env.unwrapped
    count = inner.task_count()
    if count is None:  # no indexable task list: asking for a task by index is refused
        with pytest.raises(NotImplementedError):
            inner.task_options(0)
        return
    assert isinstance(count, int) and not isinstance(count, bool) and count >= 1
    ids = set()
    for index in range(min(count, 3)):
        options = inner.task_options(index)
        assert options == inner.task_options(index)  # stable
        _, info = env.reset(seed=1234, options=options)
        ids.add(info["task_id"])
    assert len(ids) == min(count, 3)  # different indices, different tasks, whatever the seed
    for bad in (-1, count, True, "0"):
        with pytest.raises(ValueError, match="task index"):
            inner.task_options(bad)


def test_expert_hook_gives_an_action_the_env_accepts_or_says_none(env):
    _, info = env.reset(seed=0)
    try:
        action = env.unwrapped.expert_action()
    except NotImplementedError:
        return  # the env offers no expert (or it is switched off): that is all the contract asks
    assert isinstance(action, str) and action
    assert env.unwrapped.expert_action() == action  # asking twice before a step: the same action
    _, _, _, _, info = env.step(action)
    assert info["action_valid"]
