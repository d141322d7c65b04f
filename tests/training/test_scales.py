"""Per-scale run settings (spear_train/training/scales.py): the paper's figures, the laptop values the
leaderboard baselines train with, schedules that end by each run's last step, and the one ConfigError."""

from __future__ import annotations

import ast
import warnings
from pathlib import Path

import pytest

import spear_train
from spear_train.algorithms import PRESET_NAMES, replay_loss_weight, tool_bonus_decay
from spear_train.cli.main import main
from spear_train.config_error import ConfigError, ConfigWarning
from spear_train.training.algo_adapter import algorithm_config
from spear_train.training.config_check import check_run_config
from spear_train.training.run_config import resolve_run_config
from spear_train.training.scales import SCALES, schedule_warnings

ENVS = ("alfworld", "webshop", "math")
SPEAR_PRESETS = [p for p in PRESET_NAMES if p.endswith("+spear")]


def _spear_runs():
    for scale in SCALES:
        for env in ENVS:
            for algo in SPEAR_PRESETS:
                if not (env == "math" and "gigpo" in algo):
                    yield scale, env, algo


@pytest.mark.parametrize("scale, env, algo", list(_spear_runs()))
def test_schedules_reach_their_end_values_by_the_last_step(scale, env, algo):
    cfg = resolve_run_config({"scale": scale, "env": env, "algo": algo})
    algo_cfg = algorithm_config(cfg)
    assert algo_cfg.enable_replay and algo_cfg.tool_bonus_mode == "cosine"  # both schedules are live
    last = cfg.steps
    c_end = replay_loss_weight(last, algo_cfg.replay_warmup_steps, algo_cfg.replay_loss_coef)
    kappa_end = tool_bonus_decay(last, algo_cfg.tool_bonus_steps, algo_cfg.tool_bonus_mode)
    assert c_end == pytest.approx(algo_cfg.replay_loss_coef, abs=1e-12), \
        f"{scale}/{env}: replay warm-up T={algo_cfg.replay_warmup_steps} outlasts the {last}-step run"
    assert kappa_end == pytest.approx(0.0, abs=1e-12), \
        f"{scale}/{env}: tool-bonus decay T_tc={algo_cfg.tool_bonus_steps} outlasts the {last}-step run"
    assert schedule_warnings(last, algo_cfg) == []


def test_paper_scale_is_the_papers_table():
    alf, web, math_ = (resolve_run_config({"scale": "paper", "env": env, "algo": "spear"}) for env in ENVS)
    assert (alf.groups_per_step, alf.group_size, alf.max_turns, alf.steps, alf.mini_batch_size) == (32, 8, 50, 200, 1024)
    assert (web.max_turns, web.steps, web.mini_batch_size, web.max_prompt_tokens) == (15, 350, 256, 4096)
    assert (math_.groups_per_step, math_.group_size, math_.max_response_tokens, math_.max_turns) == (128, 16, 16384, 8)
    assert math_.steps == 300 and algorithm_config(math_).replay_warmup_steps == 300  # the warm-up completes
    assert alf.lr == web.lr == math_.lr == 1e-6 and alf.history_length == 2
    assert (alf.eval_temperature, web.eval_temperature, math_.eval_temperature) == (0.4, 0.4, 1.0)
    assert (alf.eval_every, alf.eval_episodes, math_.eval_episodes) == (5, 128, 60)


@pytest.mark.parametrize("env", ENVS)
def test_laptop_scale_values_the_baselines_train_with(env):
    cfg = resolve_run_config({"env": env})
    algo = algorithm_config(cfg)
    groups = 16 if env == "math" else 4  # math steps are cheap: 16 groups give a few mixed ones a step
    assert (cfg.scale, cfg.steps, cfg.groups_per_step, cfg.group_size, cfg.eval_episodes) == ("laptop", 20, groups, 4, 100)
    assert (algo.replay_buffer_size, algo.replay_warmup_steps, algo.tool_bonus_steps) == (32, 10, 20)
    assert cfg.eval_temperature == 0.4


def test_a_schedule_longer_than_the_run_is_named_with_what_it_leaves_unfinished():
    algo = algorithm_config(resolve_run_config({"env": "math", "scale": "paper"}))
    assert algo.replay_warmup_steps == 300
    (replay, bonus) = schedule_warnings(150, algo)
    assert "algorithm.replay_warmup_steps=300" in replay and "steps=150" in replay and "reaches only 0.5 of 1" in replay
    assert "algorithm.tool_bonus_steps=200" in bonus and "steps=150" in bonus and "0.146" in bonus
    assert schedule_warnings(200, algo) == [replay.replace("150", "200").replace("0.5 of", "0.75 of")]
    plain = algorithm_config(resolve_run_config({"env": "math", "scale": "paper", "algo": "drbot"}))
    assert schedule_warnings(1, plain) == []  # no replay, no tool bonus: nothing to finish


def test_check_run_config_warns_and_still_returns_the_config(tmp_path):
    cfg = resolve_run_config({"env": "webshop", "algo": "grpo+spear", "steps": 5, "out": str(tmp_path)})
    with pytest.warns(ConfigWarning) as caught:
        assert check_run_config(cfg) is cfg
    messages = [str(w.message) for w in caught]
    assert any("replay_warmup_steps=10" in m and "steps=5" in m for m in messages)
    assert any("tool_bonus_steps=20" in m and "steps=5" in m for m in messages)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConfigWarning)  # the defaults themselves never warn
        check_run_config(resolve_run_config({"env": "webshop", "algo": "grpo+spear", "out": str(tmp_path)}))


def test_cli_prints_the_warning_on_stderr_and_runs(tmp_path, capsys, monkeypatch):
    args = ["run", "--print-config", "--env", "alfworld", "--out", str(tmp_path),
            "--set", "algorithm.replay_warmup_steps=40"]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert "spear-bench: warning: algorithm.replay_warmup_steps=40 is longer than the run (steps=20)" in captured.err
    assert "replay_warmup_steps: 40" in captured.out and "spear-bench: warning" not in captured.out
    assert main(args[:-2]) == 0 and "spear-bench: warning" not in capsys.readouterr().err
    monkeypatch.setenv("RANK", "1")  # a torchrun rank other than 0 resolves the same config: silent
    assert main(args) == 0 and "spear-bench: warning" not in capsys.readouterr().err


def test_bad_algorithm_override_is_one_config_error_naming_key_value_and_rule(tmp_path):
    cfg = resolve_run_config({"out": str(tmp_path)}, None, {"algorithm": {"clip_ratio_high": -0.5}})
    with pytest.raises(ConfigError) as err:
        algorithm_config(cfg)
    assert str(err.value) == "algorithm: AlgorithmConfig.clip_ratio_high = -0.5: must be >= 0"
    assert (err.value.key, err.value.value) == ("algorithm.clip_ratio_high", -0.5)
    with pytest.raises(ConfigError, match="algo: unknown preset 'ppo'") as err:
        algorithm_config(resolve_run_config({"algo": "ppo"}))
    assert err.value.key == "algo"


def test_one_config_error_class_in_the_package():
    package = Path(spear_train.__file__).parent
    defined = [str(path.relative_to(package)) for path in package.rglob("*.py")
               for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
               if isinstance(node, ast.ClassDef) and node.name == "ConfigError"]
    assert defined == ["config_error.py"]
    from spear_train.algorithms import ConfigError as algorithms_error
    from spear_train.training import run_config

    assert algorithms_error is run_config.ConfigError is ConfigError


def test_prompt_format_is_validated_and_chat_raises_the_prompt_limit_to_an_episode():
    from spear_train.config_error import ConfigError
    from spear_train.training.run_config import resolve_run_config

    window = resolve_run_config({"env": "alfworld"})
    chat = resolve_run_config({"env": "alfworld", "prompt_format": "chat"})
    assert (window.prompt_format, chat.prompt_format) == ("", "chat")
    assert chat.max_prompt_tokens == 2048 > window.max_prompt_tokens
    assert resolve_run_config({"env": "alfworld", "prompt_format": "chat", "max_prompt_tokens": 1000}).max_prompt_tokens == 1000
    assert resolve_run_config({"env": "alfworld", "scale": "paper", "prompt_format": "chat"}).max_prompt_tokens == 8192
    with pytest.raises(ConfigError, match="prompt_format must be"):
        resolve_run_config({"env": "alfworld", "prompt_format": "scroll"})
    with pytest.raises(ConfigError, match=r"one of \['window'\] for spear/WebShop-v0"):
        resolve_run_config({"env": "webshop", "prompt_format": "chat"})
