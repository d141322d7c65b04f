"""Hostile inputs to MathTool outside the code: bad limits, huge answers, the memory-cap modes."""

from __future__ import annotations

import json

import gymnasium as gym
import pytest

import spear_envs  # noqa: F401
from spear_envs.math_tool.answer_check import equivalent, is_correct
from spear_envs.math_tool.env import MathToolEnv
from spear_envs.math_tool.sandbox import SandboxLimits, SubprocessExecutor, cgroups


@pytest.mark.parametrize("kwargs, match", [
    ({"timeout_s": float("inf")}, "timeout_s must be a finite number"),
    ({"timeout_s": float("nan")}, "timeout_s must be a finite number"),
    ({"timeout_s": 0}, "timeout_s"),
    ({"memory_mb": 1.5}, "memory_mb must be an int"),
    ({"memory_mb": True}, "memory_mb"),
    ({"max_processes": 0}, "max_processes"),
    ({"max_processes": 10**9}, "max_processes"),
    ({"pool_size": 0}, "pool_size"),
])
def test_bad_sandbox_limits_fail_when_the_env_is_made(kwargs, match):
    with pytest.raises(ValueError, match=match):
        gym.make("spear/MathTool-v0", **kwargs)


def test_without_a_cgroup_the_per_process_limits_fit_the_budget():
    address_space, nproc = cgroups.process_rlimits("rlimit", 1024, 4)
    assert address_space * nproc <= 1024 << 20 and nproc == 4
    assert cgroups.process_rlimits("cgroup2", 1024, 32) == (1024 << 20, 32)  # the cgroup caps the sum
    with pytest.raises(ValueError, match="max_processes <= 4"):
        cgroups.check_budget("rlimit", 1024, 32)
    cgroups.check_budget("cgroup1", 1024, 32)


def test_the_sandbox_reports_its_memory_cap_mode(monkeypatch):
    assert cgroups.probe_cap()["mode"] in cgroups.MODES
    monkeypatch.setenv("SPEAR_SANDBOX_CGROUPS", "0")
    cgroups.probe_cap.cache_clear()
    try:
        limits = SandboxLimits(timeout_s=20)
        assert limits.max_processes == cgroups.DEFAULT_MAX_PROCESSES["rlimit"]
        with pytest.raises(ValueError, match="no cgroup"):
            SandboxLimits(max_processes=32)
        # each of the 2 processes gets 512 MB of address space (the interpreter maps ~150 MB of it)
        code = "x = bytearray(250 * 1024**2)\nprint('half fits')"
        result = SubprocessExecutor(limits).run(code)
        assert result.stdout == "half fits\n", result
        assert "MemoryError" in SubprocessExecutor(limits).run("x = bytearray(700 * 1024**2)").stderr
    finally:
        cgroups.probe_cap.cache_clear()


def test_an_answer_longer_than_pythons_int_limit_is_just_wrong_or_right():
    huge = "1" * 5000
    assert is_correct(huge, huge) and is_correct("0" + huge, huge) and not is_correct(huge + "2", huge)
    assert not equivalent("1" * 4301 + ".5", "7")
    env = MathToolEnv(sandbox="subprocess")
    env.reset(seed=0)
    _, reward, terminated, _, info = env.step("\\boxed{" + "1" * 4301 + "}")
    assert (reward, terminated, info["correct"]) == (-1.0, True, False)


def test_a_problems_file_with_a_5000_digit_answer(tmp_path):
    path = tmp_path / "big.jsonl"
    path.write_text(json.dumps({"problem": "Write the repunit R_5000.", "answer": "1" * 5000}) + "\n")
    env = MathToolEnv(problems_path=str(path), sandbox="subprocess")
    env.reset(options={"index": 0})
    assert env.step("\\boxed{" + "1" * 5000 + "}")[1] == 1.0
    env.reset(options={"index": 0})
    assert env.step("\\boxed{" + "1" * 4999 + "}")[1] == -1.0
