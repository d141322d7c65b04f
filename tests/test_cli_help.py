"""Every ``--help`` states each option's default; transformers' own progress bars are silenced."""

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
