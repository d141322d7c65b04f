"""``spear-bench compare`` on hand-written run folders (the format spear_train.training.run_dir writes)."""

from __future__ import annotations

import json
import math

import pytest
import yaml

from spear_train.cli.main import main
from spear_train.training.compare import CompareError, compare_runs


def _run_folder(parent, algo, seed, evals, won=None):
    """A run folder with eval rows ``{step: (success, episodes)}`` and optional per-episode ``won`` lists."""
    path = parent / f"{algo}-alfworld-seed{seed}"
    (path / "eval").mkdir(parents=True)
    (path / "config.yaml").write_text(yaml.safe_dump({"env": "alfworld", "algo": algo, "seeds": [seed]}))
    rows = [{"kind": "train", "step": 1, "reward_mean": 0.5, "success": 0.5}]
    for step, (success, n) in evals.items():
        rows.append({"kind": "eval", "step": step, "episodes": n, "success": success,
                     "success_se": math.sqrt(success * (1 - success) / n)})
    (path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    for step, flags in (won or {}).items():
        (path / "eval" / f"step_{step:06d}.jsonl").write_text(
            "".join(json.dumps({"seed": i, "won": w, "failed": False}) + "\n" for i, w in enumerate(flags)))
    return path


def test_compare_two_run_folders_table_json_and_png(tmp_path, capsys):
    a = _run_folder(tmp_path / "runs", "grpo", 0, {0: (0.25, 4), 2: (0.5, 4), 4: (0.75, 4)},
                    won={0: [1, 0, 0, 0], 4: [1, 1, 1, 0]})
    b = _run_folder(tmp_path / "runs", "grpo", 1, {0: (0.5, 4), 4: (0.5, 4)})
    out = tmp_path / "cmp"
    assert main(["compare", str(a), str(b), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "grpo-alfworld-seed0" in printed and "grpo / alfworld" in printed
    summary = json.loads((out / "compare.json").read_text())
    run_a, run_b = summary["runs"]
    assert (run_a["before"], run_a["after"], run_a["steps"]) == (0.25, 0.75, [0, 2, 4])
    # paired gain over the 4 tasks: d = [0, 1, 1, 0] -> mean 0.5, SE = std/sqrt(4) = sqrt(1/3)/2
    assert run_a["gain"] == pytest.approx(0.5) and run_a["gain_se"] == pytest.approx(math.sqrt(1 / 3) / 2)
    # no per-episode records: unpaired SE of the difference
    assert run_b["gain"] == 0.0 and run_b["gain_se"] == pytest.approx(math.hypot(0.25, 0.25))
    (group,) = summary["groups"]
    assert group["seeds"] == [0, 1]
    assert group["after"] == pytest.approx(0.625) and group["after_se"] == pytest.approx(0.125)
    assert group["gain"] == pytest.approx(0.25) and group["gain_se"] == pytest.approx(0.25)
    assert (out / "compare_curves.png").read_bytes()[:4] == b"\x89PNG"


def test_a_parent_folder_stands_for_its_runs_and_algos_are_grouped_apart(tmp_path):
    _run_folder(tmp_path, "grpo", 0, {0: (0.25, 4), 2: (0.5, 4)})
    _run_folder(tmp_path, "spear", 0, {0: (0.25, 4), 2: (1.0, 4)})
    summary = compare_runs([tmp_path, tmp_path / "spear-alfworld-seed0"], tmp_path / "out")
    assert [r["algo"] for r in summary["runs"]] == ["grpo", "spear"]  # the repeated folder counts once
    assert [(g["algo"], g["after"], g["after_se"]) for g in summary["groups"]] == [("grpo", 0.5, 0.0),
                                                                                   ("spear", 1.0, 0.0)]


def test_a_resumed_runs_repeated_eval_counts_once(tmp_path):
    path = _run_folder(tmp_path, "grpo", 0, {0: (0.25, 4), 2: (0.5, 4)})
    with open(path / "metrics.jsonl", "a") as f:
        f.write(json.dumps({"kind": "eval", "step": 2, "episodes": 4, "success": 0.75, "success_se": 0.2}) + "\n")
    (run,) = compare_runs([path], tmp_path / "out")["runs"]
    assert run["steps"] == [0, 2] and run["after"] == 0.75


def test_bad_folders_are_refused_naming_them(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["compare", str(tmp_path / "empty"), "--out", str(tmp_path / "o")]) == 2
    assert "empty: not a run folder" in capsys.readouterr().err
    with pytest.raises(CompareError, match="no such folder"):
        compare_runs([tmp_path / "missing"], tmp_path / "o")
    path = _run_folder(tmp_path, "grpo", 0, {})
    with pytest.raises(CompareError, match="holds no evaluation"):
        compare_runs([path], tmp_path / "o")


def test_success_axes_run_0_to_100_with_integer_step_ticks():
    from spear_train.training.plots import pyplot, style_success_axes

    plt = pyplot()
    fig, ax = plt.subplots()
    ax.errorbar([0, 1, 2], [5.0, 0.0, 12.5], yerr=[8.0, 6.0, 11.0])  # error bars reach below 0
    style_success_axes(ax)
    fig.canvas.draw()
    ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
    plt.close(fig)
    assert ax.get_ylim() == (0.0, 100.0)
    assert ticks and all(float(t).is_integer() for t in ticks)
