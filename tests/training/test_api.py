"""``spear_train.train(config)``: the documented Python entry point, on a toy env and a tiny policy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

import spear_train
from spear_train.config_error import ConfigError
from spear_train.training.api import resolve_config
from spear_train.training.run_config import resolve_run_config
from tests.rollout.toy import GUESS_ID
from tests.training.test_loop import tiny_run


def test_train_runs_a_dict_config_and_returns_per_seed_summaries(tiny_policy_dir, tmp_path):
    values = tiny_run(tiny_policy_dir, tmp_path, GUESS_ID, "alfworld", "grpo", seeds=[0, 1], steps=1,
                      eval_every=1, checkpoint_every=1)
    summaries = spear_train.train(values)
    assert [s["seed"] for s in summaries] == [0, 1]
    for s in summaries:
        run = Path(s["run_dir"])
        evals = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines() if '"eval"' in x]
        assert [r["step"] for r in evals] == [0, 1]
        assert (s["before"], s["after"]) == (evals[0]["success"], evals[1]["success"])
        assert 0.0 <= s["before_se"] and 0.0 <= s["after_se"]


def test_dict_yaml_path_and_run_config_resolve_alike(tiny_policy_dir, tmp_path):
    values = tiny_run(tiny_policy_dir, tmp_path, GUESS_ID, "alfworld", "gigpo")
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(values))
    from_dict, from_file = resolve_config(values), resolve_config(path)
    assert from_dict == from_file == resolve_config(resolve_run_config(values))


def test_bad_configs_are_refused_naming_the_key(tmp_path):
    with pytest.raises(ConfigError, match="config: unknown config key 'stepz'"):
        spear_train.train({"stepz": 3})
    with pytest.raises(ConfigError, match="algorithm: .*no_such_knob"):
        spear_train.train({"algorithm": {"no_such_knob": 1}, "out": str(tmp_path)})
    with pytest.raises(TypeError, match="config must be a RunConfig"):
        spear_train.train(42)
