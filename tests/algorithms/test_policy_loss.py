"""PPO-clip, aggregation, entropy, KL and Clip-Cov / KL-Cov: hand-computed vectors to 1e-6, plus the clip
rules."""

import math

import pytest
import torch

from spear_train.algorithms import (
    actor_loss,
    aggregate_loss,
    clip_cov_loss,
    entropy_from_log_probs,
    entropy_from_logits,
    kl_cov_loss,
    low_var_kl,
    ppo_clip_loss,
    token_covariance,
)

D = torch.float64
A = torch.tensor([[2.0, 2, 2, 2], [-1, -1, -1, -1]], dtype=D)
LP = torch.tensor([[-0.1, -2.0, -0.5, -3.0], [-0.2, -1.5, -4.0, -9.0]], dtype=D)
MASK = torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]], dtype=D)
REPLAY = dict(clip_cov_ratio=0.02, clip_cov_lb=2.0, clip_cov_ub=60.0)
ON_POLICY = dict(clip_cov_ratio=0.0002, clip_cov_lb=1.0, clip_cov_ub=5.0)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def scalar_close(actual, expected):
    assert abs(float(actual) - expected) < 1e-6, (float(actual), expected)


def test_tv3_covariance():
    cov = token_covariance(A, LP, MASK)
    expected = torch.tensor([[1.9469388, -0.4959184, 1.4326531, -1.7816327], [-2.4244898, -0.1959184, 4.0897959, 0]], dtype=D)
    torch.testing.assert_close(cov[MASK > 0], expected[MASK > 0], atol=1e-6, rtol=0)
    assert cov[1, 3] == float("-inf")


def test_tv3a_replay_parameters_zero_exactly_one_token():
    out = clip_cov_loss(LP, LP.clone(), A, MASK, 0.2, 0.28, **REPLAY, generator=gen())
    assert out.selected.nonzero().tolist() == [[1, 2]]
    assert out.token_loss[1, 2] == 0


def test_tv3b_on_policy_defaults_pick_one_candidate_at_random():
    candidates = {(0, 0), (0, 2), (1, 2)}
    seen = set()
    for seed in range(40):
        out = clip_cov_loss(LP, LP.clone(), A, MASK, 0.2, 0.28, **ON_POLICY, generator=gen(seed))
        chosen = [tuple(ij) for ij in out.selected.nonzero().tolist()]
        assert len(chosen) == 1 and chosen[0] in candidates
        seen.add(chosen[0])
    assert seen == candidates  # the choice is random, not a top-k


def test_tv3b_seeded_choice_is_reproducible():
    a = clip_cov_loss(LP, LP.clone(), A, MASK, **ON_POLICY, generator=gen(7)).selected
    b = clip_cov_loss(LP, LP.clone(), A, MASK, **ON_POLICY, generator=gen(7)).selected
    assert torch.equal(a, b)


def test_tv3c_large_ratio_zeroes_all_candidates():
    out = clip_cov_loss(LP, LP.clone(), A, MASK, clip_cov_ratio=0.5, clip_cov_lb=1.0, clip_cov_ub=5.0, generator=gen())
    assert sorted(tuple(ij) for ij in out.selected.nonzero().tolist()) == [(0, 0), (0, 2), (1, 2)]


def test_tv3d_already_clipped_token_is_excluded():
    old = LP.clone()
    old[1, 2] = -3.5
    out = clip_cov_loss(LP, old, A, MASK, 0.2, 0.28, **REPLAY, generator=gen())
    assert not out.selected.any()
    scalar_close(out.token_loss[1, 2], 0.8)
    scalar_close(math.exp(-0.5), 0.6065307)


def test_clip_cov_bounds_are_strict():
    adv = torch.tensor([[1.0, -1.0]], dtype=D)
    lp = torch.tensor([[0.0, -2.0]], dtype=D)  # Ā = 0, l̄ = −1: both covariances are exactly 1
    ones = torch.ones(1, 2, dtype=D)
    assert torch.equal(token_covariance(adv, lp, ones), ones)
    for lb, ub, expected in [(1.0, 5.0, 0), (0.5, 1.0, 0), (0.5, 1.5, 2)]:
        out = clip_cov_loss(lp, lp.clone(), adv, ones, clip_cov_ratio=1.0, clip_cov_lb=lb, clip_cov_ub=ub, generator=gen())
        assert int(out.selected.sum()) == expected, (lb, ub)


@pytest.mark.parametrize("mode,plain,with_cov", [
    ("token-mean", -0.7142857, -0.8571429),
    ("seq-mean-token-sum", -2.5, -3.0),
    ("seq-mean-token-mean", -0.5, -0.6666667),
    ("seq-mean-token-sum-norm", -1.25, -1.5),
])
def test_tv3_loss_table(mode, plain, with_cov):
    scalar_close(ppo_clip_loss(LP, LP.clone(), A, MASK, 0.2, 0.28, 10.0, mode).loss, plain)
    out = clip_cov_loss(LP, LP.clone(), A, MASK, 0.2, 0.28, **REPLAY, loss_agg_mode=mode, norm_length=4, generator=gen())
    scalar_close(out.loss, with_cov)


def test_seq_mean_token_sum_norm_uses_constant_divisor():
    loss = torch.ones(2, 4, dtype=D)
    scalar_close(aggregate_loss(loss, MASK, "seq-mean-token-sum-norm", norm_length=512), 7 / 512)
    scalar_close(aggregate_loss(loss, MASK, "seq-mean-token-sum-norm"), 7 / 4)


def test_aggregation_ignores_masked_nan_and_empty_rows():
    loss = torch.tensor([[1.0, float("nan")], [float("inf"), 5.0]], dtype=D)
    mask = torch.tensor([[1, 0], [0, 0]], dtype=D)
    for mode, expected in [("token-mean", 1.0), ("seq-mean-token-sum", 0.5), ("seq-mean-token-mean", 0.5),
                           ("seq-mean-token-sum-norm", 0.5)]:
        scalar_close(aggregate_loss(loss, mask, mode), expected)
    with pytest.raises(ValueError, match="loss_agg_mode"):
        aggregate_loss(loss, mask, "mean")


def test_clip_higher_bounds_and_dual_clip():
    ones = torch.ones(1, 4, dtype=D)
    # ratios 0.5, 1.5 with A = +1: positive advantage is capped at 1 + ε_high = 1.28 (clip-higher).
    log_ratio = torch.log(torch.tensor([[0.5, 1.5, 1.1, 1.0]], dtype=D))
    out = ppo_clip_loss(log_ratio, torch.zeros(1, 4, dtype=D), ones, ones, 0.2, 0.28, 10.0, "token-mean")
    torch.testing.assert_close(out.token_loss, torch.tensor([[-0.5, -1.28, -1.1, -1.0]], dtype=D))
    # A = −1 and ratio 20: ℓ_clip = 20, dual clip caps it at c = 10 (and at 3 with c = 3).
    big = torch.log(torch.tensor([[20.0, 0.5, 1.0, 1.0]], dtype=D))
    neg = -ones
    torch.testing.assert_close(ppo_clip_loss(big, torch.zeros(1, 4, dtype=D), neg, ones, 0.2, 0.28, 10.0).token_loss,
                               torch.tensor([[10.0, 0.8, 1.0, 1.0]], dtype=D))
    torch.testing.assert_close(ppo_clip_loss(big, torch.zeros(1, 4, dtype=D), neg, ones, 0.2, 0.28, None).token_loss,
                               torch.tensor([[20.0, 0.8, 1.0, 1.0]], dtype=D))
    scalar_close(ppo_clip_loss(big, torch.zeros(1, 4, dtype=D), neg, ones, 0.2, 0.28, 3.0).token_loss[0, 0], 3.0)


def test_log_ratio_is_clamped_in_vanilla_but_not_in_clip_cov():
    lp = torch.tensor([[30.0]], dtype=D)
    zero, one = torch.zeros(1, 1, dtype=D), torch.ones(1, 1, dtype=D)
    scalar_close(ppo_clip_loss(lp, zero, -one, one, dual_clip_c=None).token_loss[0, 0], math.exp(20))
    scalar_close(clip_cov_loss(lp, zero, -one, one, generator=gen()).token_loss[0, 0] / math.exp(30), 1.0)


def test_ppo_gradient_flows_only_through_unclipped_tokens():
    lp = torch.log(torch.tensor([[1.0, 1.5]], dtype=D)).requires_grad_()
    ones = torch.ones(1, 2, dtype=D)
    ppo_clip_loss(lp, torch.zeros(1, 2, dtype=D), ones, ones, 0.2, 0.28, 10.0, "seq-mean-token-sum").loss.backward()
    torch.testing.assert_close(lp.grad, torch.tensor([[-1.0, 0.0]], dtype=D))


def test_entropy_from_logits():
    logits = torch.tensor([[0.0, 0.0, 0.0, 0.0], [100.0, 0.0, 0.0, 0.0]], dtype=D)
    torch.testing.assert_close(entropy_from_logits(logits), torch.tensor([math.log(4), 0.0], dtype=D), atol=1e-6, rtol=0)


def test_entropy_from_log_probs_matches_logits_form():
    logits = torch.tensor([[0.0, 0.0, 0.0, 0.0], [100.0, 0.0, 0.0, 0.0], [1.0, -2.0, 0.5, 3.0]], dtype=D)
    got = entropy_from_log_probs(torch.log_softmax(logits, -1))
    torch.testing.assert_close(got[:2], torch.tensor([math.log(4), 0.0], dtype=D), atol=1e-6, rtol=0)
    torch.testing.assert_close(got, entropy_from_logits(logits), atol=1e-12, rtol=0)
    p = torch.softmax(logits[2], -1)
    assert float(got[2]) == pytest.approx(float(-(p * p.log()).sum()), abs=1e-12)


def test_low_var_kl_formula_and_clamp():
    lp = torch.tensor([[-1.0, -1.0, -1.0]], dtype=D)
    ref = torch.tensor([[-1.0, -0.5, 5.0]], dtype=D)
    expected = [0.0, math.exp(0.5) - 0.5 - 1, 10.0]
    torch.testing.assert_close(low_var_kl(lp, ref), torch.tensor([expected], dtype=D), atol=1e-9, rtol=0)


def test_actor_loss_combines_terms():
    ent = torch.tensor([[1.0, 3.0]], dtype=D)
    kl = torch.tensor([[0.5, 0.5]], dtype=D)
    mask = torch.ones(1, 2, dtype=D)
    total = actor_loss(torch.tensor(2.0, dtype=D), ent, mask, entropy_coef=0.001, kl=kl, kl_coef=0.1)
    scalar_close(total, 2.0 - 0.001 * 2.0 + 0.1 * 0.5)
    with pytest.raises(ValueError, match="entropy"):
        actor_loss(torch.tensor(1.0), None, mask, entropy_coef=0.1)


def test_kl_cov_penalises_top_covariance_tokens():
    old = LP - 0.3
    out = kl_cov_loss(LP, old, A, MASK, kl_cov_ratio=0.3, ppo_kl_coef=0.5, loss_agg_mode="seq-mean-token-sum")
    # k = max(1, ⌊0.3·7⌋) = 2 largest covariances: (1, 2) 4.09 and (0, 0) 1.95.
    assert sorted(tuple(ij) for ij in out.selected.nonzero().tolist()) == [(0, 0), (1, 2)]
    ratio = math.exp(0.3)
    scalar_close(out.token_loss[0, 0], -2 * ratio + 0.5 * 0.3)
    scalar_close(out.token_loss[0, 1], -2 * ratio)
