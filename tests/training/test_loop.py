"""The training loop end to end: every preset runs two steps on each env family (tiny model, tiny budget),
and a SIGKILLed run resumed with --resume repeats an uninterrupted run's later metrics exactly."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import gymnasium as gym
import pytest
import torch
import yaml

from spear_train.algorithms.presets import PRESET_NAMES
from spear_train.training.loop import run_seeds
from spear_train.training.run_config import resolve_run_config
from tests.rollout.toy import CHAT_ID, GUESS_ID
from tests.training.toy_train import COIN_ID

REPO = Path(__file__).resolve().parents[2]
TIMING_KEYS = ("time_rollout", "time_update", "time_step", "tokens_per_s")


def tiny_run(policy_dir, out, env_id, family, algo, **extra):
    values = dict(env=env_id, task_family=family, algo=algo, model=str(policy_dir), env_imports=["tests.rollout.toy", "tests.training.toy_train"],
                  steps=2, groups_per_step=2, group_size=2, max_turns=2, max_response_tokens=8, eval_episodes=2,
                  eval_every=2, eval_batch=2, mini_batch_size=8, micro_batch_size=4, out=str(out), log_mode="quiet",
                  device="cpu", checkpoint_every=2,
                  algorithm=dict(replay_buffer_size=1, replay_warmup_steps=2, tool_bonus_steps=2))
    values.update(extra)
    return values


ENV_CASES = [(GUESS_ID, "alfworld", p) for p in PRESET_NAMES] + \
            [(CHAT_ID, "math", p) for p in PRESET_NAMES if "gigpo" not in p]


@pytest.mark.parametrize("env_id, family, algo", ENV_CASES)
def test_every_preset_runs_two_steps(tiny_policy_dir, tmp_path, env_id, family, algo):
    cfg = resolve_run_config(tiny_run(tiny_policy_dir, tmp_path, env_id, family, algo))
    (summary,) = run_seeds(cfg)
    run = Path(summary["run_dir"])
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in rows if r["kind"] == "train"]
    assert [r["step"] for r in train] == [1, 2]
    assert [r["step"] for r in rows if r["kind"] == "eval"] == [0, 2]
    spear = "spear" in algo
    for r in train:
        assert r["samples"] > 0 and r["optimizer_steps"] >= 1
        # c(t) = (1 - cos(pi t / 2)) / 2 and kappa(t) = (1 + cos(pi t / 2)) / 2 with T = 2 (tiny_run); off without SPEAR
        assert r["c"] == pytest.approx([0.5, 1.0][r["step"] - 1] if spear else 0.0)
        assert r["kappa"] == pytest.approx([0.5, 0.0][r["step"] - 1] if spear else 0.0, abs=1e-12)
        # pi_old: every sample fits one mini-batch, which starts from the policy that computed the old
        # log-probs, so the importance ratio is 1 on every token
        assert r["trained_samples"] <= 8 and r["optimizer_steps"] == 1
        assert abs(r["approx_kl"]) < 1e-5
        if "drbot" not in algo:  # vanilla PPO-clip (Clip-Cov's clipfrac counts selected tokens instead)
            assert r["clipfrac"] == 0.0
    result = json.loads((run / "result.json").read_text())
    assert result["preset"] == algo and result["env"]["id"] == env_id
    assert len(result["runs"][0]["episodes"]) == 2  # per-episode eval records, replayable
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["algorithm"]["enable_replay"] == ("spear" in algo)
    assert (run / "learning_curve.png").is_file() and list((run / "checkpoints").glob("step_000002"))


def test_spear_replay_pass_runs_when_the_buffer_fills(tiny_policy_dir, tmp_path, monkeypatch):
    """Untrained samples win the letter-"a" env about half the time, so advantages are nonzero; a buffer
    of size 1 fills at once, so later steps drain it into a replay pass whose loss is weighted by
    c(t) = (1 - cos(pi t / 4)) / 2 (warm-up of 4 steps here: 0.5 at step 2, 0.854 at step 3), not by 1."""
    from spear_train.training import trainer as trainer_module

    weights = []
    real = trainer_module.optimise
    monkeypatch.setattr(trainer_module, "optimise",
                        lambda *a, **k: weights.append(k.get("loss_weight", 1.0)) or real(*a, **k))
    values = tiny_run(tiny_policy_dir, tmp_path, COIN_ID, "alfworld", "grpo+spear", steps=3, eval_every=3,
                      checkpoint_every=3, groups_per_step=2, group_size=4, max_turns=2)
    values["algorithm"]["replay_warmup_steps"] = 4
    (summary,) = run_seeds(resolve_run_config(values))
    rows = [json.loads(x) for x in (Path(summary["run_dir"]) / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in rows if r["kind"] == "train"]
    assert any(r["replay_batch"] > 0 and r.get("replay_optimizer_steps", 0) >= 1 for r in train[1:]), train
    c = {t: (1 - math.cos(math.pi * t / 4)) / 2 for t in (1, 2, 3)}
    assert [r["c"] for r in train] == pytest.approx([c[1], c[2], c[3]])
    replayed = [c[r["step"]] for r in train if r.get("replay_optimizer_steps", 0) >= 1]
    assert [w for w in weights if w != 1.0] == pytest.approx(replayed) and all(0 < w < 1 for w in replayed)


def test_result_names_the_start_weights_even_after_they_change(tiny_policy_dir, tmp_path):
    """result.json's model.weights_sha256 is `sha256sum model.safetensors` of the start policy; a run resumed
    after its start folder was overwritten keeps naming the weights it started from (saved in its checkpoint)."""
    import hashlib
    import shutil

    from transformers import AutoModelForCausalLM

    start = tmp_path / "start"
    shutil.copytree(tiny_policy_dir, start)
    digest = hashlib.sha256((start / "model.safetensors").read_bytes()).hexdigest()
    values = tiny_run(start, tmp_path / "runs", COIN_ID, "alfworld", "grpo", steps=1, eval_every=1,
                      checkpoint_every=1)
    (summary,) = run_seeds(resolve_run_config(values))
    result_path = Path(summary["run_dir"]) / "result.json"
    assert json.loads(result_path.read_text())["model"]["weights_sha256"] == digest

    other = AutoModelForCausalLM.from_pretrained(start)
    with torch.no_grad():
        for p in other.parameters():
            p.add_(0.01)
    other.save_pretrained(start)  # the start folder now holds other weights under the same path
    new_digest = hashlib.sha256((start / "model.safetensors").read_bytes()).hexdigest()
    assert new_digest != digest
    result_path.unlink()
    run_seeds(resolve_run_config(values), resume=True)  # finished: evaluates again and writes the result
    assert json.loads(result_path.read_text())["model"]["weights_sha256"] == digest
    (fresh,) = run_seeds(resolve_run_config({**values, "out": str(tmp_path / "fresh")}))
    assert json.loads((Path(fresh["run_dir"]) / "result.json").read_text())["model"]["weights_sha256"] == new_digest


def _cli(config, out, *extra):
    # the console script's entry point (``python -m spear_train.cli.main`` would load main.py twice)
    launcher = "import sys; from spear_train.cli.main import main; sys.exit(main())"
    return [sys.executable, "-c", launcher, "run", "--config", str(config), "--out", str(out), *extra]


def test_sigkill_then_resume_matches_uninterrupted_run(tiny_policy_dir, tmp_path):
    values = tiny_run(tiny_policy_dir, tmp_path, COIN_ID, "alfworld", "grpo+spear", steps=3, eval_every=3,
                      checkpoint_every=1, group_size=4, max_turns=2)
    values.pop("out")
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(values))
    # one torch thread in both processes: a different thread count rounds the update's sums differently
    # (~1e-8), and the rows must be equal, not close (an earlier test may have set this process to 1)
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    torch.set_num_threads(1)
    # uninterrupted reference, in this process
    run_seeds(resolve_run_config({**values, "out": str(tmp_path / "full")}))
    # interrupted: SIGKILL once step 2's checkpoint is complete
    killed_dir = tmp_path / "killed" / "grpo+spear-lettera-v0-seed0"
    proc = subprocess.Popen(_cli(config, tmp_path / "killed"), env=env, cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 240
        while not (killed_dir / "checkpoints" / "step_000002" / "manifest.json").exists():
            assert proc.poll() is None, "the run ended before it could be killed"
            assert time.time() < deadline
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    subprocess.run(_cli(config, tmp_path / "killed", "--resume"), env=env, check=True, cwd=REPO,
                   capture_output=True, timeout=300)

    def rows(folder):
        out = [json.loads(x) for x in (folder / "metrics.jsonl").read_text().splitlines()]
        return [{k: v for k, v in r.items() if k not in TIMING_KEYS} for r in out]

    full, resumed = rows(tmp_path / "full" / "grpo+spear-lettera-v0-seed0"), rows(killed_dir)
    assert [r["step"] for r in resumed if r["kind"] == "train"] == [1, 2, 3]
    assert resumed == full
    assert any(r.get("replay_batch", 0) > 0 for r in full if r["step"] == 3), "step 3 should replay"


def test_bad_config_is_a_clear_cli_error(tmp_path, capsys):
    from spear_train.cli.main import main

    bad = tmp_path / "bad.yaml"
    bad.write_text("group_sise: 3\n")
    assert main(["run", "--config", str(bad), "--out", str(tmp_path)]) == 2
    assert "unknown config key 'group_sise'" in capsys.readouterr().err
    bad.write_text("algorithm:\n  clip_ratio_low: 2.0\n")
    assert main(["run", "--config", str(bad), "--out", str(tmp_path), "--model", "/nonexistent"]) == 2
    assert "clip_ratio_low" in capsys.readouterr().err


def test_fresh_run_into_a_finished_run_folder_is_refused(tiny_policy_dir, tmp_path, capsys):
    from spear_train.cli.main import main

    config = tmp_path / "run.yaml"
    values = tiny_run(tiny_policy_dir, tmp_path, COIN_ID, "alfworld", "grpo", steps=1, eval_every=1, eval_episodes=1)
    config.write_text(yaml.safe_dump(values))
    assert main(["run", "--config", str(config)]) == 0
    before = (tmp_path / "grpo-lettera-v0-seed0" / "metrics.jsonl").read_text()
    assert main(["run", "--config", str(config)]) == 2
    assert "--resume" in capsys.readouterr().err
    assert (tmp_path / "grpo-lettera-v0-seed0" / "metrics.jsonl").read_text() == before


def test_missing_model_is_a_clear_cli_error(tmp_path, capsys):
    from spear_train.cli.main import main

    assert main(["run", "--env", "alfworld", "--out", str(tmp_path), "--model", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert "cannot load the model" in err and "nope" in err


def test_presets_from_one_policy_share_their_before_evaluation(tiny_policy_dir, tmp_path, monkeypatch):
    """``run_seeds(initial_evals=...)`` plays a seed's step-0 evaluation once for runs whose key matches
    (different presets, same policy and eval settings) and the reused "before" equals a fresh one."""
    from spear_train.training import evaluation

    calls = []
    real = evaluation.evaluate
    monkeypatch.setattr(evaluation, "evaluate", lambda *a, **k: calls.append(1) or real(*a, **k))
    shared: dict = {}
    befores = []
    for algo in ("grpo", "drbot+spear"):
        cfg = resolve_run_config(tiny_run(tiny_policy_dir, tmp_path / algo, GUESS_ID, "alfworld", algo))
        (summary,) = run_seeds(cfg, initial_evals=shared)
        befores.append((Path(summary["run_dir"]) / "eval" / "step_000000.jsonl").read_text())
    assert len(calls) == 3 and len(shared) == 1  # before once, after once per preset
    fresh = resolve_run_config(tiny_run(tiny_policy_dir, tmp_path / "fresh", GUESS_ID, "alfworld", "drbot+spear"))
    (summary,) = run_seeds(fresh)
    assert befores[0] == befores[1] == (Path(summary["run_dir"]) / "eval" / "step_000000.jsonl").read_text()
    other_eval = resolve_run_config(tiny_run(tiny_policy_dir, tmp_path / "t", GUESS_ID, "alfworld", "grpo",
                                             eval_temperature=0.9))
    run_seeds(other_eval, initial_evals=shared)
    assert len(shared) == 2  # another evaluation setting is a different key
