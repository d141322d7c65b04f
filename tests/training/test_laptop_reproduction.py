"""benchmarks/laptop_reproduction.py end to end on a tiny budget: one seed, one pair, the results JSON
(both runs, the paired difference, replay statistics), the figure, and a second invocation that skips
the finished runs. The fast test trains on the letter-"a" toy env (tests/training/toy_train.py) with the
tiny test policy; the slow one runs the script unchanged on the real ALFWorld env."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.benchmark_scripts import load_benchmark
from tests.training.toy_train import COIN_ID

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "benchmarks" / "laptop_reproduction.py"


def _load_script():
    return load_benchmark("laptop_reproduction")


def _toy_config(tmp_path, policy_dir) -> Path:
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(dict(
        model=str(policy_dir), env_imports=["tests.rollout.toy", "tests.training.toy_train"], groups_per_step=2,
        group_size=4, max_turns=2, max_response_tokens=8, eval_batch=4, mini_batch_size=8, micro_batch_size=4,
        device="cpu", checkpoint_every=2, algorithm=dict(replay_buffer_size=1, replay_warmup_steps=2,
                                                           tool_bonus_steps=2))))
    return config


def test_tiny_reproduction_writes_paired_results_and_skips_finished_runs(tiny_policy_dir, tmp_path, monkeypatch,
                                                                         capsys):
    repro = _load_script()
    monkeypatch.setitem(repro.ENV_FLAGS, "alfworld", {"env": COIN_ID, "task_family": "alfworld"})
    argv = ["--envs", "alfworld", "--pairs", "grpo", "--seeds", "0", "--steps", "2", "--eval-episodes", "4",
            "--config", str(_toy_config(tmp_path, tiny_policy_dir)), "--out", str(tmp_path / "runs"),
            "--results-dir", str(tmp_path / "results")]
    repro.main(argv)
    out = capsys.readouterr().out
    assert "[1/2] grpo on alfworld, seed 0: starting; 2 runs left" in out
    assert "[2/2] grpo+spear on alfworld, seed 0: starting; 1 runs left, ETA" in out
    doc = json.loads((tmp_path / "results" / "laptop_reproduction.json").read_text())
    runs = {r["preset"]: r for r in doc["runs"]}
    assert set(runs) == {"grpo", "grpo+spear"} and all(r["seed"] == 0 and r["env"] == "alfworld" for r in runs.values())
    for r in runs.values():
        assert 0.0 <= r["before"] <= 1.0 and 0.0 <= r["after"] <= 1.0 and r["wall_time_s"] > 0
        assert r["config"]["steps"] == 2 and r["config"]["eval_episodes"] == 4 and r["config"]["model"]
        assert r["replay"]["train_steps"] == 2 and 0.0 <= r["replay"]["mixed_group_rate"] <= 1.0
        # which code trained it: this checkout's commit (None outside git), started afresh
        assert r["code"]["commit"] == repro.git_commit() and r["code"]["resumed"] is False
        # the weights it started from: `sha256sum model.safetensors` of the start policy
        assert r["start_weights_sha256"] == hashlib.sha256((tiny_policy_dir / "model.safetensors").read_bytes()).hexdigest()
    # the pair shares its "before" evaluation (same start policy, tasks and sampling seed)
    assert runs["grpo"]["before"] == runs["grpo+spear"]["before"]
    # without SPEAR nothing is replayed; a buffer of one sample fills at step 1 and drains at step 2
    assert runs["grpo"]["replay"]["drains"] == 0 and runs["grpo"]["replay"]["replayed_samples"] == 0
    assert runs["grpo+spear"]["replay"]["drains"] == 1 and runs["grpo+spear"]["replay"]["replayed_samples"] >= 1
    (pair,) = doc["pairs"]
    assert pair["env"] == "alfworld" and pair["pair"] == "grpo vs grpo+spear" and pair["seeds"] == [0]
    assert pair["spear_minus_base"] == pytest.approx(runs["grpo+spear"]["after"] - runs["grpo"]["after"])
    assert pair["se"] is None and pair["replay"]["grpo+spear"]["drains"] == 1  # one seed: no SE
    png = tmp_path / "results" / "laptop_reproduction.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # a second invocation keeps both finished runs: no training, same numbers
    def refuse(*args, **kwargs):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(repro, "run_seeds", refuse)
    repro.main(argv)
    out = capsys.readouterr().out
    assert out.count("finished earlier, kept") == 2
    again = json.loads((tmp_path / "results" / "laptop_reproduction.json").read_text())
    assert [(r["preset"], r["before"], r["after"], r["gain"]) for r in again["runs"]] == \
           [(r["preset"], r["before"], r["after"], r["gain"]) for r in doc["runs"]]


def test_interrupted_run_is_resumed(tiny_policy_dir, tmp_path, monkeypatch):
    """A run folder without result.json is continued with resume=True, not started afresh."""
    repro = _load_script()
    monkeypatch.setitem(repro.ENV_FLAGS, "alfworld", {"env": COIN_ID, "task_family": "alfworld"})
    argv = ["--envs", "alfworld", "--pairs", "grpo", "--seeds", "0", "--steps", "2", "--eval-episodes", "2",
            "--config", str(_toy_config(tmp_path, tiny_policy_dir)), "--out", str(tmp_path / "runs"),
            "--results-dir", str(tmp_path / "results")]
    repro.main(argv)
    (folder,) = (tmp_path / "runs").glob("grpo+spear-*-seed0")
    (folder / "result.json").unlink()  # as if killed after its last checkpoint
    calls = []
    real = repro.run_seeds
    monkeypatch.setattr(repro, "run_seeds", lambda cfg, **kw: calls.append((cfg.algo, kw["resume"])) or real(cfg, **kw))
    repro.main(argv)
    assert calls == [("grpo+spear", True)] and (folder / "result.json").is_file()
    doc = json.loads((tmp_path / "results" / "laptop_reproduction.json").read_text())
    assert [r["code"]["resumed"] for r in doc["runs"]] == [False, True]  # grpo kept, grpo+spear resumed
    # another budget into the same folders is refused, naming what differs; the runs are left as they are
    before = sorted(p.name for p in folder.iterdir())
    with pytest.raises(SystemExit, match="steps: 2 -> 3"):
        repro.main([*argv[:argv.index("--steps") + 1], "3", *argv[argv.index("--steps") + 2:]])
    assert sorted(p.name for p in folder.iterdir()) == before and (folder / "result.json").is_file()


def test_results_json_keeps_runs_across_checkouts_and_refuses_another_budget(tiny_policy_dir, tmp_path, monkeypatch,
                                                                           capsys):
    """With the run folders gone (a fresh checkout holding only the committed JSON), recorded runs are kept
    from the JSON, a new seed adds to it, and a different budget into the same results dir is refused."""
    import shutil

    repro = _load_script()
    monkeypatch.setitem(repro.ENV_FLAGS, "alfworld", {"env": COIN_ID, "task_family": "alfworld"})
    results = tmp_path / "results"
    argv = ["--envs", "alfworld", "--pairs", "grpo", "--seeds", "0", "--steps", "2", "--eval-episodes", "2",
            "--config", str(_toy_config(tmp_path, tiny_policy_dir)), "--out", str(tmp_path / "runs"),
            "--results-dir", str(results)]
    repro.main(argv)
    first = json.loads((results / "laptop_reproduction.json").read_text())
    shutil.rmtree(tmp_path / "runs")
    trained = []
    real = repro.run_seeds
    monkeypatch.setattr(repro, "run_seeds", lambda cfg, **kw: trained.append((cfg.algo, cfg.seeds)) or real(cfg, **kw))
    capsys.readouterr()
    repro.main([*argv[:argv.index("--seeds") + 1], "1", *argv[argv.index("--seeds") + 2:]])
    assert trained == [("grpo", [1]), ("grpo+spear", [1])]  # seed 1 trained; seed 0 not planned, still kept
    repro.main([*argv[:argv.index("--seeds") + 1], "0", "1", *argv[argv.index("--seeds") + 2:]])
    out = capsys.readouterr().out
    # seed 0 from the JSON (its folders are gone), seed 1 from its folders; nothing trained
    assert out.count("laptop_reproduction.json, kept") == 2 and out.count("finished earlier, kept") == 2
    assert len(trained) == 2
    doc = json.loads((results / "laptop_reproduction.json").read_text())
    assert [(r["seed"], r["preset"]) for r in doc["runs"]] == [(0, "grpo"), (0, "grpo+spear"), (1, "grpo"),
                                                               (1, "grpo+spear")]
    assert doc["runs"][:2] == first["runs"] and doc["settings"]["seeds"] == [0, 1]
    (pair,) = doc["pairs"]
    assert pair["seeds"] == [0, 1] and len(pair["per_seed"]) == 2
    assert len(doc["invocations"]) == 3 and doc["invocations"][1]["argv"][doc["invocations"][1]["argv"].index("--seeds") + 1] == "1"
    # a run whose recorded settings differ from today's is trained again, not reused
    doc["runs"][0]["config"]["lr"] = 123.0
    (results / "laptop_reproduction.json").write_text(json.dumps(doc))
    repro.main([*argv[:argv.index("--seeds") + 1], "0", *argv[argv.index("--seeds") + 2:]])
    assert trained[2:] == [("grpo", [0])]
    # --report-only trains nothing: seed 2 is named as left out, the finished seeds are reported
    capsys.readouterr()
    repro.main([*argv[:argv.index("--seeds") + 1], "0", "1", "2", *argv[argv.index("--seeds") + 2:], "--report-only"])
    out = capsys.readouterr().out
    assert out.count("not finished, left out (--report-only)") == 2 and len(trained) == 3
    assert json.loads((results / "laptop_reproduction.json").read_text())["settings"]["seeds"] == [0, 1]
    with pytest.raises(SystemExit, match="no finished run"):
        repro.main([*argv[:argv.index("--seeds") + 1], "7", *argv[argv.index("--seeds") + 2:], "--report-only",
                    "--results-dir", str(tmp_path / "empty")])
    # another budget is refused, naming the difference; the results file is left as it was
    kept = (results / "laptop_reproduction.json").read_bytes()
    with pytest.raises(SystemExit, match="eval_episodes: 2 -> 3"):
        repro.main([*argv[:argv.index("--eval-episodes") + 1], "3", *argv[argv.index("--eval-episodes") + 2:]])
    (results / "broken").mkdir()
    (results / "broken" / "laptop_reproduction.json").write_text("{not json")
    with pytest.raises(SystemExit, match="is not a results file"):
        repro.main([*argv[:argv.index("--results-dir") + 1], str(results / "broken")])
    assert (results / "laptop_reproduction.json").read_bytes() == kept


def test_runs_of_one_env_from_different_start_weights_are_refused():
    repro = _load_script()

    def run(env, preset, seed, start):
        return {"env": env, "preset": preset, "seed": seed, "start_weights_sha256": start}

    a, b = "a" * 64, "b" * 64
    # one start per env (other envs may differ; records older than the field carry None and are not judged)
    repro.check_one_start([run("math", "grpo", 0, a), run("math", "grpo+spear", 0, a), run("math", "drbot", 1, None),
                           run("alfworld", "grpo", 0, b)])
    with pytest.raises(SystemExit, match=r"the math runs started from different weights \(aaaaaaaaaaaa: grpo seed 0; "
                                         r"bbbbbbbbbbbb: grpo\+spear seed 0\)"):
        repro.check_one_start([run("math", "grpo", 0, a), run("math", "grpo+spear", 0, b), run("alfworld", "grpo", 0, a)])


def test_gigpo_is_not_planned_for_math_and_bad_budgets_are_refused():
    repro = _load_script()
    assert repro.plan(["math", "webshop"], ["grpo", "gigpo"]) == [
        ("math", "grpo"), ("math", "grpo+spear"), ("webshop", "grpo"), ("webshop", "grpo+spear"),
        ("webshop", "gigpo"), ("webshop", "gigpo+spear")]
    with pytest.raises(SystemExit):
        repro.main(["--envs", "math", "--pairs", "gigpo"])
    with pytest.raises(SystemExit):
        repro.parse_args(["--steps", "0"])


@pytest.mark.slow
def test_real_alfworld_smoke(tmp_path):
    """The script as a user runs it, on the real ALFWorld env and shipped policy (about 1.5 min)."""
    cmd = [sys.executable, str(SCRIPT), "--envs", "alfworld", "--pairs", "grpo", "--seeds", "0", "--steps", "1",
           "--eval-episodes", "4", "--out", str(tmp_path / "runs"), "--results-dir", str(tmp_path)]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    subprocess.run(cmd, check=True, cwd=REPO, env=env, timeout=900, capture_output=True)
    doc = json.loads((tmp_path / "laptop_reproduction.json").read_text())
    assert {r["preset"] for r in doc["runs"]} == {"grpo", "grpo+spear"} and len(doc["pairs"]) == 1
    assert (tmp_path / "laptop_reproduction.png").is_file()


def test_mixed_group_rate_counts_groups_with_a_win_and_a_loss():
    from spear_train.rollout.samples import Episode
    from spear_train.training.loop import mixed_group_rate

    def ep(group, won):
        return Episode(group_id=group, traj_id=f"{group}-{won}", env_id="e", seed=0, won=won)

    episodes = [ep("a", True), ep("a", False), ep("b", True), ep("b", True), ep("c", False), ep("d", False),
                ep("d", True), ep("d", False)]
    assert mixed_group_rate(episodes) == 0.5  # a and d are mixed, b all won, c all lost
    assert mixed_group_rate([]) == 0.0


def test_provenance_round_trips_and_a_damaged_file_is_a_clear_error(tmp_path):
    script = _load_script()
    assert script.read_provenance(tmp_path) is None  # runs finished before provenance existed
    script.write_provenance(tmp_path, "abc123", resumed=True)
    doc = script.read_provenance(tmp_path)
    assert (doc["commit"], doc["resumed"]) == ("abc123", True)
    path = tmp_path / script.PROVENANCE
    for damaged in ("{not json", '["abc123"]', '{"commit": "abc123"}'):
        path.write_text(damaged)
        with pytest.raises(SystemExit, match="is not a provenance file"):
            script.read_provenance(tmp_path)
        assert path.read_text() == damaged  # nothing touched
