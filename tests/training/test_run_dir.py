"""Run folder: refuses to overwrite a finished run, metrics survive a torn line, plots and results."""

from __future__ import annotations

import json

import pytest

from spear_train.training.progress import Progress
from spear_train.training.run_dir import RunDir, RunDirError


def _train_row(step):
    return {"kind": "train", "step": step, "reward_mean": 0.5 * step, "success": 0.1, "tokens_per_s": 10.0}


def test_fresh_run_refuses_existing_results(tmp_path):
    rd = RunDir(tmp_path, resume=False, tensorboard=False)
    rd.log(_train_row(1))
    with pytest.raises(RunDirError, match="--resume"):
        RunDir(tmp_path, resume=False)
    assert RunDir(tmp_path, resume=True, tensorboard=False).read_metrics() == [_train_row(1)]


def test_torn_last_line_is_ignored_and_truncation_is_by_step(tmp_path):
    rd = RunDir(tmp_path, resume=False, tensorboard=False)
    for step in (1, 2, 3):
        rd.log(_train_row(step))
    with open(rd.metrics_path, "a") as f:
        f.write('{"kind": "train", "st')
    assert [r["step"] for r in rd.read_metrics()] == [1, 2, 3]
    rd.truncate_metrics_after(2)
    assert [r["step"] for r in rd.read_metrics()] == [1, 2]
    assert rd.metrics_path.read_text().endswith("\n")


def test_tensorboard_curve_and_result(tmp_path):
    rd = RunDir(tmp_path, resume=False)
    rd.log(_train_row(1))
    rd.log({"kind": "eval", "step": 0, "success": 0.2, "success_se": 0.05})
    rd.log({"kind": "eval", "step": 1, "success": 0.3, "success_se": 0.05})
    rd.close()
    assert list((tmp_path / "tb").glob("events.out.tfevents.*"))
    rd.plot_learning_curve("test")
    assert rd.curve_path.read_bytes()[:4] == b"\x89PNG"
    rd.write_result({"a": 1})
    assert json.loads(rd.result_path.read_text()) == {"a": 1}


def test_progress_json_mode(capsys):
    p = Progress("json", total_steps=2)
    p.step(_train_row(1))
    p.note("eval", success=0.5)
    p.summary("done")
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [x["event"] for x in lines] == ["step", "note", "summary"]
    assert lines[0]["reward_mean"] == 0.5


def test_progress_quiet_prints_only_summary(capsys):
    p = Progress("quiet", total_steps=2)
    p.step(_train_row(1))
    p.note("eval")
    p.summary("done")
    captured = capsys.readouterr()
    assert captured.out == "done\n" and captured.err == ""
