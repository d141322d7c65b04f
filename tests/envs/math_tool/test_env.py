"""spear/MathTool-v0 end to end with the real sandbox: scripted solver, turn limit, strict mode, prompts."""

from __future__ import annotations

import json
import os
import pickle

import gymnasium as gym
import pytest

import spear_envs  # noqa: F401
from spear_envs.agent_io import AgentMemory, prompt_builder_for
from spear_envs.math_tool.env import MathToolEnv
from spear_envs.math_tool.problem_generator import generate_problem
from spear_envs.math_tool.sandbox import SandboxLimits, SandboxPool
from spear_envs.math_tool.scripted_solver import final_turn, solve_episode, tool_call_turn

N_EVAL = 40


def code_turn(code: str) -> str:
    return f"<tool_call>{json.dumps({'name': 'code_interpreter', 'arguments': {'code': code}})}</tool_call>"


@pytest.fixture(scope="module")
def shared_pool():
    with SandboxPool(2, SandboxLimits(timeout_s=10)) as pool:
        yield pool


def test_scripted_solver_wins_every_eval_problem(shared_pool):
    env = gym.make("spear/MathTool-v0", split="eval", sandbox=shared_pool)
    templates = set()
    for i in range(N_EVAL):
        turns, total, info = solve_episode(env, options={"index": i})
        problem = env.unwrapped.problem
        templates.add(problem.template)
        assert total == 1.0, (problem, turns)
        assert info["won"] and info["correct"] and info["tool_calls"] == 1 and info["answer"] == problem.answer
    assert len(templates) == 13  # every template was exercised
    env.close()
    assert shared_pool.run("print(1)").stdout == "1\n"  # the env does not close a sandbox it was given


def test_wrong_and_missing_answers_score_minus_one(shared_pool):
    env = MathToolEnv(split="eval", sandbox=shared_pool)
    _, info = env.reset(options={"index": 0})
    wrong = str(int(env.problem.answer) + 1)
    obs, reward, term, trunc, info = env.step(f"I think it is \\boxed{{{wrong}}}")
    assert (reward, term, trunc, info["won"], info["answer"]) == (-1.0, True, False, False, wrong)
    env.reset(options={"index": 0})
    obs, reward, term, _, info = env.step("no idea")
    assert reward == -1.0 and term and info["answer"] is None and "no \\boxed{}" in obs


def test_strict_checker_reproduces_exact_string_rule(shared_pool):
    lenient = MathToolEnv(split="eval", sandbox=shared_pool)
    strict = MathToolEnv(split="eval", checker="strict", sandbox=shared_pool)
    for env in (lenient, strict):
        env.reset(options={"index": 1})
    answer = lenient.problem.answer
    assert lenient.step(f"\\boxed{{ {answer}.0 }}")[1] == 1.0
    assert strict.step(f"\\boxed{{ {answer}.0 }}")[1] == -1.0
    strict.reset(options={"index": 1})
    assert strict.step(f"so \\boxed{{{answer}}}")[1] == 1.0


def test_turn_limit_truncates_with_minus_one(shared_pool):
    env = gym.make("spear/MathTool-v0", sandbox=shared_pool)
    env.reset(seed=0)
    for k in range(8):
        obs, reward, term, trunc, info = env.step(code_turn(f"print({k} * 2)"))
        assert obs == str(k * 2) and not term
        assert (reward, trunc) == ((-1.0, True) if k == 7 else (0.0, False))
    assert info["tool_calls"] == 8 and not info["won"]


def test_malformed_call_gets_an_observation_and_the_episode_goes_on(shared_pool):
    env = MathToolEnv(sandbox=shared_pool)
    env.reset(seed=3)
    obs, reward, term, trunc, info = env.step('<tool_call>{"name": "code_interpreter", "arguments": {code}}</tool_call>')
    assert "not valid JSON" in obs and "Nothing was run" in obs
    assert (reward, term, trunc, info["action_valid"], info["tool_calls"]) == (0.0, False, False, False, 0)
    obs, *_ = env.step(code_turn("```python\nprint(sum(range(10)))\n```"))
    assert obs == "45"


def test_env_owned_pool_survives_pickling_and_is_closed(tmp_path):
    env = MathToolEnv(timeout_s=5, sandbox="pool")
    env.reset(seed=1)
    assert env.step(code_turn("print(2 ** 10)"))[0] == "1024"
    worker_pid = env._executor._workers[0]._proc.pid
    clone = pickle.loads(pickle.dumps(env))  # mid-episode, with a live pool
    assert clone._executor is None and clone.problem == env.problem
    assert clone.step(code_turn("print(3 ** 3)"))[0] == "27"  # a new pool, built lazily
    clone_pid = clone._executor._workers[0]._proc.pid
    env.close()
    clone.close()
    for pid in (worker_pid, clone_pid):
        assert not os.path.exists(f"/proc/{pid}") or "Z" in open(f"/proc/{pid}/stat").read().split()[2]


def test_plain_subprocess_sandbox():
    env = MathToolEnv(sandbox="subprocess", timeout_s=20)
    env.reset(seed=2)
    assert env.step(code_turn("print(sympy.factorint(360))"))[0] == "{2: 3, 3: 2, 5: 1}"
    env.close()


def test_problems_file_and_index_option(tmp_path):
    path = tmp_path / "aime.jsonl"
    path.write_text('{"problem": "What is $6 \\\\times 7$?", "answer": "42"}\n{"problem": "What is $2+2$?", "answer": "4"}\n')
    env = MathToolEnv(problems_path=str(path), sandbox="subprocess")
    obs, info = env.reset(options={"index": 1})
    assert obs.startswith("What is $2+2$?") and obs.endswith("\\boxed{}.") and info["task_id"] == "aime-1"
    assert env.step("\\boxed{4}")[1] == 1.0
    with pytest.raises(ValueError, match="has 2 problems"):
        env.reset(options={"index": 5})
    assert env.task_count() == 2 and env.task_options(1) == {"index": 1}  # a file's task list: its rows
    with pytest.raises(ValueError, match="checker"):
        MathToolEnv(checker="fuzzy")


def test_prompt_builder_chat_and_void_turn_rule():
    builder = prompt_builder_for("spear/MathTool-v0")
    problem = generate_problem(0, "eval")
    memory = AgentMemory.start("Problem text\n\nPlease put the final answer within \\boxed{}.",
                               {"task": problem.problem, "admissible_actions": None})
    call = tool_call_turn(problem)
    memory.record(call, "42", {"admissible_actions": None})
    messages = builder.messages(memory)
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "tool"]
    assert "code_interpreter" in messages[0]["content"] and messages[2]["content"] == call
    assert builder.parse(call) == (call, True)
    assert builder.parse(final_turn("42")).valid
    assert not builder.parse("The answer is 42.").valid  # void: no final \boxed{}
    assert not builder.parse("<tool_call>{broken</tool_call>").valid


def test_default_sandbox_is_one_process_wide_pool_that_envs_never_close():
    from spear_envs.math_tool.env import SHARED_POOL_SIZE
    from spear_envs.math_tool.sandbox import shared_pool

    limits = SandboxLimits(timeout_s=7)
    first, second = MathToolEnv(split="eval", timeout_s=7), MathToolEnv(split="eval", timeout_s=7)
    for env in (first, second):
        env.reset(options={"index": 0})
        obs, *_ = env.step(code_turn("print(6 * 7)"))
        assert "42" in obs
    assert first._executor is second._executor is shared_pool(SHARED_POOL_SIZE, limits)
    assert first._executor.size == SHARED_POOL_SIZE == 4
    first.close()
    second.close()
    assert shared_pool(SHARED_POOL_SIZE, limits).run("print(5)").stdout == "5\n"  # still running after both closed
    clone = pickle.loads(pickle.dumps(MathToolEnv(split="eval", timeout_s=7)))
    clone.reset(options={"index": 0})
    clone.step(code_turn("print(1)"))
    assert clone._executor is shared_pool(SHARED_POOL_SIZE, limits)
