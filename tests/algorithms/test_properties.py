"""Hypothesis property tests of the invariants of the algorithm functions."""

import math

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from spear_train.algorithms import (
    ReplayBuffer,
    clip_cov_loss,
    grpo_advantage,
    ppo_clip_loss,
    replay_loss_weight,
    token_covariance,
    tool_bonus_decay,
)

D = torch.float64
FAST = settings(max_examples=40, deadline=None)
finite = st.floats(-50, 50, allow_nan=False)


@st.composite
def batches(draw, max_b=5, max_l=6):
    b, l = draw(st.integers(1, max_b)), draw(st.integers(1, max_l))
    seed = draw(st.integers(0, 2**31 - 1))
    g = torch.Generator().manual_seed(seed)
    mask = (torch.rand(b, l, generator=g) < 0.7).to(D)
    lp = -torch.rand(b, l, generator=g, dtype=D) * 5
    old = lp + (torch.rand(b, l, generator=g, dtype=D) - 0.5)
    adv = (torch.randn(b, generator=g, dtype=D) * 3).unsqueeze(-1).expand(b, l).contiguous()
    return lp, old, adv, mask, seed


MODES = ["token-mean", "seq-mean-token-sum", "seq-mean-token-mean", "seq-mean-token-sum-norm"]


@FAST
@given(batches(), st.sampled_from(MODES), st.sampled_from(["vanilla", "clip_cov"]), finite)
def test_masked_tokens_never_contribute(batch, mode, loss_kind, junk):
    lp, old, adv, mask, seed = batch
    noisy_lp, noisy_old, noisy_adv = lp.clone(), old.clone(), adv.clone()
    hidden = mask == 0
    noisy_lp[hidden], noisy_old[hidden], noisy_adv[hidden] = junk - 60, junk, junk * 7
    if loss_kind == "vanilla":
        a = ppo_clip_loss(lp, old, adv, mask, 0.2, 0.28, 10.0, mode).loss
        b = ppo_clip_loss(noisy_lp, noisy_old, noisy_adv, mask, 0.2, 0.28, 10.0, mode).loss
    else:
        a = clip_cov_loss(lp, old, adv, mask, clip_cov_ratio=0.3, loss_agg_mode=mode, generator=torch.Generator().manual_seed(seed)).loss
        b = clip_cov_loss(noisy_lp, noisy_old, noisy_adv, mask, clip_cov_ratio=0.3, loss_agg_mode=mode,
                          generator=torch.Generator().manual_seed(seed)).loss
    torch.testing.assert_close(a, b, atol=1e-9, rtol=1e-9)


@FAST
@given(batches(), st.sampled_from(MODES))
def test_masked_tokens_get_no_gradient(batch, mode):
    lp, old, adv, mask, _ = batch
    lp = lp.clone().requires_grad_()
    ppo_clip_loss(lp, old, adv, mask, 0.2, 0.28, 10.0, mode).loss.backward()
    assert torch.all(lp.grad[mask == 0] == 0)


@FAST
@given(st.lists(st.tuples(st.integers(0, 4), finite), min_size=1, max_size=30))
def test_grpo_mean_norm_advantages_sum_to_zero_per_group(pairs):
    groups = torch.tensor([g for g, _ in pairs])
    scores = torch.tensor([s for _, s in pairs], dtype=D)
    adv = grpo_advantage(scores, groups, norm_by_std=False)
    for g in groups.unique():
        members = groups == g
        if members.sum() > 1:
            assert abs(float(adv[members].sum())) < 1e-9 * max(1.0, float(scores.abs().max())) * 100
    normed = grpo_advantage(scores, groups, norm_by_std=True)
    for g in groups.unique():
        members = groups == g
        if members.sum() > 1:
            assert abs(float(normed[members].sum())) < 1e-6


@FAST
@given(batches(max_b=6, max_l=8), st.floats(0.0, 1.0), st.floats(-3, 3), st.floats(0.01, 6))
def test_clip_cov_zeroes_min_n_candidates_inside_bounds(batch, ratio, lb, width):
    lp, old, adv, mask, seed = batch
    ub = lb + width
    out = clip_cov_loss(lp, old, adv, mask, 0.2, 0.28, ratio, lb, ub, "token-mean", generator=torch.Generator().manual_seed(seed))
    ratio_t = torch.exp(lp - old)
    already = (-adv * ratio_t.clamp(0.8, 1.28) > -adv * ratio_t) & (mask > 0)
    cov = token_covariance(adv, lp, mask)
    candidates = (cov > lb) & (cov < ub) & (mask > 0) & ~already
    n = max(math.floor(ratio * int(mask.sum())), 1)
    assert int(out.selected.sum()) == min(n, int(candidates.sum()))
    assert not (out.selected & ~candidates).any()
    assert torch.all(out.token_loss[out.selected] == 0)


@FAST
@given(st.lists(st.tuples(st.integers(1, 3), st.integers(0, 4)), min_size=1, max_size=25),
       st.integers(0, 6), st.integers(0, 2**31 - 1))
def test_buffer_never_returns_stale_samples(events, tolerate, seed):
    """events: (step increment, number of samples added); a drain is tried after every add."""
    buf = ReplayBuffer(buffer_size=4, tolerate_steps=tolerate)
    g = torch.Generator().manual_seed(seed)
    step = 0
    for inc, n in events:
        step += inc
        if buf.is_full(0.0) or inc == 3:
            batch = buf.drain(step, (0.0, 1.0), generator=g)
            if batch is not None:
                ages = step - batch.steps
                assert int(ages.max()) <= min(tolerate, 10) + 2 and int(ages.min()) >= 1
                assert len(batch) <= 4 and len(batch) & (len(batch) - 1) == 0
        buf.add(step, {"x": torch.full((n, 2), step)}, torch.ones(n, dtype=D), torch.ones(n, dtype=D))
        assert all(step - s <= min(tolerate, 10) + 1 for s in buf.steps)


@FAST
@given(st.integers(1, 5000), st.floats(0.0, 10.0))
def test_schedules_hit_their_end_points(total, coef):
    assert replay_loss_weight(0, total, coef) == 0.0
    assert abs(replay_loss_weight(total, total, coef) - coef) < 1e-12
    assert replay_loss_weight(total + 1, total, coef) == coef
    assert tool_bonus_decay(0, total) == 1.0 and abs(tool_bonus_decay(total, total)) < 1e-12
    assert tool_bonus_decay(total + 1, total) == 0.0
    values = [replay_loss_weight(t, total, 1.0) for t in range(0, total + 1, max(1, total // 7))]
    assert values == sorted(values)


@FAST
@given(st.integers(1, 4), st.integers(1, 30), st.integers(1, 7), st.integers(2, 4), st.integers(0, 2**31 - 1))
def test_repetitive_flags_match_a_counter(rows, width, n, threshold, seed):
    from collections import Counter

    from spear_train.algorithms import repetitive_flags

    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, 3, (rows, width), generator=g)
    lengths = torch.randint(0, width + 1, (rows,), generator=g)
    mask = (torch.arange(width).unsqueeze(0) < lengths.unsqueeze(1)).float()
    expected = []
    for row, length in zip(ids.tolist(), lengths.tolist()):
        counts = Counter(tuple(row[i:i + n]) for i in range(length - n + 1))
        expected.append(bool(counts) and max(counts.values()) >= threshold)
    assert repetitive_flags(ids, mask, n, threshold).tolist() == expected
