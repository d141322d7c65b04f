"""An env host runs the steps its envs allow to overlap (TextEnv.step_can_overlap) side by side in threads:
the outcomes, their order and the episode records are those of stepping one env after another."""

from __future__ import annotations

import threading
import time

import gymnasium as gym
import pytest

from spear_envs.core import TextEnv
from spear_envs.math_tool.env import MathToolEnv
from spear_train.rollout.step_threads import step_threads
from spear_train.rollout.workers import EnvHost, EnvSpec, LocalEnvPool

OVERLAP_ID = "spear-test/OverlapProbe-v0"
MATH_ID = "spear/MathTool-v0"
MATH_KWARGS = {"split": "eval", "difficulty": 1}


class OverlapProbe(TextEnv):
    """Steps named ``wait ...`` may overlap and sleep a little; ``boom`` raises; anything else runs in the
    caller's thread. Every step notes its thread and how many steps were running at once."""

    running, most, lock = 0, 0, threading.Lock()
    threads: list[tuple[str, str]] = []

    def __init__(self, max_steps: int = 5):
        super().__init__(max_steps=max_steps)

    def step_can_overlap(self, action: str) -> bool:
        return action.startswith("wait") or action == "boom"

    def _info(self) -> dict:
        return {"task": "t", "task_id": "t", "admissible_actions": None, "won": False, "action_valid": True}

    def _reset(self, seed, options):
        return f"start {seed}", self._info()

    def _step(self, action):
        cls = type(self)
        with cls.lock:
            cls.running += 1
            cls.most = max(cls.most, cls.running)
            cls.threads.append((action, threading.current_thread().name))
        try:
            if action == "boom":
                raise RuntimeError("boom")
            if action.startswith("wait"):
                time.sleep(0.05)
            return f"{action} done", 1.0, False, self._info()
        finally:
            with cls.lock:
                cls.running -= 1


gym.register(OVERLAP_ID, entry_point=OverlapProbe)


def probe_host(threads: int) -> EnvHost:
    OverlapProbe.running, OverlapProbe.most, OverlapProbe.threads = 0, 0, []
    host = EnvHost(EnvSpec(OVERLAP_ID, step_threads=threads), 6)
    host.reset(list(range(6)))
    return host


def test_overlapping_steps_run_side_by_side_in_env_order_and_the_rest_on_the_callers_thread():
    actions = {5: "wait 5", 0: "say 0", 3: "wait 3", 1: "wait 1", 4: "boom", 2: "say 2"}
    serial, threaded = probe_host(1), probe_host(4)
    expected = serial.step(actions)
    assert OverlapProbe.most == 1
    assert {name for _, name in OverlapProbe.threads} == {threading.current_thread().name}
    got = threaded.step(actions)
    assert OverlapProbe.most > 1  # the three waits overlapped
    assert list(got) == list(actions) == list(expected)  # keyed and ordered as the actions
    assert got == expected
    assert got[4].error == "step failed: RuntimeError: boom" and got[5].observation == "wait 5 done"
    ran = dict(OverlapProbe.threads)
    assert all(ran[a].startswith("env-step") for a in ("wait 5", "wait 3", "wait 1", "boom"))
    assert ran["say 0"] == ran["say 2"] == threading.current_thread().name
    assert threaded.received_actions() == serial.received_actions()
    threaded.close()
    assert threaded._threads is None


def test_a_single_overlapping_step_and_envs_without_the_hook_stay_on_the_callers_thread():
    host = probe_host(4)
    host.step({0: "wait 0", 1: "say 1"})
    assert host._threads is None and OverlapProbe.most == 1


def test_step_threads_come_from_the_spec_or_the_environment_and_are_checked(monkeypatch):
    monkeypatch.delenv("SPEAR_ENV_STEP_THREADS", raising=False)
    assert step_threads(EnvSpec(OVERLAP_ID), 32) == 8
    assert step_threads(EnvSpec(OVERLAP_ID), 3) == 3
    assert step_threads(EnvSpec(OVERLAP_ID, step_threads=1), 32) == 1
    monkeypatch.setenv("SPEAR_ENV_STEP_THREADS", "2")
    assert step_threads(EnvSpec(OVERLAP_ID), 32) == 2
    assert step_threads(EnvSpec(OVERLAP_ID, step_threads=5), 32) == 5
    for bad in ("0", "many"):
        monkeypatch.setenv("SPEAR_ENV_STEP_THREADS", bad)
        with pytest.raises(ValueError, match="SPEAR_ENV_STEP_THREADS must be a positive int"):
            step_threads(EnvSpec(OVERLAP_ID), 4)
    for bad in (0, -2, 1.5, True):
        with pytest.raises(ValueError, match="EnvSpec.step_threads must be a positive int"):
            step_threads(EnvSpec(OVERLAP_ID, step_threads=bad), 4)


def call(code: str) -> str:
    import json

    return "<tool_call>" + json.dumps({"name": "code_interpreter", "arguments": {"code": code}}) + "</tool_call>"


def test_math_overlaps_tool_calls_only():
    env = MathToolEnv(split="eval", difficulty=1)
    assert env.step_can_overlap(call("print(1)"))
    assert not env.step_can_overlap("The answer is \\boxed{3}.")  # math-verify needs the main thread
    assert not env.step_can_overlap("<tool_call>{not json</tool_call>")
    assert not env.step_can_overlap(call("print(1)") + " " * env.max_action_length)
    assert not TextEnv.step_can_overlap(env, call("print(1)"))  # the contract's default


def math_turns(k: int) -> list[str]:
    """Slot ``k``'s scripted turns: tool calls that print, fail, use sympy, a malformed call, answers."""
    kinds = [
        [call(f"print(sum(range({k + 10})))"), call("import sympy\nprint(sympy.factorint(360))"), "\\boxed{45}"],
        ["<tool_call>{not json</tool_call>", call("print(1 / 0)"), f"So \\boxed{{{k}}}."],
        [call(f"x = {k}\nprint(x ** 3)"), f"\\boxed{{{k ** 3}}}"],
        ["I think \\boxed{7}."],
    ]
    return kinds[k % len(kinds)]


def play_math(threads: int) -> tuple[list, list[str]]:
    pool = LocalEnvPool(EnvSpec(MATH_ID, dict(MATH_KWARGS), record=True, step_threads=threads), 8)
    try:
        transcript = [[(o.observation, o.info, o.error) for o in pool.reset(list(range(8)))]]
        turns = {k: math_turns(k) for k in range(8)}
        live = set(range(8))
        for t in range(3):
            actions = {k: turns[k][t] for k in sorted(live) if t < len(turns[k])}
            outcomes = pool.step(actions)
            assert list(outcomes) == list(actions)
            transcript.append([(k, o.observation, o.reward, o.terminated, o.truncated, o.info, o.error)
                               for k, o in outcomes.items()])
            live -= {k for k, o in outcomes.items() if o.terminated or o.truncated or o.error}
        return transcript, [r.to_json() for r in pool.episode_records()]
    finally:
        pool.close()


def test_math_batch_concurrent_equals_serial_outcomes_and_records():
    serial = play_math(1)
    concurrent = play_math(4)
    assert concurrent == serial
    observations = [o for _, o, *_ in serial[0][1]]
    assert "45" in observations[0] and "ZeroDivisionError" in serial[0][2][1][1]  # the calls really ran


@pytest.mark.parametrize("env_id, kwargs, action", [
    ("spear/ALFWorld-v0", {"scene_size": "small", "num_games": 4}, "look"),
    ("spear/WebShop-v0", {}, "search[red shirt]"),
])
def test_cpu_bound_envs_keep_their_steps_serial(env_id, kwargs, action):
    env = gym.make(env_id, **kwargs)
    env.reset(seed=0)
    assert env.unwrapped.step_can_overlap(action) is False
