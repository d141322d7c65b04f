"""``spear-bench sft``'s evaluation and ``spear-bench run``'s step-0 evaluation are one harness on one task
list: the same policy gets the same figure from both (docs/models.md, 'Evaluation')."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from spear_train.models import builtin
from spear_train.sft.evaluate import EvalConfig, evaluate_policy
from spear_train.training.loop import run_seeds
from spear_train.training.run_config import resolve_run_config

MODEL, ENV_ID, EPISODES = "spear-tiny-alfworld", "spear/ALFWorld-v0", 4


@pytest.fixture(scope="module")
def shipped_policy():
    if not (builtin.CHECKPOINT_ROOT / MODEL / "model.safetensors").is_file():
        pytest.skip(f"{MODEL} is not shipped in this checkout")
    from spear_train.policy import load_policy

    return load_policy(MODEL, device="cpu")


def test_sft_eval_and_run_step0_eval_give_the_same_figure(shipped_policy, tmp_path):
    sft = evaluate_policy(shipped_policy, ENV_ID, EvalConfig(tasks=EPISODES, group_size=2), progress=False)
    # spear-bench run --env alfworld (laptop defaults) with the same number of evaluation episodes; one
    # small training step so the run is short: it cannot change the step-0 evaluation
    cfg = resolve_run_config({"env": "alfworld", "eval_episodes": EPISODES, "steps": 1, "groups_per_step": 1,
                              "group_size": 2, "device": "cpu", "log_mode": "quiet", "out": str(tmp_path)})
    (summary,) = run_seeds(cfg)
    rows = [json.loads(x) for x in (Path(summary["run_dir"]) / "metrics.jsonl").read_text().splitlines()]
    step0 = next(r for r in rows if r["kind"] == "eval" and r["step"] == 0)
    figure = sft["run_decoding"]
    assert step0["episodes"] == figure["episodes"] == EPISODES
    assert step0["success"] == figure["success"] and step0["success_se"] == figure["success_se"]
    # per-episode lengths and malformed replies add up the same: the same episodes were played
    assert step0["mean_length"] == figure["mean_steps"]
    assert step0["invalid_frac"] == figure["format_invalid_rate"]
    assert sft["config"]["run"]["max_turns"] == cfg.max_turns == 30
