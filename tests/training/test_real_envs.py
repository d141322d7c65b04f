"""The loop on the three real envs at tiny scale: laptop env kwargs (train split for training, held-out
split for evaluation), two steps of every preset, distinct held-out tasks, replayable result records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from spear_envs.core import EpisodeRecord, replay
from spear_train.algorithms.presets import PRESET_NAMES
from spear_train.training.loop import run_seeds
from spear_train.training.run_config import ENV_IDS, resolve_run_config


CASES = [(env, algo) for env in sorted(ENV_IDS) for algo in PRESET_NAMES
         if not (env == "math" and "gigpo" in algo)]  # GiGPO needs env states; math has none


@pytest.mark.parametrize("env, algo", CASES)
def test_every_preset_runs_two_steps_on_the_real_env(tiny_policy_dir, tmp_path, env, algo):
    cfg = resolve_run_config(dict(
        env=env, algo=algo, model=str(tiny_policy_dir), steps=2, groups_per_step=1, group_size=2, max_turns=2,
        max_response_tokens=8, eval_episodes=3, eval_every=2, eval_batch=3, mini_batch_size=8,
        micro_batch_size=4, out=str(tmp_path), log_mode="quiet", device="cpu", checkpoint_every=2,
        env_kwargs=dict(sandbox="subprocess") if env == "math" else {},
        # free decoding: an untrained policy's rejected commands are penalised, so 2-turn groups that all
        # lose still differ in score and leave samples to train on (constrained, they would tie at 0);
        # the toy tokenizer is not trained on game text, so prompts take more tokens than the laptop limit
        constrained_decoding=False, max_prompt_tokens=4096,
        algorithm=dict(replay_buffer_size=1, replay_warmup_steps=2, tool_bonus_steps=2)))
    assert cfg.eval_env_kwargs["split"] != cfg.env_kwargs.get("split", "train")  # held out
    (summary,) = run_seeds(cfg)
    run = Path(summary["run_dir"])
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if r["kind"] == "train"] == [1, 2]
    assert all(r["samples"] > 0 for r in rows if r["kind"] == "train")
    evaluated = [json.loads(x) for x in (run / "eval" / "step_000002.jsonl").read_text().splitlines()]
    assert len({e["task_id"] for e in evaluated}) == 3  # three distinct held-out tasks
    result = json.loads((run / "result.json").read_text())
    records = [EpisodeRecord.from_dict(e) for e in result["runs"][0]["episodes"]]
    assert len(records) == 3
    for record in records:
        assert record.env_kwargs["split"] == cfg.eval_env_kwargs["split"]
        assert replay(record).matches(record)
