"""``--set key=value``: parsing, precedence between --config and the dedicated flags, errors naming the key."""

from __future__ import annotations

import pytest
import yaml

from spear_train.cli.main import main
from spear_train.config_error import ConfigError
from spear_train.training.run_config import resolve_run_config
from spear_train.training.set_overrides import parse_set_items


def test_items_parse_as_yaml_with_dotted_keys_into_mappings():
    parsed = parse_set_items(["lr=3e-4", "group_size=8", "seeds=[0, 2]", "algorithm.clip_ratio_high=0.3",
                              "algorithm.enable_replay=false", "env_kwargs.split=eval", "model=", "lr=5e-5"])
    assert parsed == {"lr": 5e-5, "group_size": 8, "seeds": [0, 2], "model": "",
                      "algorithm": {"clip_ratio_high": 0.3, "enable_replay": False},
                      "env_kwargs": {"split": "eval"}}


@pytest.mark.parametrize("item, named", [
    ("lr", "expected KEY=VALUE"), ("=3", "expected KEY=VALUE"), ("lr.x=1", "'lr' is not a mapping"),
    ("algorithm.a.b=1", "one dot"), ("algorithm.=1", "one dot"), ("steps=[1", "not valid YAML"),
])
def test_malformed_items_are_refused_naming_the_item(item, named):
    with pytest.raises(ConfigError, match=named) as exc:
        parse_set_items([item])
    assert repr(item) in str(exc.value)


def test_set_wins_over_the_file_and_loses_to_flags(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("lr: 1.0e-3\ngroup_size: 2\nsteps: 7\nalgorithm: {clip_ratio_low: 0.1}\n")
    cfg = resolve_run_config({"group_size": 16}, path, parse_set_items(
        ["lr=2e-4", "group_size=8", "algorithm.clip_ratio_high=0.3"]))
    assert (cfg.lr, cfg.group_size, cfg.steps) == (2e-4, 16, 7)
    assert (cfg.algorithm["clip_ratio_low"], cfg.algorithm["clip_ratio_high"]) == (0.1, 0.3)  # merged key by key
    assert cfg.algorithm["replay_warmup_steps"] == 10  # the env defaults underneath are kept


def test_set_selects_the_env_defaults_like_the_file_would():
    cfg = resolve_run_config({}, None, parse_set_items(["env=webshop", "scale=paper"]))
    assert (cfg.env, cfg.scale, cfg.max_turns, cfg.eval_env_kwargs) == ("webshop", "paper", 15, {"split": "test"})


@pytest.mark.parametrize("items, message", [
    (["lrr=3"], "--set: unknown config key 'lrr'"),
    (["group_size=many"], "--set: group_size must be int, got 'many'"),
    (['lr="3e-4"'], "YAML reads 3e-4 without a dot as text"),  # quoted: the file's hint applies
    (["steps=0"], "steps must be >= 1"),
])
def test_bad_keys_and_values_are_refused_naming_the_key(items, message):
    with pytest.raises(ConfigError) as exc:
        resolve_run_config({}, None, parse_set_items(items))
    assert message in str(exc.value)


def test_print_config_shows_set_values_and_the_lr_group_size_flags(capsys):
    assert main(["run", "--print-config", "--set", "lr=3e-4", "--set", "algorithm.clip_ratio_high=0.3"]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["lr"] == 3e-4 and printed["algorithm"]["clip_ratio_high"] == 0.3
    assert main(["run", "--print-config", "--lr", "2e-5", "--group-size", "8", "--set", "lr=0.5"]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert (printed["lr"], printed["group_size"]) == (2e-5, 8)


@pytest.mark.parametrize("item, named", [("bogus_key=1", "bogus_key"), ("algorithm.bogus_knob=1", "bogus_knob")])
def test_cli_refuses_a_bad_key_naming_it(capsys, item, named):
    assert main(["run", "--print-config", "--set", item]) == 2
    captured = capsys.readouterr()
    assert named in captured.err and captured.out == ""
