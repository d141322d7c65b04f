"""Every evaluation shows a bar over its episodes (``run``'s and ``eval --agent model``'s), and the
summaries name the model."""

from __future__ import annotations

import hashlib
import json

import yaml

from spear_train.cli.main import main
from spear_train.rollout.workers import StepOutcome
from spear_train.training.loop import run_seeds
from spear_train.training.progress import EvalBar
from spear_train.training.run_config import resolve_run_config
from tests.rollout.toy import GUESS_ID
from tests.training.test_loop import tiny_run


class _Pool:
    num_envs = 3

    def step(self, actions):
        return {i: StepOutcome(terminated=i == 0, truncated=i == 1) for i in actions}


def test_the_bar_counts_episodes_as_steps_end_them(capsys):
    bar = EvalBar(5, "eval test")
    pool = bar.watch(_Pool())
    assert pool.num_envs == 3  # everything else passes through
    pool.step({0: "a", 1: "b", 2: "c"})
    assert bar._bar.n == 2
    bar.set_done(5)
    bar.close()
    err = capsys.readouterr().err
    assert "eval test" in err and "0/5" in err and "5/5" in err
    silent = EvalBar(5, "")
    assert silent.watch(pool) is pool and silent._bar is None


def test_run_shows_a_bar_on_every_evaluation_and_names_the_model(tiny_policy_dir, tmp_path, capsys):
    cfg = resolve_run_config(tiny_run(tiny_policy_dir, tmp_path, GUESS_ID, "alfworld", "grpo", log_mode="bar"))
    run_seeds(cfg)
    captured = capsys.readouterr()
    for step in (0, 2):
        assert f"eval @ step {step}" in captured.err and "2/2" in captured.err
    assert f"grpo from {tiny_policy_dir} on {GUESS_ID}" in captured.out


def test_eval_of_a_model_shows_a_bar_and_names_the_model(tiny_policy_dir, tmp_path, capsys):
    values = tiny_run(tiny_policy_dir, tmp_path, GUESS_ID, "alfworld", "grpo")
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({k: values[k] for k in ("task_family", "env_imports", "max_turns",
                                                             "max_response_tokens", "eval_batch")}))
    args = ["eval", "--env", GUESS_ID, "--checkpoint", str(tiny_policy_dir), "--config", str(config),
            "--episodes", "3", "--device", "cpu"]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert f"eval model {tiny_policy_dir} seed 0" in captured.err and "3/3" in captured.err
    assert captured.out.startswith(f"model {tiny_policy_dir} on {GUESS_ID}, seed 0: success")
    out = tmp_path / "result.json"
    assert main(args + ["--no-progress", "--out", str(out)]) == 0
    assert "3/3" not in capsys.readouterr().err
    # the result names the evaluated weights: `sha256sum model.safetensors` of the checkpoint folder
    model = json.loads(out.read_text())["model"]
    assert model["name"] == str(tiny_policy_dir)
    assert model["weights_sha256"] == hashlib.sha256((tiny_policy_dir / "model.safetensors").read_bytes()).hexdigest()
