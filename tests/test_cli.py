"""The spear-bench CLI: help for every subcommand, env listing."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from spear_train.cli.main import COMMAND_MODULES, build_parser, main


def test_top_level_help_lists_every_subcommand(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    names = [m.rsplit(".", 1)[1].removesuffix("_cmd") for m in COMMAND_MODULES]
    for name in names:
        assert name in out


def test_every_subcommand_has_help(capsys):
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name in sub.choices:
        with pytest.raises(SystemExit) as exc:
            main([name, "--help"])
        assert exc.value.code == 0, name
        assert "usage: spear-bench" in capsys.readouterr().out


def test_envs_lists_registered_envs_as_json(capsys):
    import spear_envs

    assert main(["envs", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [e["env_id"] for e in listed] == sorted(spear_envs.SPEAR_ENVS)


def test_console_script_runs():
    out = subprocess.run(
        [sys.executable, "-m", "spear_train.cli.main", "envs"], capture_output=True, text=True, check=True
    ).stdout
    assert out.startswith("id")


def test_unknown_subcommand_fails_with_usage(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["frobnicate"])
    assert exc.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
