"""Env workers that join an existing Ray cluster (``--env-workers N --ray-address ADDR``): a local
``ray start --head`` cluster plays a training step's rollout in its actors."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from spear_train.config_error import ConfigError
from spear_train.training.run_config import resolve_run_config
from tests.training.test_distributed import free_port
from tests.training.test_loop import tiny_run
from tests.training.toy_train import COIN_ID

REPO = Path(__file__).resolve().parents[2]
RAY = Path(sys.executable).with_name("ray")


@pytest.fixture
def ray_cluster():
    """``ray start --head --block`` with one CPU on a free port; stopped (and its processes reaped) after."""
    import ray

    if not RAY.exists():
        pytest.skip(f"no ray command next to {sys.executable}")
    if ray.is_initialized():
        ray.shutdown()
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO), "RAY_USAGE_STATS_ENABLED": "0", "OMP_NUM_THREADS": "1"}
    head = subprocess.Popen([str(RAY), "start", "--head", "--block", "--num-cpus", "1", "--port", str(port),
                             "--include-dashboard=false", "--disable-usage-stats"], env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        ray.shutdown()
        head.terminate()  # the head drains and stops the processes it started
        try:
            head.wait(90)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(head.pid, signal.SIGKILL)  # anything left of this cluster
        except ProcessLookupError:
            pass
        head.wait()


def test_rollout_runs_in_the_actors_of_a_ray_cluster_given_by_address(tiny_policy_dir, tmp_path, ray_cluster):
    import ray

    from spear_train.training.run_policy import load_run_policy

    from spear_train.training.rollout_runner import RolloutRunner

    cfg = resolve_run_config(tiny_run(tiny_policy_dir, tmp_path, COIN_ID, "alfworld", "grpo", group_size=2,
                                      env_workers=1, ray_address=ray_cluster))
    policy = load_run_policy(cfg)
    deadline = time.time() + 180
    while True:  # the head takes a while to come up on a loaded machine
        try:
            runner = RolloutRunner(cfg, policy)
            break
        except (ConnectionError, RuntimeError) as exc:
            ray.shutdown()
            assert time.time() < deadline, f"the Ray head at {ray_cluster} did not come up: {exc}"
            time.sleep(1.0)
    try:
        assert ray.get_runtime_context().gcs_address.endswith(ray_cluster.split(":")[1]), "joined another Ray"
        assert all(pid != os.getpid() for pid in runner.pool.worker_pids())
        rollout = runner.collect(1, 123)
        assert len(rollout.episodes) == cfg.groups_per_step * cfg.group_size
        assert not any(e.failed for e in rollout.episodes), [e.failure for e in rollout.episodes]
        assert all(e.length >= 1 for e in rollout.episodes)
    finally:
        runner.close()


def test_ray_address_flag_reaches_the_config_and_needs_env_workers(tmp_path, capsys):
    from spear_train.cli.main import main

    assert main(["run", "--env-workers", "2", "--ray-address", "10.0.0.5:6379", "--print-config"]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["ray_address"] == "10.0.0.5:6379"
    with pytest.raises(ConfigError, match="ray_address .* needs env_workers >= 1"):
        resolve_run_config({"ray_address": "10.0.0.5:6379"})
