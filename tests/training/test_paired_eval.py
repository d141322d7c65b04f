"""benchmarks/paired_eval.py on a tiny budget: the shipped ALFWorld policy against itself, greedy, gains
exactly nothing (both evaluations play the same episodes), and bad arguments are refused."""

from __future__ import annotations

import pytest

from tests.benchmark_scripts import load_benchmark


def test_a_policy_against_itself_gains_nothing_at_greedy(capsys, monkeypatch):
    from spear_train.training import evaluation

    played, real = [], evaluation.evaluate
    monkeypatch.setattr(evaluation, "evaluate", lambda *a, **k: played.append(k["temperature"]) or real(*a, **k))
    load_benchmark("paired_eval").main(["--env", "alfworld", "--tasks", "3", "--samples", "2", "--temperature", "0",
                                        "--before", "spear-tiny-alfworld", "--after", "spear-tiny-alfworld"])
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert played == [0.0, 0.0]  # both evaluations decoded greedily
    assert "over 3 tasks x 2 samples" in line and "gain +0.00 ± 0.00 points (paired over 3 tasks" in line


@pytest.mark.parametrize("argv, message", [
    (["--temperature", "-0.5"], "--temperature must be >= 0"),
    (["--tasks", "0"], "--tasks must be >= 1"),
])
def test_bad_arguments_are_refused(argv, message, capsys):
    with pytest.raises(SystemExit):
        load_benchmark("paired_eval").parse_args(["--before", "a", "--after", "b", *argv])
    assert message in capsys.readouterr().err
