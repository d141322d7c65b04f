"""Run-config resolution: precedence, clear errors naming the key, round trip of the saved file."""

from __future__ import annotations

import pytest

from spear_train.config_error import ConfigError
from spear_train.training.run_config import RunConfig, load_run_config, resolve_run_config, save_run_config
from spear_train.training.scales import ENV_DEFAULTS


def test_precedence_env_defaults_then_yaml_then_flags(tmp_path):
    cfg = resolve_run_config({"env": "webshop"})
    assert cfg.max_turns == ENV_DEFAULTS["laptop"]["webshop"]["max_turns"]
    path = tmp_path / "c.yaml"
    path.write_text("max_turns: 7\nsteps: 3\ngroup_size: 2\nalgorithm:\n  clip_ratio_high: 0.3\n")
    cfg = resolve_run_config({"env": "webshop", "steps": 9}, path)
    assert (cfg.max_turns, cfg.steps, cfg.group_size) == (7, 9, 2)
    assert cfg.algorithm["clip_ratio_high"] == 0.3 and cfg.algorithm["replay_buffer_size"] == 32


def test_scale_paper_switches_env_defaults():
    cfg = resolve_run_config({"env": "alfworld", "scale": "paper"})
    assert (cfg.groups_per_step, cfg.group_size, cfg.max_turns, cfg.lr) == (32, 8, 50, 1e-6)


def test_scale_from_yaml_selects_defaults_and_flags_still_win(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("scale: paper\n")
    cfg = resolve_run_config({"env": "webshop", "max_turns": 3}, path)
    assert cfg.mini_batch_size == 256 and cfg.max_turns == 3


def test_unknown_yaml_key_is_named(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("stepz: 3\n")
    with pytest.raises(ConfigError, match=r"unknown config key 'stepz'.*steps"):
        resolve_run_config({}, path)


@pytest.mark.parametrize("text, key", [
    ("steps: three\n", "steps"),
    ("lr: -1\n", "lr"),
    ("group_size: 0\n", "group_size"),
    ("seeds: [1, x]\n", "seeds"),
    ("device: tpu\n", "device"),
    ("env: chess\n", "env"),
    ("micro_batch_size: 128\nmini_batch_size: 8\n", "micro_batch_size"),
    ("eval_temperature: true\n", "eval_temperature"),
])
def test_bad_values_are_named(tmp_path, text, key):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=key):
        resolve_run_config({}, path)


def test_yaml_must_be_a_mapping(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping"):
        resolve_run_config({}, path)
    path.write_text("steps: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        resolve_run_config({}, path)
    with pytest.raises(ConfigError, match="cannot read"):
        resolve_run_config({}, tmp_path / "missing.yaml")


def test_saved_config_round_trips(tmp_path):
    cfg = resolve_run_config({"env": "math", "seeds": [3, 4], "lr": 3e-4})
    save_run_config(cfg, tmp_path / "config.yaml")
    assert load_run_config(tmp_path / "config.yaml") == cfg


def test_int_is_accepted_for_float_fields():
    cfg = resolve_run_config({"lr": 1})
    assert cfg.lr == 1.0 and isinstance(cfg.lr, float)


def test_env_id_mapping():
    assert RunConfig(env="alfworld").env_id == "spear/ALFWorld-v0"
    assert RunConfig(env="spear/WebShop-v0").env_name == "webshop"


@pytest.mark.parametrize("scale", ["laptop", "paper"])
@pytest.mark.parametrize("env", ["alfworld", "webshop", "math"])
def test_each_env_trains_on_train_and_evaluates_held_out(env, scale):
    cfg = resolve_run_config({"env": env, "scale": scale})
    assert cfg.env_kwargs.get("split", "train") == "train"
    assert cfg.eval_env_kwargs["split"] in {"eval", "test", "eval_in_distribution", "eval_out_of_distribution"}
    assert cfg.eval_episodes >= (100 if env == "alfworld" and scale == "laptop" else 1)


def test_env_kwargs_merge_key_by_key_and_skip_other_envs(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("eval_env_kwargs:\n  split: eval_out_of_distribution\n")
    cfg = resolve_run_config({"env": "alfworld"}, path)
    assert cfg.eval_env_kwargs == {"split": "eval_out_of_distribution", "num_games": 140}
    assert cfg.env_kwargs["scene_size"] == "small"
    # a registered env that only borrows ALFWorld's preset settings gets none of ALFWorld's env kwargs
    cfg = resolve_run_config({"env": "spear-test/GuessWord-v0", "task_family": "alfworld"})
    assert cfg.env_kwargs == {} and cfg.eval_env_kwargs == {}


def test_print_config_shows_resolved_values(capsys):
    import yaml

    from spear_train.cli.main import main

    assert main(["run", "--env", "webshop", "--algo", "grpo", "--steps", "3", "--print-config"]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["steps"] == 3 and printed["eval_env_kwargs"] == {"split": "eval"}
    assert printed["algorithm"]["enable_replay"] is False
