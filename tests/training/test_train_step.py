"""One ``Trainer.train_step`` on hand-made samples (tests/training/fixed_rollouts.py) instead of a rollout:
scores with the tool bonus and the invalid penalty, GRPO and GiGPO advantages, flagged samples, pi_old,
the loss settings and weights each optimiser pass receives, and SPEAR's buffer and replay pass.

``optimise`` is wrapped (not replaced): every call is recorded with the log-probs of its samples under
the model as it was when the call started, then the real update runs."""

from __future__ import annotations

import pytest
import torch

import tests.training.fixed_rollouts as fx
from spear_train.training import trainer as trainer_module
from spear_train.training.logprobs import response_logprobs
from spear_train.training.trainer import Trainer
from spear_train.training.progress import Progress
from spear_train.training.run_config import resolve_run_config
from spear_train.training.run_dir import RunDir
from tests.rollout.toy import CHAT_ID
from tests.training.toy_train import COIN_ID

T_BONUS = T_REPLAY = 4  # tool_bonus_steps and replay_warmup_steps of these runs


@pytest.fixture
def calls(monkeypatch):
    """Every ``optimise`` call of the loop: batch, settings, keyword arguments and ``fresh`` log-probs."""
    recorded = []
    real = trainer_module.optimise

    def spy(model, optimizer, batch, settings, **kwargs):
        with torch.no_grad():
            fresh = [response_logprobs(model, [p], [r], kwargs["pad_id"], with_entropy=False)[0][0].tolist()
                     for p, r in zip(batch.rows("prompt_ids"), batch.rows("response_ids"))]
        recorded.append(dict(batch=batch, settings=settings, fresh=fresh, **kwargs))
        return real(model, optimizer, batch, settings, **kwargs)

    monkeypatch.setattr(trainer_module, "optimise", spy)
    return recorded


@pytest.fixture
def make_trainer(tiny_policy_dir, tmp_path):
    made = []

    def make(algo: str, rollouts: dict, *, ppo_epochs: int = 1, math: bool = False, turns: int = 0,
             **algorithm) -> Trainer:
        values = dict(env=CHAT_ID if math else COIN_ID, task_family="math" if math else "alfworld", algo=algo,
                      model=str(tiny_policy_dir), env_imports=["tests.rollout.toy", "tests.training.toy_train"], steps=3, groups_per_step=1, group_size=1,
                      max_turns=4, max_response_tokens=8, mini_batch_size=4, micro_batch_size=2, ppo_epochs=ppo_epochs,
                      train_turns_per_episode=turns, out=str(tmp_path), log_mode="quiet", device="cpu",
                      algorithm=dict(group_filter_ratio=1.0, filter_void_turn=True, tool_bonus_mode="cosine",
                                     tool_bonus_steps=T_BONUS, replay_warmup_steps=T_REPLAY, replay_buffer_size=1,
                                     **algorithm))
        cfg = resolve_run_config(values)
        run_dir = RunDir(tmp_path / f"run{len(made)}", resume=False, tensorboard=False)
        trainer = Trainer(cfg, 0, run_dir, Progress("quiet", cfg.steps), resume=False)
        trainer.rollouts.close()
        trainer.rollouts = fx.FixedRollouts(rollouts)
        made.append(run_dir)
        return trainer

    yield make
    for run_dir in made:
        run_dir.close()


def _by_first_id(batch, values) -> dict[int, object]:
    return {r[0]: v for r, v in zip(batch.rows("response_ids"), values)}


def _check_settings(call, algo, replay: bool, flagged_in_denominator: bool = True):
    s = call["settings"]
    assert s.loss_mode == (algo.replay_policy_loss if replay else algo.policy_loss)
    assert (s.clip_low, s.clip_high, s.dual_clip_c) == (algo.clip_ratio_low, algo.clip_ratio_high, algo.dual_clip_c)
    assert (s.loss_agg_mode, s.norm_length, s.entropy_coef) == (algo.loss_agg_mode, 8, algo.entropy_coef)
    cov = (algo.replay_clip_cov_ratio, algo.replay_clip_cov_lb, algo.replay_clip_cov_ub) if replay else \
        (algo.clip_cov_ratio, algo.clip_cov_lb, algo.clip_cov_ub)
    assert (s.clip_cov_ratio, s.clip_cov_lb, s.clip_cov_ub) == cov
    # agent envs: flagged samples stay in the loss denominator; math: they leave the loss entirely
    assert s.flagged_in_loss_denominator is flagged_in_denominator
    assert (call["mini_batch_size"], call["micro_batch_size"], call["grad_clip"]) == (4, 2, 1.0)


def _check_pi_old(call):
    """The first on-policy pass starts from pi_old: its old log-probs are the model's own (ratio 1)."""
    for old, fresh in zip(call["batch"].rows("old_log_probs"), call["fresh"]):
        assert len(old) == len(fresh)
        assert max(abs(a - b) for a, b in zip(old, fresh)) < 1e-5


@pytest.mark.parametrize("algo, clip_high", [("grpo", 0.2), ("drbot", 0.28), ("gigpo", 0.2), ("drbot-gigpo", 0.28)])
def test_one_step_scores_advantages_flags_and_loss_settings(make_trainer, calls, algo, clip_high):
    trainer = make_trainer(algo, {1: fx.agent_rollout(1)}, gigpo_step_weight=0.5)
    row = trainer.train_step(1)
    a = trainer.algo
    k = fx.kappa(1, T_BONUS)
    scores = fx.agent_scores(k)
    if a.advantage_estimator == "gigpo":
        expected = fx.gigpo_reference(scores, a.gamma, 0.5)
    else:
        expected = fx.grpo_reference(scores, norm=algo == "grpo")
    flags = fx.flagged()
    expected = [0.0 if f else x for x, f in zip(expected, flags)]
    assert row["kappa"] == pytest.approx(k) and row["c"] == 0.0 and row["replay_batch"] == 0
    assert row["score_mean"] == pytest.approx(sum(scores) / len(scores))
    assert row["flagged_frac"] == pytest.approx(sum(flags) / len(flags))
    (on,) = calls
    got = _by_first_id(on["batch"], on["batch"].advantages.tolist())
    keep = _by_first_id(on["batch"], on["batch"].keep.tolist())
    for n, (adv, flag) in enumerate(zip(expected, flags)):
        assert got[fx.first_id(1, n)] == pytest.approx(adv, abs=1e-6), f"sample {n}"
        assert keep[fx.first_id(1, n)] is (not flag)
    assert sorted(got) == [fx.first_id(1, n) for n in range(len(expected))]  # every sample trained once
    _check_settings(on, a, replay=False)
    assert a.clip_ratio_high == clip_high and on.get("loss_weight", 1.0) == 1.0
    _check_pi_old(on)
    assert row["optimizer_steps"] == 4  # 14 samples in mini-batches of 4


def test_ppo_epochs_make_one_pass_each(make_trainer, calls):
    trainer = make_trainer("grpo", {1: fx.agent_rollout(1)}, ppo_epochs=2)
    row = trainer.train_step(1)
    assert len(calls) == 2 and row["optimizer_steps"] == 8
    first, second = (sorted(c["batch"].rows("response_ids")) for c in calls)
    assert first == second
    _check_pi_old(calls[0])
    # the second pass keeps the pre-update log-probs as pi_old, and the policy has moved since
    moved = max(abs(a - b) for old, fresh in zip(calls[1]["batch"].rows("old_log_probs"), calls[1]["fresh"])
                for a, b in zip(old, fresh))
    assert moved > 1e-5


def test_train_turns_per_episode_trains_that_many_turns_of_each_trajectory(make_trainer, calls):
    trainer = make_trainer("grpo", {1: fx.agent_rollout(1)}, turns=1)
    row = trainer.train_step(1)
    (on,) = calls
    trained = sorted(r[0] for r in on["batch"].rows("response_ids"))
    starts = [0]
    for tr in fx.AGENT_TRAJS[:-1]:
        starts.append(starts[-1] + len(tr.turns))
    per_traj = [[fx.first_id(1, s + i) for i in range(len(tr.turns))] for s, tr in zip(starts, fx.AGENT_TRAJS)]
    assert row["kept_samples"] == 14 and row["trained_samples"] == len(trained) == len(fx.AGENT_TRAJS)
    assert all(sum(i in ids for i in trained) == 1 for ids in per_traj)  # one turn of each trajectory


def test_spear_buffer_admits_only_positive_unflagged_samples_and_replays_earlier_steps(make_trainer, calls):
    """Step 1 stores its A > 0, unflagged samples; no replay yet. Step 2 drains step 1's samples into a
    replay pass with loss weight c(2), the replay loss settings, P50 advantages ``s - b`` and the
    collection-time old log-probs; step 2's own samples are stored only after that."""
    trainer = make_trainer("grpo+spear", {1: fx.agent_rollout(1), 2: fx.agent_rollout(2)})
    a = trainer.algo
    scores = fx.agent_scores(fx.kappa(1, T_BONUS))
    adv = [0.0 if f else x for x, f in zip(fx.grpo_reference(scores, norm=True), fx.flagged())]
    row1 = trainer.train_step(1)
    assert len(calls) == 1 and row1["replay_batch"] == 0, "step 1 must not replay its own samples"
    assert row1["c"] == pytest.approx(fx.replay_weight(1, T_REPLAY))
    (chunk,) = trainer.buffer.state_dict()["chunks"]
    stored = {r[0]: s for r, s in zip(chunk["samples"]["response_ids"].tolist(), chunk["scores"].tolist())}
    admitted = {fx.first_id(1, n): s for n, (s, x) in enumerate(zip(scores, adv)) if x > 0}
    assert fx.first_id(1, 1) not in stored  # the flagged sample of the best trajectory
    assert stored == pytest.approx(admitted)
    b, b_std = fx.group_stats(scores)
    assert trainer.history.p50() == pytest.approx((b, b_std))
    pi_old_1 = _by_first_id(calls[0]["batch"], calls[0]["fresh"])

    row2 = trainer.train_step(2)
    assert len(calls) == 3, "step 2: an on-policy pass, then a replay pass"
    on, rep = calls[1], calls[2]
    _check_settings(on, a, replay=False)
    _check_settings(rep, a, replay=True)
    assert on["settings"].loss_mode == "vanilla" and rep["settings"].loss_mode == "clip_cov"
    assert rep["loss_weight"] == pytest.approx(fx.replay_weight(2, T_REPLAY)) == row2["c"]
    assert 0 < rep["loss_weight"] < 1
    replayed = rep["batch"]
    assert row2["replay_batch"] == len(replayed) >= 1
    for resp, adv_hat, old in zip(replayed.rows("response_ids"), replayed.advantages.tolist(),
                                  replayed.rows("old_log_probs")):
        assert resp[0] in admitted, "replayed samples come from step 1's admitted samples only"
        assert adv_hat == pytest.approx(admitted[resp[0]] - b) and adv_hat >= 0
        assert old == pytest.approx(pi_old_1[resp[0]], abs=1e-6)  # collection-time pi_old, not refreshed
    assert bool(replayed.keep.all())
    (chunk,) = trainer.buffer.state_dict()["chunks"]  # drained, then refilled with step 2's samples
    assert chunk["step"] == 2
    assert {r[0] for r in chunk["samples"]["response_ids"].tolist()} == {fx.first_id(2, n) for n, x in enumerate(adv) if x > 0}


def test_math_step_scores_tool_bonus_and_buffer_needs_a_tool_call(make_trainer, calls):
    """Math (one sample per answer): ``s = +-1 + min(0.1 n_tc, 1) kappa``; flagged answers leave the loss;
    the buffer admits A > 0 answers that made a tool call; tool-reply tokens keep loss mask 0."""
    rollout = fx.math_rollout(1)
    trainer = make_trainer("grpo+spear", {1: rollout}, math=True)
    row = trainer.train_step(1)
    k = fx.kappa(1, T_BONUS)
    scores = fx.math_scores(k)
    flags = [not a.boxed for a in fx.MATH_ANSWERS]
    adv = [0.0 if f else x for x, f in zip(fx.math_grpo_reference(scores), flags)]
    assert row["score_mean"] == pytest.approx(sum(scores) / len(scores))
    (on,) = calls
    _check_settings(on, trainer.algo, replay=False, flagged_in_denominator=False)
    got = _by_first_id(on["batch"], on["batch"].advantages.tolist())
    assert [got[fx.first_id(1, n)] for n in range(len(adv))] == pytest.approx(adv, abs=1e-6)
    keep = _by_first_id(on["batch"], on["batch"].keep.tolist())
    assert [keep[fx.first_id(1, n)] for n in range(len(adv))] == [not f for f in flags]  # flagged: out of the loss
    masks = _by_first_id(on["batch"], on["batch"].rows("loss_mask"))
    assert [masks[s.response_ids[0]] for s in rollout.samples] == [s.loss_mask for s in rollout.samples]
    _check_pi_old(on)
    (chunk,) = trainer.buffer.state_dict()["chunks"]
    stored = {r[0] for r in chunk["samples"]["response_ids"].tolist()}
    admitted = {fx.first_id(1, n) for n, (a, x) in enumerate(zip(fx.MATH_ANSWERS, adv)) if x > 0 and a.tool_calls > 0}
    assert fx.first_id(1, 1) not in admitted and adv[1] > 0  # correct, but no tool call
    assert stored == admitted
