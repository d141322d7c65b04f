"""GRPO and GiGPO advantages: hand-computed vectors to 1e-6, plus edge cases."""

import pytest
import torch

from spear_train.algorithms import (
    apply_invalid_penalty,
    broadcast_to_tokens,
    discounted_returns,
    gigpo_advantage,
    gigpo_step_advantage,
    grpo_advantage,
    ids_from_keys,
    math_reward,
    positions_in_trajectory,
)

D = torch.float64


def t(values):
    return torch.tensor(values, dtype=D)


def close(actual, expected):
    torch.testing.assert_close(actual, t(expected), atol=1e-6, rtol=0)


# --- TV1 -------------------------------------------------------------------------------------------
TV1_SCORES = [10, 10, 0, 0, 0, 0]
TV1_GROUP = torch.zeros(6, dtype=torch.long)


def test_tv1_step_weighted_grpo():
    close(grpo_advantage(t(TV1_SCORES), TV1_GROUP), [1.2909942] * 2 + [-0.6454971] * 4)


def test_tv1_step_weighted_no_std():
    close(grpo_advantage(t(TV1_SCORES), TV1_GROUP, norm_by_std=False), [6.6666667] * 2 + [-3.3333333] * 4)


def test_tv1_trajectory_level_contrast():
    close(grpo_advantage(t([10, 0, 0]), torch.zeros(3, dtype=torch.long)), [1.1547003, -0.5773502, -0.5773502])


def test_tv1_invalid_penalty():
    valid = torch.tensor([1, 1, 1, 1, 0, 1])
    scores = apply_invalid_penalty(t(TV1_SCORES), valid)
    close(scores, [10, 10, 0, 0, -0.1, 0])
    close(grpo_advantage(scores, TV1_GROUP), [1.2909581, 1.2909581, -0.6406500, -0.6406500, -0.6599661, -0.6406500])
    close(grpo_advantage(scores, TV1_GROUP, norm_by_std=False),
          [6.6833333, 6.6833333, -3.3166667, -3.3166667, -3.4166667, -3.3166667])


def test_tv1_math_example_with_tool_bonus():
    scores = math_reward(torch.tensor([True, False, False, True]), torch.tensor([2, 0, 4, 10]), kappa=0.5,
                         variant="qwen2.5", dtype=D)
    close(scores, [1.1, -1.0, -0.8, 1.5])
    group = torch.zeros(4, dtype=torch.long)
    close(grpo_advantage(scores, group), [0.7013573, -0.9351431, -0.7792859, 1.0130717])
    close(grpo_advantage(scores, group, norm_by_std=False), [0.9, -1.2, -1.0, 1.3])


def test_groups_are_by_id_not_position():
    # Two interleaved groups with arbitrary (non-dense) ids give the same result as contiguous ones.
    scores = t([1.0, 5.0, 3.0, 7.0])
    groups = torch.tensor([42, 7, 42, 7])
    close(grpo_advantage(scores, groups, norm_by_std=False), [-1.0, -1.0, 1.0, 1.0])


def test_singleton_group_uses_zero_mean_unit_std():
    scores = t([3.0, 1.0, 2.0])
    groups = torch.tensor([0, 1, 1])
    close(grpo_advantage(scores, groups), [3.0 / (1 + 1e-6), -0.7071063, 0.7071063])
    close(grpo_advantage(scores, groups, norm_by_std=False), [3.0, -0.5, 0.5])


def test_broadcast_to_tokens_masks():
    adv = broadcast_to_tokens(t([2.0, -1.0]), torch.tensor([[1, 1, 0], [0, 1, 1]]))
    close(adv, [[2.0, 2.0, 0.0], [0.0, -1.0, -1.0]])


# --- TV2 -------------------------------------------------------------------------------------------
# Samples in batch order: A1 A2 A3 B1 B2 B3 B4
TV2_TRAJ = torch.tensor([0, 0, 0, 1, 1, 1, 1])
TV2_REWARDS = t([0, 0, 10, 0, 0, 0, 0])
TV2_ANCHORS = ids_from_keys(["s0", "s1", "s2", "s0", "s1", "s3", "s4"])
TV2_GROUP = torch.zeros(7, dtype=torch.long)
TV2_SCORES = t([10, 10, 10, 0, 0, 0, 0])


def test_tv2_discounted_returns():
    close(discounted_returns(TV2_REWARDS, TV2_TRAJ, gamma=0.95), [9.025, 9.5, 10.0, 0, 0, 0, 0])


def test_tv2_discounted_returns_shuffled_batch_with_step_index():
    perm = torch.tensor([4, 0, 6, 2, 1, 5, 3])
    steps = torch.tensor([0, 1, 2, 0, 1, 2, 3])[perm]
    returns = discounted_returns(TV2_REWARDS[perm], TV2_TRAJ[perm], 0.95, step_index=steps)
    close(returns, [[9.025, 9.5, 10.0, 0, 0, 0, 0][i] for i in perm.tolist()])


def test_tv2_episode_part():
    close(grpo_advantage(TV2_SCORES, TV2_GROUP), [1.0690448] * 3 + [-0.8017836] * 4)
    close(grpo_advantage(TV2_SCORES, TV2_GROUP, norm_by_std=False), [5.7142857] * 3 + [-4.2857143] * 4)


def test_tv2_step_part():
    returns = discounted_returns(TV2_REWARDS, TV2_TRAJ, 0.95)
    close(gigpo_step_advantage(returns, TV2_GROUP, TV2_ANCHORS, "mean_std_norm"),
          [0.7071067, 0.7071067, 0, -0.7071067, -0.7071067, 0, 0])
    close(gigpo_step_advantage(returns, TV2_GROUP, TV2_ANCHORS, "mean_norm"), [4.5125, 4.75, 0, -4.5125, -4.75, 0, 0])


def test_tv2_totals():
    returns = discounted_returns(TV2_REWARDS, TV2_TRAJ, 0.95)
    close(gigpo_advantage(TV2_SCORES, returns, TV2_GROUP, TV2_ANCHORS, "mean_std_norm", 1.0),
          [1.7761514, 1.7761514, 1.0690448, -1.5088902, -1.5088903, -0.8017836, -0.8017836])
    close(gigpo_advantage(TV2_SCORES, returns, TV2_GROUP, TV2_ANCHORS, "mean_norm", 1.0),
          [10.2267857, 10.4642857, 5.7142857, -8.7982143, -9.0357143, -4.2857143, -4.2857143])


def test_gigpo_step_weight_and_groups_separate_uids():
    returns = discounted_returns(TV2_REWARDS, TV2_TRAJ, 0.95)
    # Same anchors in different uids never share a step group: every step group becomes a singleton.
    split = torch.tensor([0, 0, 0, 1, 1, 1, 1])
    close(gigpo_step_advantage(returns, split, TV2_ANCHORS, "mean_norm"), [0.0] * 7)
    half = gigpo_advantage(TV2_SCORES, returns, TV2_GROUP, TV2_ANCHORS, "mean_norm", 0.5)
    close(half, [5.7142857 + 0.5 * 4.5125, 5.7142857 + 0.5 * 4.75, 5.7142857,
                 -4.2857143 - 0.5 * 4.5125, -4.2857143 - 0.5 * 4.75, -4.2857143, -4.2857143])


def test_gigpo_revisited_state_shares_a_step_group():
    # One trajectory visiting s0 twice: both samples fall in one step group.
    returns = t([1.0, 3.0, 5.0])
    anchors = ids_from_keys(["s0", "s1", "s0"])
    close(gigpo_step_advantage(returns, torch.zeros(3, dtype=torch.long), anchors, "mean_norm"), [-2.0, 0.0, 2.0])


def test_positions_in_trajectory_interleaved():
    assert positions_in_trajectory(torch.tensor([5, 9, 5, 9, 9, 5])).tolist() == [0, 0, 1, 1, 2, 2]


def test_invalid_penalty_on_returns_does_not_propagate():
    returns = discounted_returns(t([0, 0, 10]), torch.zeros(3, dtype=torch.long), 0.95)
    close(apply_invalid_penalty(returns, torch.tensor([1, 0, 1])), [9.025, 9.4, 10.0])


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match="scores and group_ids"):
        grpo_advantage(t([1.0, 2.0]), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="mode"):
        gigpo_step_advantage(t([1.0]), torch.zeros(1, dtype=torch.long), torch.zeros(1, dtype=torch.long), "std")
