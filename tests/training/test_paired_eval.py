"""benchmarks/paired_eval.py on a tiny budget: the shipped ALFWorld policy against itself, greedy, gains
exactly nothing (both evaluations play the same episodes), and bad arguments are refused."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "paired_eval.py"


def _script():
    spec = importlib.util.spec_from_file_location("paired_eval", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_policy_against_itself_gains_nothing_at_greedy(capsys):
    _script().main(["--env", "alfworld", "--tasks", "3", "--samples", "2", "--temperature", "0",
                    "--before", "spear-tiny-alfworld", "--after", "spear-tiny-alfworld"])
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert "over 3 tasks x 2 samples" in line and "gain +0.00 ± 0.00 points (paired over 3 tasks" in line


@pytest.mark.parametrize("argv, message", [
    (["--temperature", "-0.5"], "--temperature must be >= 0"),
    (["--tasks", "0"], "--tasks must be >= 1"),
])
def test_bad_arguments_are_refused(argv, message, capsys):
    with pytest.raises(SystemExit):
        _script().parse_args(["--before", "a", "--after", "b", *argv])
    assert message in capsys.readouterr().err
