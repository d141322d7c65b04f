"""Each preset's own settings reach the training step: a test here fails when the loop ignores one of
them (a GiGPO preset computing GRPO advantages, Dr.BoT without its group filter, flags or clip-higher,
flagged samples keeping their advantage, SPEAR's replay pass with weight 1 instead of c(t) or with the
on-policy loss).

Every preset runs on the same hand-made rollouts (tests/training/fixed_rollouts.py) with its defaults;
only the schedule lengths (4 steps) and the buffer size (1, so step 2 replays) are shortened. The
expected numbers are recomputed in plain Python from what the preset *says*
(:func:`~spear_train.algorithms.presets.algorithm_preset`), not from the trainer's own config, and each
check first asserts that ignoring the setting would give a different number.
"""

from __future__ import annotations

import pytest
import torch

import tests.training.fixed_rollouts as fx
from spear_train.algorithms.presets import PRESET_NAMES, algorithm_preset
from spear_train.training import trainer as trainer_module
from spear_train.training.progress import Progress
from spear_train.training.run_config import resolve_run_config
from spear_train.training.run_dir import RunDir
from spear_train.training.trainer import Trainer
from tests.training.toy_train import COIN_ID

T = 4  # tool_bonus_steps and replay_warmup_steps of these runs
#: Group g0 (4 samples, a power of two) has the larger trajectory-score spread, so Dr.BoT's filter
#: (keep 0.75 x 2 groups -> 1) keeps exactly g0; a's void second turn is flagged by Dr.BoT's void filter;
#: "room" is shared by a and b (and by g1), so GiGPO's step part differs from GRPO.
TRAJS = (
    fx.Traj("g0", "a", 10.0, (fx.Turn("room"), fx.Turn("key", void=True), fx.Turn("door"))),
    fx.Traj("g0", "b", 0.0, (fx.Turn("room"),)),
    fx.Traj("g1", "c", 3.0, (fx.Turn("room"), fx.Turn("locked"))),
    fx.Traj("g1", "d", 0.0, (fx.Turn("room"), fx.Turn("locked", valid=False), fx.Turn("hall"))),
    fx.Traj("g1", "e", 1.0, (fx.Turn("room"), fx.Turn("locked"), fx.Turn("hall"))),
)
G0 = TRAJS[:2]


@pytest.fixture
def calls(monkeypatch):
    """Every ``optimise`` call of the step: its batch, loss settings and keyword arguments."""
    recorded = []
    real = trainer_module.optimise

    def spy(model, optimizer, batch, settings, **kwargs):
        recorded.append(dict(batch=batch, settings=settings, **kwargs))
        return real(model, optimizer, batch, settings, **kwargs)

    monkeypatch.setattr(trainer_module, "optimise", spy)
    return recorded


@pytest.fixture
def trainer_for(tiny_policy_dir, tmp_path):
    made = []

    def make(algo: str) -> Trainer:
        values = dict(env=COIN_ID, task_family="alfworld", algo=algo, model=str(tiny_policy_dir),
                      env_imports=["tests.rollout.toy", "tests.training.toy_train"], steps=3, groups_per_step=1,
                      group_size=1, max_turns=4, max_response_tokens=8, mini_batch_size=16, micro_batch_size=4,
                      out=str(tmp_path), log_mode="quiet", device="cpu",
                      algorithm=dict(tool_bonus_steps=T, replay_warmup_steps=T, replay_buffer_size=1))
        run_dir = RunDir(tmp_path / f"run{len(made)}", resume=False, tensorboard=False)
        made.append(run_dir)
        trainer = Trainer(resolve_run_config(values), 0, run_dir, Progress("quiet", 3), resume=False)
        trainer.rollouts.close()
        trainer.rollouts = fx.FixedRollouts({t: fx.agent_rollout(t, TRAJS) for t in (1, 2)})
        return trainer

    yield make
    for run_dir in made:
        run_dir.close()


def _expected_advantages(preset, kappa: float) -> tuple[list[float], list[float]]:
    """(what the preset's estimator gives, what the other estimator would) over the kept trajectories,
    flagged samples at 0 when the preset flags void turns."""
    trajs = G0 if preset.group_filter_ratio < 1 else TRAJS
    scores = fx.agent_scores(kappa, trajs)
    gigpo = fx.gigpo_reference(scores, preset.gamma, preset.gigpo_step_weight, trajs)
    grpo = fx.grpo_reference(scores, preset.norm_adv_by_std, trajs)
    want, other = (gigpo, grpo) if preset.advantage_estimator == "gigpo" else (grpo, gigpo)
    if preset.filter_void_turn:
        want = [0.0 if f else x for x, f in zip(want, fx.flagged(trajs))]
    return want, other


def _by_first_id(batch, values) -> dict[int, object]:
    return {r[0]: v for r, v in zip(batch.rows("response_ids"), values)}


@pytest.mark.parametrize("algo", PRESET_NAMES)
def test_on_policy_step_follows_the_preset(trainer_for, calls, algo):
    preset = algorithm_preset(algo, "alfworld")
    trainer = trainer_for(algo)
    row = trainer.train_step(1)
    spear, drbot = "spear" in algo, algo.startswith("drbot")
    kappa = fx.kappa(1, T) if spear else 0.0
    assert row["kappa"] == pytest.approx(kappa, abs=1e-12)
    # Dr.BoT's low-variance group filter keeps g0 only; the others train on every sample
    kept = G0 if drbot else TRAJS
    assert preset.group_filter_ratio == (0.75 if drbot else 1.0)
    assert row["samples"] == 12 and row["kept_samples"] == len(fx.flat(kept))
    (on,) = calls
    ids = [fx.first_id(1, n) for n in range(len(fx.flat(kept)))]
    assert sorted(r[0] for r in on["batch"].rows("response_ids")) == ids
    # advantages: the preset's estimator, flagged samples 0 (and ignoring either would show)
    want, other = _expected_advantages(preset, kappa)
    got = _by_first_id(on["batch"], on["batch"].advantages.tolist())
    assert [got[i] for i in ids] == pytest.approx(want, abs=1e-6)
    assert max(abs(a - b) for a, b in zip(want, other)) > 1e-3, "GRPO and GiGPO must differ on these samples"
    void = fx.flagged(kept).index(True)
    keep = _by_first_id(on["batch"], on["batch"].keep.tolist())
    assert keep[ids[void]] is (not preset.filter_void_turn) and preset.filter_void_turn == drbot
    if drbot:
        assert abs(other[void]) > 1e-3 and want[void] == 0.0  # the flag removed a real advantage
    # the loss the preset asks for: clip-higher, Clip-Cov, aggregation, entropy bonus
    s = on["settings"]
    assert (s.clip_low, s.clip_high) == (0.2, 0.28 if drbot else 0.2) == (preset.clip_ratio_low, preset.clip_ratio_high)
    assert s.loss_mode == ("clip_cov" if drbot else "vanilla") == preset.policy_loss
    assert s.loss_agg_mode == preset.loss_agg_mode and s.entropy_coef == preset.entropy_coef == 0.001
    assert s.flagged_in_loss_denominator and on.get("loss_weight", 1.0) == 1.0


@pytest.mark.parametrize("algo", PRESET_NAMES)
def test_replay_pass_follows_the_preset(trainer_for, calls, algo):
    """Step 2 of a SPEAR preset drains step 1's admitted samples into a replay pass with weight
    c(2) = (1 - cos(pi 2/4)) / 2 = 0.5, Clip-Cov and P50 advantages; without SPEAR there is none."""
    trainer = trainer_for(algo)
    trainer.train_step(1)
    row = trainer.train_step(2)
    preset = algorithm_preset(algo, "alfworld")
    if "spear" not in algo:
        assert not preset.enable_replay and row["c"] == 0.0 and row["replay_batch"] == 0 and len(calls) == 2
        return
    assert len(calls) == 3, "step 2: an on-policy pass, then a replay pass"
    rep = calls[2]
    c2 = fx.replay_weight(2, T)
    assert c2 == pytest.approx(0.5) and row["c"] == pytest.approx(c2)
    assert rep["loss_weight"] == pytest.approx(c2), "the replay loss is weighted by c(t), not 1"
    assert rep["settings"].loss_mode == preset.replay_policy_loss == "clip_cov"
    assert row["replay_batch"] == len(rep["batch"]) >= 1
    assert bool((rep["batch"].advantages >= 0).all()) and bool(rep["batch"].keep.all())
    step1 = {fx.first_id(1, n) for n in range(len(fx.flat(TRAJS)))}
    assert {r[0] for r in rep["batch"].rows("response_ids")} <= step1
    assert not torch.equal(rep["batch"].old_log_probs, torch.zeros_like(rep["batch"].old_log_probs))
