"""CLI usability: every ``--help`` states each option's default; transformers' own progress bars are silenced;
``sft`` ends with a short summary, not the whole eval.json."""

from __future__ import annotations

import argparse
import os
import sys

import pytest

from spear_train.cli.main import build_parser, main, silence_library_bars

SWITCHES = (argparse._StoreTrueAction, argparse._StoreFalseAction, argparse._HelpAction, argparse._VersionAction)


def _parsers(parser, name="spear-bench"):
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, child in action.choices.items():
                yield from _parsers(child, f"{name} {sub_name}")


def test_every_option_of_every_help_states_its_default():
    missing = []
    for name, parser in _parsers(build_parser()):
        for action in parser._actions:
            if not action.option_strings or isinstance(action, SWITCHES) or action.required:
                continue
            text = parser.formatter_class("prog")._expand_help(action) if action.help else ""
            if "default" not in text.lower():
                missing.append(f"{name} {action.option_strings[0]}")
    assert not missing, missing


def test_defaults_appear_in_the_printed_help(capsys):
    with pytest.raises(SystemExit):
        main(["compare", "--help"])
    assert "(default: compare)" in " ".join(capsys.readouterr().out.split())


def test_transformers_bars_are_silenced(monkeypatch):
    from transformers.utils import logging as hf_logging

    monkeypatch.delenv("HF_HUB_DISABLE_PROGRESS_BARS", raising=False)
    hf_logging.enable_progress_bar()
    try:
        silence_library_bars()
        assert os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] == "1"
        assert "transformers" in sys.modules and not hf_logging.is_progress_bar_enabled()
    finally:
        hf_logging.enable_progress_bar()


def test_sft_ends_with_a_short_summary(tmp_path):
    from spear_train.cli.sft_cmd import summary_lines

    result = {"training": {"steps": 120, "epochs": 2.0, "train_wall_s": 61.2, "tokens_per_s": 900.0,
                           "parameters": 1_000_000},
              "data": {"episodes": 500},
              "evaluation": {"env_id": "spear/ALFWorld-v0", "config": {"tasks": 100},
                             "greedy": {"episodes": 100, "success": 0.13, "inadmissible_rate": 0.02},
                             "sampled": {"episodes": 400, "success": 0.1}}}
    lines = summary_lines(result, tmp_path)
    model = tmp_path / "model"
    assert lines[0] == "trained 120 steps (2.00 epochs) in 61 s (900 tokens/s, 1,000,000 parameters)"
    assert lines[1] == f"{model} held-out greedy: success 13.0% over 100 episodes, inadmissible actions 2.0%"
    assert lines[2] == f"{model} held-out sampled: success 10.0% over 400 episodes"
    assert lines[-2:] == [f"every figure: {model / 'eval.json'}", f"model saved to {model}"]
    assert len(summary_lines({"training": {}}, tmp_path)) == 2  # no evaluation (--eval-tasks 0)
    # --eval-only: no training line, the model named, its own folder's eval.json
    only = summary_lines({"evaluation": result["evaluation"]}, tmp_path, name="spear-tiny-alfworld")
    assert only == ["spear-tiny-alfworld held-out greedy: success 13.0% over 100 episodes, inadmissible actions 2.0%",
                    "spear-tiny-alfworld held-out sampled: success 10.0% over 400 episodes",
                    f"every figure: {tmp_path / 'eval.json'}"]


def test_eval_episodes_0_is_refused_by_run_and_eval_alike(capsys):
    assert main(["run", "--print-config", "--eval-episodes", "0"]) == 2
    assert "eval_episodes must be >= 1, got 0" in capsys.readouterr().err
    assert main(["eval", "--env", "alfworld", "--episodes", "0"]) == 2
    assert "--episodes must be at least 1, got 0" in capsys.readouterr().err
