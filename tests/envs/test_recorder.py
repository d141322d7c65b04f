"""Episode recorder and replay on the toy env: forged records are detected, bad records are refused."""

from __future__ import annotations

import gymnasium as gym
import pytest

from spear_envs.core import EpisodeRecord, EpisodeRecorder, replay

from .test_contract import TOY_ID


def _record_winning_episode() -> EpisodeRecord:
    env = EpisodeRecorder(gym.make(TOY_ID), seed=1)
    _, info = env.reset(seed=123)
    secret = info["task_id"].removeprefix("guess-")
    env.step("guess nothing")
    env.step(f"guess {secret}")
    return env.records[0]


def test_recorded_episode_has_seed_kwargs_and_steps():
    rec = _record_winning_episode()
    assert rec.seed == 123 and rec.env_id == TOY_ID
    assert rec.env_kwargs == {"max_steps": 5}
    assert rec.rewards == [0.0, 1.0] and rec.steps[-1].terminated
    assert rec.final_info["won"] is True
    assert rec.env_version == "test-1"


def test_forged_reward_is_detected():
    rec = _record_winning_episode()
    rec.steps[0].reward = 1.0
    assert not replay(rec).matches(rec)


def test_tampered_action_is_detected():
    rec = _record_winning_episode()
    rec.steps[1].action = "guess nothing"
    assert not replay(rec).matches(rec)


@pytest.mark.parametrize(
    "data, message",
    [
        ([], "JSON object"),
        ({"env_id": TOY_ID, "seed": 1}, "steps"),
        ({"env_id": TOY_ID, "seed": "1", "steps": []}, "seed"),
        ({"env_id": TOY_ID, "seed": 1, "steps": [{"action": 3, "reward": 0, "terminated": 0, "truncated": 0}]},
         r"steps\[0\].action"),
        ({"env_id": TOY_ID, "seed": 1, "steps": [{"action": "a", "reward": "1", "terminated": 0, "truncated": 0}]},
         r"steps\[0\].reward"),
        ({"format": 99, "env_id": TOY_ID, "seed": 1, "steps": []}, "format"),
    ],
)
def test_malformed_record_gets_clear_error(data, message):
    with pytest.raises(ValueError, match=message):
        EpisodeRecord.from_dict(data)
