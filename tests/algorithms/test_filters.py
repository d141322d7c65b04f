"""Sample flags, flag masks and the low-variance group filter: hand-computed vectors, and what a flag does."""

import pytest
import torch

from spear_train.algorithms import (
    aggregate_loss,
    group_reward_stats,
    is_unreadable,
    is_void_math_turn,
    is_void_turn,
    low_variance_group_filter,
    mask_flagged_samples,
    overlong_flags,
    pow2_floor,
    repetitive_flags,
    zero_flagged_advantages,
)
from spear_envs.agent_io import parse_action

D = torch.float64


@pytest.mark.parametrize("text,void,valid,action", [
    ("<think>go</think><action>go to desk 1</action>", False, True, "go to desk 1"),
    ("<think>go</think>", True, False, "<think>go</think>"[-30:]),
    ("<action>look</action>", False, False, "look"),
    ("<action>look</action><think>y</think>", True, True, "look"),
    ("<think>去</think><action>look</action>", False, False, "look"),
])
def test_tv7_void_vs_valid(text, void, valid, action):
    assert is_void_turn(text) is void
    parsed = parse_action(text, fallback_chars=30)
    assert parsed.valid is valid and parsed.action == action


@pytest.mark.parametrize("text,void", [
    ("", True), ("   \n", True), ("<think>a</think><action></action>", False),
    ("<think>a</think><action>x</action><think>b</think><action>y</action>", False),
    ("<think>a</think><action>\nmulti\nline</action>", False),
    ("<action>x</action>", False), ("no tags at all", True),
])
def test_void_turn_rules(text, void):
    assert is_void_turn(text) is void


def test_math_void_turn_fires_without_final_boxed_answer():
    assert is_void_math_turn("so the answer is 42")
    assert not is_void_math_turn("... thus \\boxed{\\frac{1}{2}}.")
    assert is_void_math_turn("\\boxed{3}" + " padding" * 30)  # answer not in the final window
    assert is_void_math_turn("\\boxed{3")  # unbalanced


def test_tv7_repetition_threshold():
    ids = torch.full((2, 40), 7, dtype=torch.long)
    mask = torch.zeros(2, 40)
    mask[0, :29] = 1  # 29 identical ids → 10 identical 20-grams
    mask[1, :28] = 1  # 28 → 9
    assert repetitive_flags(ids, mask).tolist() == [True, False]


def test_repetition_counts_ngrams_not_single_tokens():
    varied = torch.arange(60).repeat(2).unsqueeze(0)  # 120 tokens, every 20-gram occurs at most twice
    assert repetitive_flags(varied, torch.ones_like(varied)).tolist() == [False]
    period = torch.arange(3).repeat(30).unsqueeze(0)  # period 3, 90 tokens: each 20-gram recurs ~24 times
    assert repetitive_flags(period, torch.ones_like(period)).tolist() == [True]
    assert repetitive_flags(period[:, :10], torch.ones(1, 10)).tolist() == [False]


def test_unreadable_and_overlong():
    assert is_unreadable("abc\ufffd") and is_unreadable("bad ï¿½ text") and not is_unreadable("fine ü")
    assert overlong_flags(torch.tensor([511, 512, 600]), 512).tolist() == [False, True, True]


def test_flag_masks_agent_vs_math_semantics():
    mask = torch.ones(2, 3, dtype=D)
    flagged = torch.tensor([True, False])
    agent = mask_flagged_samples(mask, flagged, exclude_from_loss=False)
    math_ = mask_flagged_samples(mask, flagged, exclude_from_loss=True)
    assert agent.advantage_mask.tolist() == [[0, 0, 0], [1, 1, 1]]
    assert agent.loss_mask.tolist() == [[1, 1, 1], [1, 1, 1]]
    assert math_.loss_mask.tolist() == [[0, 0, 0], [1, 1, 1]]
    # In the agent envs the flagged sample still counts in the token-mean denominator.
    loss = torch.ones(2, 3, dtype=D) * agent.advantage_mask
    assert float(aggregate_loss(loss, agent.loss_mask, "token-mean")) == pytest.approx(0.5)
    assert float(aggregate_loss(loss, math_.loss_mask, "token-mean")) == pytest.approx(1.0)


def test_flagged_and_float_noise_advantages_become_zero():
    adv = torch.tensor([1.5, -0.5, 2.0, 1e-16, -3e-10, 1e-8], dtype=D)
    flagged = torch.tensor([True, False, False, False, False, False])
    assert zero_flagged_advantages(adv, flagged).tolist() == [0.0, -0.5, 2.0, 0.0, 0.0, 1e-8]
    assert zero_flagged_advantages(adv, ~flagged).tolist() == [1.5, 0.0, 0.0, 0.0, 0.0, 0.0]


def _tv4_batch():
    """Four groups of four one-step trajectories, in first-appearance order g1..g4."""
    scores = torch.tensor([10, 10, 10, 10, 10, 0, 0, 0, 0, 0, 0, 0, 10, 10, 0, 0], dtype=D)
    groups = torch.arange(4).repeat_interleave(4)
    traj = torch.arange(16)
    return scores, groups, traj


def test_tv4_group_stds():
    scores, groups, traj = _tv4_batch()
    _, _, pop = group_reward_stats(scores, groups, traj)
    torch.testing.assert_close(pop, torch.tensor([0, 4.3301270, 0, 5.0], dtype=D), atol=1e-6, rtol=0)
    _, _, unbiased = group_reward_stats(scores, groups, None)
    torch.testing.assert_close(unbiased, torch.tensor([0, 5.0, 0, 5.7735027], dtype=D), atol=1e-6, rtol=0)


def test_tv4_trajectory_score_is_mean_of_its_samples():
    # g: trajectory a has 3 samples (scores 10), b has 1 (0) → trajectory scores [10, 0], population std 5.
    _, mean, std = group_reward_stats(torch.tensor([10.0, 10, 10, 0], dtype=D), torch.zeros(4, dtype=torch.long),
                                      torch.tensor([0, 0, 0, 1]))
    assert float(mean[0]) == pytest.approx(5.0) and float(std[0]) == pytest.approx(5.0)


def test_tv4_keeps_g4_g2_g1_with_tie_by_first_appearance():
    scores, groups, traj = _tv4_batch()
    kept = low_variance_group_filter(scores, groups, 0.75, traj, pow2_subsample=False)
    assert sorted(set(groups[kept].tolist())) == [0, 1, 3]
    # Math variant (unbiased std over samples, no power-of-two cut): same ranking.
    kept = low_variance_group_filter(scores, groups, 0.75, None, pow2_subsample=False)
    assert sorted(set(groups[kept].tolist())) == [0, 1, 3]
    # When g3 appears before g1 in the batch, g3 wins the tie instead (ids are irrelevant, order counts).
    order = torch.cat([torch.arange(8, 12), torch.arange(4, 8), torch.arange(0, 4), torch.arange(12, 16)])
    rev = low_variance_group_filter(scores[order], groups[order], 0.75, traj[order], pow2_subsample=False)
    assert sorted(set(groups[order][rev].tolist())) == [1, 2, 3]
    low = low_variance_group_filter(scores, groups, 0.5, traj, keep="std_rev", pow2_subsample=False)
    assert sorted(set(groups[low].tolist())) == [0, 2]


def test_tv4_power_of_two_cut():
    assert [pow2_floor(n) for n in (3000, 1537, 3, 1, 0)] == [2048, 1024, 2, 1, 0]
    scores, groups, traj = _tv4_batch()
    kept = low_variance_group_filter(scores, groups, 0.75, traj, generator=torch.Generator().manual_seed(0))
    assert kept.numel() == 8 and set(groups[kept].tolist()) <= {0, 1, 3}
    assert torch.equal(kept, kept.sort().values) and kept.unique().numel() == 8


def test_filter_ratio_one_keeps_everything():
    scores, groups, traj = _tv4_batch()
    assert low_variance_group_filter(scores[:12], groups[:12], 1.0, traj[:12]).tolist() == list(range(12))
    with pytest.raises(ValueError, match="ratio"):
        low_variance_group_filter(scores, groups, 0.0, traj)
