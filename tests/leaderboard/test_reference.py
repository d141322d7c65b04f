"""Reference agents on the real benchmark envs, and the result files committed under leaderboards/."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import pytest

import spear_envs
from spear_train.leaderboard.reference import EXPERTS, reference_result
from spear_train.leaderboard.schema import Result
from spear_train.leaderboard.verify import verify_result

from .conftest import as_dict, post_result

REPO_SUBMISSIONS = Path(__file__).resolve().parents[2] / "leaderboards" / "submissions"


@pytest.mark.parametrize("env_id", sorted(EXPERTS))
def test_expert_beats_random_and_both_verify_and_are_accepted(env_id, server):
    if env_id not in spear_envs.SPEAR_ENVS:
        pytest.skip(f"{env_id} is not registered in this checkout")
    expert = reference_result(env_id, "expert", episodes=4, seeds=[0], progress=False)
    rand = reference_result(env_id, "random", episodes=4, seeds=[0, 1], progress=False)
    assert expert.metrics.success_mean > rand.metrics.success_mean
    assert verify_result(expert).metrics == expert.metrics
    for result in (expert, rand):
        status, body = post_result(server, as_dict(result))
        assert status == 201, body
    forged = as_dict(rand)
    forged["runs"][0]["episodes"][0]["steps"][-1]["reward"] += 1.0
    assert post_result(server, forged)[1]["reason"] == "replay_mismatch"


def test_random_agent_is_seeded():
    env_id = "spear-test/GuessWord-v0"
    a = reference_result(env_id, "random", episodes=3, seeds=[4], progress=False)
    b = reference_result(env_id, "random", episodes=3, seeds=[4], progress=False)
    assert a.content_hash() == b.content_hash()
    with pytest.raises(ValueError, match="no expert agent"):
        reference_result(env_id, "expert", episodes=1, seeds=[0], progress=False)


@pytest.mark.parametrize("path", sorted(REPO_SUBMISSIONS.glob("*.json")), ids=lambda p: p.name)
def test_committed_submission_files_are_valid_results(path):
    result = Result.model_validate_json(path.read_bytes())
    assert result.env.id in spear_envs.SPEAR_ENVS or result.env.id not in gym.registry
    assert path.name.endswith(f"__{result.content_hash()[:12]}.json")
