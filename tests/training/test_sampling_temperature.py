"""benchmarks/sampling_temperature.py on a tiny budget: its row at the training temperature is the
``sampled`` figure of ``eval.json``'s harness on the same tasks, greedy groups never mix, and bad arguments
are refused."""

from __future__ import annotations

import json

import pytest

from spear_train.models import builtin
from tests.benchmark_scripts import load_benchmark

MODEL, ENV = "spear-tiny-webshop", "webshop"


@pytest.fixture(autouse=True)
def shipped():
    if not (builtin.CHECKPOINT_ROOT / MODEL / "model.safetensors").is_file():
        pytest.skip(f"{MODEL} is not shipped in this checkout")


def test_rows_match_eval_json_harness_and_greedy_groups_do_not_mix(tmp_path, capsys):
    from spear_train.policy import load_policy
    from spear_train.sft.evaluate import EvalConfig, evaluate_policy

    out = tmp_path / "sweep.json"
    figures = load_benchmark("sampling_temperature").main(
        ["--env", ENV, "--tasks", "4", "--group-size", "2", "--temperatures", "1.0", "0", "--json", str(out),
         "--no-progress"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert [x.split(":")[0] for x in lines] == [f"{ENV} {MODEL} T=1", f"{ENV} {MODEL} T=0"]
    full = evaluate_policy(load_policy(MODEL, device="cpu"), "spear/WebShop-v0",
                           EvalConfig(tasks=4, group_size=2), progress=False)
    assert figures[1.0] == full["sampled"]  # the same episodes as eval.json's sampled figure
    greedy = figures[0.0]
    assert greedy["episodes"] == 8 and greedy["mixed_group_rate"] == 0.0  # both copies decode the same
    assert greedy["pass_at_k"] == greedy["success"]
    written = json.loads(out.read_text())
    assert written["model"] == MODEL and written["group_size"] == 2
    assert written["figures"]["1.0"] == json.loads(json.dumps(full["sampled"]))


@pytest.mark.parametrize("argv, message", [
    (["--temperatures", "1.0", "-0.5"], "--temperatures must be >= 0"),
    (["--group-size", "0"], "--group-size must be >= 1"),
    (["--env", "chess"], "--env must be one of alfworld, webshop, math"),
    (["--json", "/nonexistent-folder/sweep.json"], "--json: folder /nonexistent-folder does not exist"),
])
def test_bad_arguments_are_refused(argv, message, capsys):
    with pytest.raises(SystemExit):
        load_benchmark("sampling_temperature").parse_args(argv)
    assert message in capsys.readouterr().err
