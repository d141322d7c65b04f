"""Replay verification: genuine results pass; every kind of forgery or mismatch is refused with a reason."""

from __future__ import annotations

import gymnasium as gym
import pytest

from spear_train.leaderboard.schema import Result
from spear_train.leaderboard.verify import Rejection, verify_result

from .conftest import TOY_ID, as_dict


def _verify(data: dict):
    return verify_result(Result.model_validate(data))


def _rejected(data: dict) -> Rejection:
    with pytest.raises(Rejection) as info:
        _verify(data)
    return info.value


def test_genuine_result_verifies_and_recomputes_metrics(toy_result):
    v = verify_result(toy_result)
    assert v.metrics == toy_result.metrics
    assert v.episodes == 6 and v.env_version == "test-1"
    assert v.content_hash == toy_result.content_hash()


def test_forged_reward_is_a_replay_mismatch(toy_result):
    data = as_dict(toy_result)
    step = data["runs"][0]["episodes"][1]["steps"][0]
    step["reward"] = 1.0 - step["reward"]
    rej = _rejected(data)
    assert rej.reason == "replay_mismatch"
    assert "run seed 0, reset seed 1" in rej.details[0] and "step 0 reward" in rej.details[0]


def test_tampered_action_log_is_a_replay_mismatch(toy_result):
    data = as_dict(toy_result)
    episode = next(ep for run in data["runs"] for ep in run["episodes"] if ep["final_info"]["won"])
    episode["steps"][-1]["action"] = "guess nothing"  # the winning guess replaced by an invalid one
    rej = _rejected(data)
    assert rej.reason == "replay_mismatch" and "reward" in rej.details[0]


def test_forged_score_with_consistent_episodes_is_a_metrics_mismatch(toy_result):
    data = as_dict(toy_result)
    data["metrics"]["success_mean"] = 1.0
    rej = _rejected(data)
    assert rej.reason == "metrics_mismatch"
    assert rej.details[0].startswith("success_mean: claimed 1.0")


def test_forged_won_flag_is_detected(toy_result):
    data = as_dict(toy_result)
    episode = next(ep for run in data["runs"] for ep in run["episodes"] if not ep["final_info"]["won"])
    episode["final_info"]["won"] = True
    rej = _rejected(data)
    assert rej.reason == "replay_mismatch" and "won" in rej.details[0]


def test_unknown_env_version_is_refused(toy_result):
    data = as_dict(toy_result)
    data["env"]["version"] = "test-0"
    for run in data["runs"]:
        for ep in run["episodes"]:
            ep["env_version"] = "test-0"
    rej = _rejected(data)
    assert rej.reason == "unknown_env_version" and "'test-0'" in rej.message and "'test-1'" in rej.message


def test_unknown_env_id_is_refused(toy_result):
    data = as_dict(toy_result)
    data["env"]["id"] = "spear-test/Nope-v0"
    for run in data["runs"]:
        for ep in run["episodes"]:
            ep["env_id"] = "spear-test/Nope-v0"
    rej = _rejected(data)
    assert rej.reason == "unknown_env" and "Nope" in rej.message


@pytest.mark.parametrize("kwargs, fragment", [
    ({"max_steps": 500}, "result: {'max_steps': 500}"),
    ({"max_steps": 5, "render_mode": "ansi"}, "'render_mode': 'ansi'"),
    ({"max_steps": 5.0}, "paper track (test-paper-1): {'max_steps': 5}"),
])
def test_non_benchmark_env_kwargs_are_refused(toy_result, kwargs, fragment):
    data = as_dict(toy_result)
    data["env"]["kwargs"] = kwargs
    for run in data["runs"]:
        for ep in run["episodes"]:
            ep["env_kwargs"] = kwargs
    rej = _rejected(data)
    assert rej.reason == "env_kwargs_not_allowed" and any(fragment in d for d in rej.details)


def test_data_fingerprint_mismatch_is_refused(toy_result):
    data = as_dict(toy_result)
    data["env"]["data_fingerprint"] = {"generator": "v9", "split": "test"}
    assert _rejected(data).reason == "data_fingerprint_mismatch"


def test_episode_longer_than_the_env_allows_is_refused(toy_result):
    data = as_dict(toy_result)
    episode = data["runs"][0]["episodes"][0]
    episode["steps"] = [{"action": "guess nothing", "reward": 0.0, "terminated": False, "truncated": False}] * 6
    episode["steps"].append({"action": "guess nothing", "reward": 0.0, "terminated": False, "truncated": True})
    rej = _rejected(data)
    assert rej.reason == "replay_mismatch" and "end flags" in rej.details[0]
    assert gym.spec(TOY_ID).max_episode_steps == 5
