"""SPEAR: baseline history, P50/decay recalibration, replay buffer and schedules against hand-computed vectors."""

import io
import math

import pytest
import torch

from spear_train.algorithms import (
    BaselineHistory,
    ReplayBuffer,
    agent_tool_bonus,
    decay_recalibrate,
    math_reward,
    p50_recalibrate,
    recalibration_keep_mask,
    replay_loss_weight,
    replay_subsample_size,
    tool_bonus_decay,
)

D = torch.float64


def close(actual, expected):
    torch.testing.assert_close(actual, torch.tensor(expected, dtype=D), atol=1e-6, rtol=0)


# --- TV5 -------------------------------------------------------------------------------------------
def test_tv5_p50_of_baseline_history():
    history = BaselineHistory(max_size=10240)
    means, stds = [10.0, 2.5, 0.0, 5.0, 7.5, 2.5], [0, 4.330127, 0, 5.0, 4.330127, 4.330127]
    history.add(1, torch.tensor(means[:3]), torch.tensor(stds[:3]))
    history.add(2, torch.tensor(means[3:]), torch.tensor(stds[3:]))
    b, b_sigma = history.p50()
    assert abs(b - 3.75) < 1e-6 and abs(b_sigma - 4.330127) < 1e-6
    odd = BaselineHistory()
    odd.add(1, torch.tensor([0, 2.5, 5, 7.5, 10]), torch.zeros(5))
    assert abs(odd.p50()[0] - 5.0) < 1e-6
    assert BaselineHistory().p50() is None


def test_tv5_recalibration_with_b5():
    s = torch.tensor([10.0, 10.8, 5.0, 3.0], dtype=D)
    adv = p50_recalibrate(s, 5.0, 4.330127)
    close(adv, [5.0, 5.8, 0.0, -2.0])
    assert recalibration_keep_mask(adv).tolist() == [True, True, True, False]
    assert recalibration_keep_mask(adv, strict=True).tolist() == [True, True, False, False]
    close(p50_recalibrate(s, 5.0, 4.330127, norm_by_std=True), [1.1547003, 1.3394523, 0.0, -0.4618801])


def test_tv5_decay_mode():
    close(decay_recalibrate(torch.tensor([6.6666667], dtype=D), 0.9), [6.0])
    with pytest.raises(ValueError, match="decay weight"):
        decay_recalibrate(torch.ones(1), 1.5)


def test_tv5_baseline_eviction():
    history = BaselineHistory(max_size=4)
    history.add(1, torch.zeros(3), torch.zeros(3))
    history.add(2, torch.ones(2), torch.ones(2))
    history.add(3, torch.ones(2), torch.ones(2))
    assert history.entry_sizes == [2, 2] and len(history) == 4
    # At exactly the limit nothing is popped: the stored count may exceed it by one step's worth.
    history.add(4, torch.ones(1), torch.ones(1))
    assert history.entry_sizes == [2, 2, 1]


def _chunk(n, score=10.0, adv=1.0, width=3):
    return dict(
        samples={"input_ids": torch.arange(n * width).reshape(n, width), "old_log_probs": -torch.rand(n, width, dtype=D)},
        scores=torch.full((n,), score, dtype=D),
        advantages=torch.full((n,), adv, dtype=D),
    )


def test_tv5_capacity_trigger_is_strictly_above_1_5x():
    buf = ReplayBuffer(buffer_size=2048)
    buf.add(1, **_chunk(3072, score=6.0))
    assert buf.count_above_baseline(5.0) == 3072 and not buf.is_full(5.0)
    buf.add(2, **_chunk(1, score=6.0))
    assert buf.is_full(5.0)
    assert not buf.is_full(6.0)  # s > b is strict


def test_tv5_drain_keeps_nonnegative_then_power_of_two():
    buf = ReplayBuffer(buffer_size=2048)
    chunk = _chunk(4)
    chunk["scores"] = torch.tensor([10.0, 10.8, 5.0, 3.0], dtype=D)
    buf.add(1, **chunk)
    batch = buf.drain(2, (5.0, 4.330127), generator=torch.Generator().manual_seed(0))
    assert len(batch) == 2 and len(buf) == 0
    assert set(batch.scores.tolist()) <= {10.0, 10.8, 5.0}
    close(batch.advantages, (batch.scores - 5.0).tolist())
    assert batch.samples["input_ids"].shape == (2, 3)
    # Math semantics: strict Â > 0 keeps exactly the first two.
    strict = ReplayBuffer(buffer_size=2048, strict_positive=True)
    strict.add(1, **chunk)
    assert sorted(strict.drain(2, (5.0, 1.0)).scores.tolist()) == [10.0, 10.8]


def test_buffer_admission_only_positive_advantages_and_tool_calls():
    buf = ReplayBuffer(require_tool_call=True)
    chunk = _chunk(4)
    chunk["advantages"] = torch.tensor([1.0, 0.0, -1.0, 2.0], dtype=D)
    with pytest.raises(ValueError, match="has_tool_call"):
        buf.add(1, **chunk)
    assert buf.add(1, **chunk, has_tool_call=torch.tensor([True, True, True, False])) == 1
    plain = ReplayBuffer()
    assert plain.add(1, **chunk) == 2 and len(plain) == 2


def test_buffer_staleness_matches_reference_window():
    buf = ReplayBuffer(tolerate_steps=5)
    for step in range(1, 12):
        buf.add(step, **_chunk(1))
    # After adding step 11, chunks back to step 11 − 6 = 5 remain (reference: 1-7 steps old at replay).
    assert buf.steps == list(range(5, 12))
    batch = buf.drain(12, (0.0, 1.0))
    assert batch.steps.min() >= 12 - buf.max_age and buf.max_age == 7
    # Skipped steps: a drain far in the future returns nothing stale.
    buf.add(20, **_chunk(2))
    assert buf.drain(40, (0.0, 1.0)) is None


def test_buffer_decay_mode_counts_all_and_scales():
    buf = ReplayBuffer(buffer_size=2, decay_weight=0.9)
    buf.add(1, **_chunk(4, score=0.0, adv=6.6666667))
    assert buf.is_full(None)  # 4 > 3, regardless of rewards
    batch = buf.drain(2, None, generator=torch.Generator().manual_seed(1))
    assert len(batch) == 2
    close(batch.advantages, [6.0, 6.0])


def test_no_baseline_yet_counts_above_chunk_mean():
    buf = ReplayBuffer(buffer_size=1)
    chunk = _chunk(4)
    chunk["scores"] = torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=D)
    buf.add(1, **chunk)
    assert buf.count_above_baseline(None) == 2 and buf.is_full(None)
    with pytest.raises(ValueError, match="baseline"):
        buf.drain(2, None)


def test_drain_skips_below_min_samples_but_still_clears():
    buf = ReplayBuffer()
    buf.add(1, **_chunk(3))
    assert buf.drain(2, (0.0, 1.0), min_samples=4) is None and len(buf) == 0
    assert replay_subsample_size(1, 2048) == 0 and replay_subsample_size(3000, 2048) == 2048


def test_drain_pads_chunks_of_different_widths():
    buf = ReplayBuffer()
    buf.add(1, **_chunk(2, width=3))
    buf.add(2, **_chunk(2, width=5))
    batch = buf.drain(3, (0.0, 1.0), generator=torch.Generator().manual_seed(0))
    assert batch.samples["old_log_probs"].shape == (4, 5)


def test_state_dict_round_trip_is_exact():
    buf = ReplayBuffer(buffer_size=8, tolerate_steps=3, strict_positive=True)
    buf.add(1, **_chunk(3))
    buf.add(2, **_chunk(2, score=7.0, width=4))
    history = BaselineHistory(max_size=16)
    history.add(1, torch.tensor([1.0, 2.0]), torch.tensor([0.5, 0.1]))
    blob = io.BytesIO()
    torch.save({"buffer": buf.state_dict(), "history": history.state_dict()}, blob)
    blob.seek(0)
    loaded = torch.load(blob)
    buf2, history2 = ReplayBuffer(), BaselineHistory()
    buf2.load_state_dict(loaded["buffer"])
    history2.load_state_dict(loaded["history"])
    _assert_states_equal(buf.state_dict(), buf2.state_dict())
    _assert_states_equal(history.state_dict(), history2.state_dict())
    # Restored buffers behave identically, randomness included.
    a = buf.drain(3, (5.0, 1.0), generator=torch.Generator().manual_seed(3))
    b = buf2.drain(3, (5.0, 1.0), generator=torch.Generator().manual_seed(3))
    assert torch.equal(a.samples["old_log_probs"], b.samples["old_log_probs"]) and torch.equal(a.steps, b.steps)
    with pytest.raises(KeyError, match="chunks"):
        ReplayBuffer().load_state_dict({"buffer_size": 1})


def _assert_states_equal(x, y):
    if isinstance(x, torch.Tensor):
        assert isinstance(y, torch.Tensor) and x.dtype == y.dtype and torch.equal(x, y)
    elif isinstance(x, dict):
        assert x.keys() == y.keys()
        for k in x:
            _assert_states_equal(x[k], y[k])
    elif isinstance(x, list):
        assert len(x) == len(y)
        for a, b in zip(x, y):
            _assert_states_equal(a, b)
    else:
        assert x == y and type(x) is type(y)


# --- TV6 -------------------------------------------------------------------------------------------
TV6 = [  # t, c(t) T=200, κ(t) T=200, c(t) T=300, κ(t) T=300
    (0, 0, 1, 0, 1),
    (1, 6.1683759e-05, 0.99993832, 2.7415317e-05, 0.99997258),
    (50, 0.14644661, 0.85355339, 0.06698730, 0.93301270),
    (100, 0.5, 0.5, 0.25, 0.75),
    (150, 0.85355339, 0.14644661, 0.5, 0.5),
    (200, 1.0, 0, 0.75, 0.25),
    (250, 1.0, 0, 0.93301270, 0.06698730),
]


@pytest.mark.parametrize("t,c200,k200,c300,k300", TV6)
def test_tv6_schedules(t, c200, k200, c300, k300):
    for actual, expected in [(replay_loss_weight(t, 200), c200), (tool_bonus_decay(t, 200), k200),
                             (replay_loss_weight(t, 300), c300), (tool_bonus_decay(t, 300), k300)]:
        assert abs(actual - expected) < 1e-6, (t, actual, expected)


def test_schedule_modes_and_coef():
    assert replay_loss_weight(100, 200, coef=0.001) == pytest.approx(0.0005)
    assert replay_loss_weight(400, 200, coef=0.001) == pytest.approx(0.001)
    assert tool_bonus_decay(150, 200, "constant") == 1.0 and tool_bonus_decay(0, 200, "none") == 0.0
    with pytest.raises(ValueError, match="total_steps"):
        replay_loss_weight(1, 0)


def test_tv6_agent_tool_bonus():
    bonus = agent_tool_bonus(torch.tensor([3]), tool_bonus_decay(50, 200), dtype=D)
    close(bonus, [0.25606602])
    close(agent_tool_bonus(torch.tensor([12]), tool_bonus_decay(100, 200), dtype=D), [0.5])
    # ALFWorld success in 8 steps and failure after 50 steps, both at t = 50: s = R_env + b_tool.
    env_reward = torch.tensor([10.0, 0.0], dtype=D)
    close(env_reward + agent_tool_bonus(torch.tensor([8, 50]), tool_bonus_decay(50, 200), dtype=D),
          [10.6828427, 0.8535534])


def test_tv6_math_tool_reward():
    kappa = tool_bonus_decay(50, 200)
    right_wrong = torch.tensor([True, False])
    close(math_reward(right_wrong, torch.tensor([3, 3]), kappa, "qwen2.5", dtype=D), [1.2560660, -0.7439340])
    close(math_reward(right_wrong, torch.tensor([3, 3]), kappa, "qwen3", dtype=D), [1.8535534, -0.7439340])
    close(math_reward(torch.tensor([True]), torch.tensor([0]), kappa, "qwen3", dtype=D), [1.0])
    assert math.isclose(float(math_reward(torch.tensor([True]), torch.tensor([3]), 0.0)[0]), 1.0)
