"""``spear-bench sft``'s evaluation and ``spear-bench run``'s step-0 evaluation are one harness on one task
list: the same policy gets the same figure from both, episode for episode (docs/models.md, 'Evaluation')."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pytest

from spear_train.models import builtin
from spear_train.sft.evaluate import EvalConfig, evaluate_policy
from spear_train.training import evaluation
from spear_train.training.loop import run_seeds
from spear_train.training.run_config import resolve_run_config

MODEL, ENV_ID, EPISODES = "spear-tiny-webshop", "spear/WebShop-v0", 4


@pytest.fixture(scope="module")
def shipped_policy():
    if not (builtin.CHECKPOINT_ROOT / MODEL / "model.safetensors").is_file():
        pytest.skip(f"{MODEL} is not shipped in this checkout")
    from spear_train.policy import load_policy

    return load_policy(MODEL, device="cpu")


def test_sft_eval_and_run_step0_eval_give_the_same_figure(shipped_policy, tmp_path, monkeypatch):
    played = {}  # temperature -> the episodes sft's evaluation played (the real harness, observed)

    def observed(*args, **kwargs):
        result = real(*args, **kwargs)
        played[kwargs.get("temperature")] = [asdict(e) for e in result.summaries]
        return result

    real = evaluation.evaluate
    monkeypatch.setattr(evaluation, "evaluate", observed)
    sft = evaluate_policy(shipped_policy, ENV_ID, EvalConfig(tasks=EPISODES, group_size=2), progress=False)
    monkeypatch.setattr(evaluation, "evaluate", real)
    # spear-bench run --env webshop (laptop defaults) with the same number of evaluation episodes; one small
    # training step so the run is short: it cannot change the step-0 evaluation
    cfg = resolve_run_config({"env": "webshop", "eval_episodes": EPISODES, "steps": 1, "groups_per_step": 1,
                              "group_size": 2, "device": "cpu", "log_mode": "quiet", "out": str(tmp_path)})
    (summary,) = run_seeds(cfg)
    run = Path(summary["run_dir"])
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    step0 = next(r for r in rows if r["kind"] == "eval" and r["step"] == 0)
    figure = sft["run_decoding"]
    assert step0["episodes"] == figure["episodes"] == EPISODES
    assert step0["success"] == figure["success"] and step0["success_se"] == figure["success_se"]
    assert step0["mean_length"] == figure["mean_steps"]
    # episode for episode: the same tasks, the same sampled actions
    step0_episodes = [json.loads(x) for x in (run / "eval" / "step_000000.jsonl").read_text().splitlines()]
    assert played[cfg.eval_temperature] == step0_episodes
    assert [e["seed"] for e in step0_episodes] == list(range(EPISODES))
    assert sft["config"]["run"]["max_turns"] == cfg.max_turns == 10
