"""Config checks at resolve time: --print-config refuses what a run would, with no traceback."""

from __future__ import annotations

import pytest

from spear_train.cli.main import main
from spear_train.config_error import ConfigError
from spear_train.training.config_check import check_out_folder
from spear_train.training.run_config import resolve_run_config
from spear_train.training.run_dir import RunDir, RunDirError


def _print_config(tmp_path, capsys, text=None, *flags):
    args = ["run", "--print-config", *flags]
    if text is not None:
        path = tmp_path / "c.yaml"
        path.write_text(text)
        args += ["--config", str(path)]
    code = main(args)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


@pytest.mark.parametrize("text", ["lr: .inf\n", "lr: -.inf\n", "grad_clip: .nan\n", "eval_temperature: .inf\n"])
def test_non_finite_numbers_are_refused(tmp_path, text):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=f"{text.split(':')[0]} must be a finite number"):
        resolve_run_config({}, path)


def test_yaml_reading_1e_4_as_a_string_gets_a_hint(tmp_path, capsys):
    code, err = _print_config(tmp_path, capsys, "lr: 1e-4\n")
    assert code == 2 and "lr must be float, got '1e-4'" in err and "1.0e-4" in err
    assert resolve_run_config({}, _write(tmp_path, "lr: 1.0e-4\n")).lr == 1e-4


def _write(tmp_path, text):
    path = tmp_path / "ok.yaml"
    path.write_text(text)
    return path


def test_zero_eval_episodes_is_refused_not_printed_as_nan(tmp_path, capsys):
    code, err = _print_config(tmp_path, capsys, None, "--eval-episodes", "0")
    assert code == 2 and "eval_episodes must be >= 1, got 0" in err


@pytest.mark.parametrize("text, key, words", [
    ("env_kwargs: {bogus: 1}\n", "env_kwargs", "unexpected keyword argument 'bogus'"),
    ("eval_env_kwargs:\n  split: nope\n", "eval_env_kwargs", "unknown split 'nope'"),
    ("env: webshop\nenv_kwargs: {bogus: 1}\n", "env_kwargs", "'bogus'"),
    ("env: math\neval_env_kwargs: {timeout_s: .inf}\n", "eval_env_kwargs", "timeout_s must be a finite number"),
    ("env: spear/NoSuchEnv-v0\ntask_family: alfworld\n", "env", "not a registered env"),
    ("algorithm: {clip_ratio_low: 2.0}\n", "algorithm", "clip_ratio_low"),
])
def test_print_config_refuses_what_the_run_would(tmp_path, capsys, text, key, words):
    code, err = _print_config(tmp_path, capsys, text)
    assert code == 2 and f"error: {key}:" in err and words in err


def test_bad_out_folders_are_clear_errors(tmp_path, capsys):
    a_file = tmp_path / "file"
    a_file.write_text("x")
    for out, words in [("/proc/spear-x", "cannot create run folders under /proc"),
                       (str(a_file / "runs"), "is not a folder")]:
        code, err = _print_config(tmp_path, capsys, None, "--out", out)
        assert code == 2 and "out:" in err and words in err
        with pytest.raises(ConfigError, match="out:"):
            check_out_folder(out)
    check_out_folder(str(tmp_path / "new" / "runs"))
    assert not (tmp_path / "new").exists()  # checking creates nothing
    with pytest.raises(RunDirError, match="cannot create the run folder /proc/spear-x"):
        RunDir("/proc/spear-x/run", resume=False)


@pytest.mark.parametrize("deep", [
    "".join(" " * i + "a:\n" for i in range(5000)) + " " * 5000 + "1\n",  # block mappings
    "steps: " + "[" * 5000 + "]" * 5000 + "\n",  # flow lists
    "env_kwargs: " + "[" * 100 + "]" * 100 + "\n",  # parses, but far deeper than any config
])
def test_a_deep_yaml_is_a_clear_error(tmp_path, capsys, deep):
    code, err = _print_config(tmp_path, capsys, deep)
    assert code == 2 and "nest" in err and len(err) < 500


def test_a_prompt_format_other_than_the_policys_is_named(tmp_path):
    import json

    from spear_train.training.config_check import prompt_format_warning
    from spear_train.training.run_config import resolve_run_config

    assert prompt_format_warning(resolve_run_config({"env": "alfworld"})) is None
    assert prompt_format_warning(resolve_run_config({"env": "math"})) is None  # math's own format is chat
    message = prompt_format_warning(resolve_run_config({"env": "alfworld", "prompt_format": "chat",
                                                        "model": "spear-tiny-alfworld"}))
    assert "trained on 'window' prompts but this run uses 'chat'" in message and "--prompt-format window" in message
    folder = tmp_path / "chat-policy"
    folder.mkdir()
    (folder / "recipe.json").write_text(json.dumps({"prompt_format": "chat"}))
    message = prompt_format_warning(resolve_run_config({"env": "alfworld", "model": str(folder)}))
    assert "--prompt-format chat" in message
    assert prompt_format_warning(resolve_run_config({"env": "alfworld", "model": str(folder), "prompt_format": "chat"})) is None
