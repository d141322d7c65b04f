"""spear/MathTool-v0: solve a competition problem, optionally running Python, end with a ``\\boxed{}`` answer.

Episode protocol:

* ``reset`` shows the problem with the boxed-answer instruction. ``options={"index": i}`` picks problem
  ``i`` (the generator's problem ``i`` of the split, or row ``i`` of the file); otherwise the seeded
  ``np_random`` draws one. The task list (``task_count``/``task_options``, what an evaluation sweeps)
  holds distinct problems only: the file's rows, or the generated split's first distinct statements
  (:mod:`~spear_envs.math_tool.task_list`).
* Each ``step`` action is one whole model turn. A turn with a ``<tool_call>`` runs its first
  ``code_interpreter`` call in the sandbox and the observation is the tool output (rules in
  :mod:`~spear_envs.math_tool.tool_output`). A turn whose call is malformed gets an observation
  explaining the mistake (``action_valid=False``); nothing runs. A turn with no tool call is the final
  answer: the episode terminates with reward +1 if its last ``\\boxed{}`` matches the ground truth
  (``checker``: ``"math_verify"`` equivalence, or ``"strict"``, the reference's exact string in the
  last 100 characters), else -1.
* After ``max_steps`` (8) turns without a final answer the episode is truncated with reward -1.

``info`` extras: ``answer`` (the boxed string of the final turn, or None), ``correct`` (bool),
``tool_calls`` (code runs so far). ``admissible_actions`` is None (any text is a turn).

The sandbox (``sandbox``): ``"shared"`` (default; the process-wide pool of ``pool_size`` pre-started
workers for these limits, :func:`~spear_envs.math_tool.sandbox.shared_pool`, started on the first tool
call and shared by every env of the process, so short-lived envs start no interpreters; by default
:data:`SHARED_POOL_SIZE` workers, so that an env host's overlapping tool calls run side by side), ``"pool"``
(an own pool, stopped by ``close``), ``"subprocess"`` (a fresh interpreter per call), or any object with
``run(code) -> ExecutionResult``, ``limits`` and ``close()`` (e.g. one :class:`SandboxPool` shared by
many envs; the env never closes a sandbox it was given). A pickled env leaves its sandbox behind and
builds a new one of the same kind on its next tool call (a given sandbox is replaced by an own pool).

Concurrency (:meth:`MathToolEnv.step_can_overlap`): a turn with a well-formed tool call may run in a
worker thread beside other envs' tool calls (the pool is thread-safe and each call runs in a fresh
sandboxed process, so the output does not depend on what runs beside it); final answers and malformed
calls run on the caller's thread, where math-verify's timeouts work.
"""

from __future__ import annotations

from typing import Any

from spear_envs.core import TextEnv
from spear_envs.math_tool.answer_check import CHECKERS, extract_answer, is_correct
from spear_envs.math_tool.problem_files import file_fingerprint, load_problems
from spear_envs.math_tool.problem_generator import GENERATOR_VERSION, SPLITS, MathProblem, generate_problem
from spear_envs.math_tool.prompt import user_prompt
from spear_envs.math_tool.sandbox import CodeExecutor, SandboxLimits, SandboxPool, SubprocessExecutor, shared_pool
from spear_envs.math_tool.task_list import GENERATED_TASKS, distinct_problem_index
from spear_envs.math_tool.tool_calls import ToolCall, ToolCallError, find_tool_call, malformed_call_message
from spear_envs.math_tool.tool_output import MAX_OUTPUT_CHARS, format_tool_output

NO_BOX_MESSAGE = "Final answer received, but it contains no \\boxed{} answer."
FINAL_MESSAGE = "Final answer received: {answer}"
SANDBOX_KINDS = ("shared", "pool", "subprocess")
#: Workers of the shared pool when ``pool_size`` is not given: up to this many envs' tool calls at once.
SHARED_POOL_SIZE = 4


class MathToolEnv(TextEnv):
    """Competition math with a sandboxed Python tool (see the module docstring for the protocol).

    Args:
        max_steps: turn limit (8 in the reference).
        split: ``"train"`` or ``"eval"`` generated problems (ignored with ``problems_path``).
        difficulty: 1-3, or None for a mix.
        families: restrict generated problems to these families (see ``problem_generator.FAMILIES``).
        problems_path: a ``.jsonl`` / ``.parquet`` problem file (AIME, DAPO-Math layouts) instead.
        checker: ``"math_verify"`` or ``"strict"``.
        sandbox: ``"shared"``, ``"pool"``, ``"subprocess"`` or an executor object (see the module docstring).
        pool_size: workers of the shared or own pool (default: :data:`SHARED_POOL_SIZE` for the shared
            pool, 1 for an own pool). Each running call may use up to ``memory_mb``.
        timeout_s, memory_mb, max_processes: per-call sandbox limits (reference: 30 s, 1024 MB; the
            memory and process cap covers all of a call's processes where the machine offers a cgroup,
            see :mod:`~spear_envs.math_tool.sandbox.cgroups`). Validated here: a bad value is a
            ``ValueError`` when the env is made.
        max_output_chars: tool outputs longer than this are cut in the middle.
    """

    env_version = "1"
    reset_options = ("index",)

    def __init__(
        self,
        max_steps: int = 8,
        *,
        split: str = "train",
        difficulty: int | None = None,
        families: list[str] | tuple[str, ...] | None = None,
        problems_path: str | None = None,
        checker: str = "math_verify",
        sandbox: str | CodeExecutor = "shared",
        pool_size: int | None = None,
        timeout_s: float = 30.0,
        memory_mb: int = 1024,
        max_processes: int | None = None,
        max_output_chars: int = MAX_OUTPUT_CHARS,
        max_action_length: int = 100_000,
        render_mode: str | None = None,
    ):
        super().__init__(max_steps=max_steps, max_action_length=max_action_length, render_mode=render_mode)
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        if checker not in CHECKERS:
            raise ValueError(f"checker must be one of {CHECKERS}, got {checker!r}")
        if isinstance(sandbox, str) and sandbox not in SANDBOX_KINDS:
            raise ValueError(f"sandbox must be one of {SANDBOX_KINDS} or an executor object, got {sandbox!r}")
        if pool_size is None:
            pool_size = SHARED_POOL_SIZE if sandbox == "shared" else 1
        if not isinstance(pool_size, int) or isinstance(pool_size, bool) or not 1 <= pool_size <= 256:
            raise ValueError(f"pool_size must be an int in [1, 256], got {pool_size!r}")
        if not isinstance(max_output_chars, int) or max_output_chars < 100:
            raise ValueError(f"max_output_chars must be an int >= 100, got {max_output_chars!r}")
        self.split, self.difficulty, self.checker = split, difficulty, checker
        self.families = tuple(families) if families else None
        if self.families or difficulty is not None:
            generate_problem(0, split, difficulty=difficulty, families=self.families)  # validates both
        self.problems_path = problems_path
        self._file_problems = load_problems(problems_path) if problems_path else None
        self.limits = sandbox.limits if not isinstance(sandbox, str) else SandboxLimits(
            timeout_s, memory_mb, max_processes=max_processes)
        self._sandbox_kind = sandbox if isinstance(sandbox, str) else "pool"
        self._executor: CodeExecutor | None = None if isinstance(sandbox, str) else sandbox
        self._owns_executor = sandbox in ("pool", "subprocess")
        self.pool_size = pool_size
        self.max_output_chars = max_output_chars
        self.problem: MathProblem | None = None
        self._tool_calls = 0
        self._answer: str | None = None
        self._correct = False

    # ------------------------------------------------------------------------------ optional contract hooks
    def task_count(self) -> int:
        """The split's task list: the file's rows, or the first :data:`GENERATED_TASKS` distinct generated
        problems (:mod:`spear_envs.math_tool.task_list`; repeated statements are skipped)."""
        return len(self._file_problems) if self._file_problems is not None else GENERATED_TASKS

    def task_options(self, index: int) -> dict[str, Any]:
        """Task ``i`` is row ``i`` of the file, or the ``i``-th distinct generated problem of the split."""
        index = self._check_task_index(index)
        if self._file_problems is not None:
            return {"index": index}
        return {"index": distinct_problem_index(index, self.split, self.difficulty, self.families)}

    def expert_action(self) -> str:
        """The scripted solver (generated problems only): first a ``code_interpreter`` call running the
        problem's solution code, then the boxed last line the tool printed."""
        from spear_envs.math_tool.scripted_solver import final_turn, tool_call_turn

        if self.problem is None or self._file_problems is not None:
            raise NotImplementedError("MathTool's scripted solver needs a generated problem (no problems_path) "
                                      "and a reset env")
        return tool_call_turn(self.problem) if self.steps_taken == 0 else final_turn(self._last_observation)

    def step_can_overlap(self, action: str) -> bool:
        """``True`` for a turn with a well-formed tool call (it waits on the thread-safe sandbox pool; its
        output does not depend on other calls). Final answers stay on the caller's thread: math-verify's
        timeouts are signal alarms, which work on the main thread only."""
        return isinstance(action, str) and len(action) <= self.max_action_length \
            and isinstance(find_tool_call(action), ToolCall)

    # ------------------------------------------------------------------------------ TextEnv hooks
    def _reset(self, seed: int | None, options: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        index = options.get("index")
        if index is not None and (not isinstance(index, int) or isinstance(index, bool) or index < 0):
            raise ValueError(f"options['index'] must be a non-negative int, got {index!r}")
        if self._file_problems is not None:
            if index is not None and index >= len(self._file_problems):
                raise ValueError(f"options['index']={index} but the file has {len(self._file_problems)} problems")
            i = index if index is not None else int(self.np_random.integers(len(self._file_problems)))
            self.problem = self._file_problems[i]
        else:
            i = index if index is not None else int(self.np_random.integers(2**31))
            self.problem = generate_problem(i, self.split, difficulty=self.difficulty, families=self.families)
        self._tool_calls, self._answer, self._correct = 0, None, False
        return user_prompt(self.problem.problem), self._info(action_valid=True)

    def _step(self, action: str) -> tuple[str, float, bool, dict[str, Any]]:
        last_turn = self.steps_taken + 1 >= self.max_steps
        call = find_tool_call(action)
        if call is None:  # the final answer
            self._answer = extract_answer(action, self.checker)
            self._correct = is_correct(self._answer, self.problem.answer, self.checker)
            obs = NO_BOX_MESSAGE if self._answer is None else FINAL_MESSAGE.format(answer=self._answer)
            return obs, 1.0 if self._correct else -1.0, True, self._info(action_valid=True)
        if isinstance(call, ToolCallError):
            observation, valid = malformed_call_message(call), False
        else:
            result = self._sandbox().run(call.code)
            self._tool_calls += 1
            observation, valid = format_tool_output(result, self.limits.timeout_s, self.max_output_chars), True
        return observation, -1.0 if last_turn else 0.0, False, self._info(action_valid=valid)

    def data_fingerprint(self) -> dict[str, Any]:
        if self.problems_path:
            return {"problems_file": str(self.problems_path), "sha256": file_fingerprint(self.problems_path)}
        return {"generator_version": GENERATOR_VERSION, "split": self.split, "difficulty": self.difficulty,
                "families": list(self.families) if self.families else None}

    # ------------------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        if self._owns_executor and self._executor is not None:
            self._executor.close()
        self._executor = None
        super().close()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_executor"] = None
        state["_owns_executor"] = self._sandbox_kind in ("pool", "subprocess")
        return state

    # ------------------------------------------------------------------------------ helpers
    def _sandbox(self) -> CodeExecutor:
        if self._executor is None:
            if self._sandbox_kind == "subprocess":
                self._executor = SubprocessExecutor(self.limits)
            elif self._sandbox_kind == "shared":
                self._executor = shared_pool(self.pool_size, self.limits)
            else:
                self._executor = SandboxPool(self.pool_size, self.limits)
        return self._executor

    def _info(self, *, action_valid: bool) -> dict[str, Any]:
        assert self.problem is not None
        return {
            "task": self.problem.problem,
            "task_id": self.problem.problem_id,
            "admissible_actions": None,
            "won": self._correct,
            "action_valid": action_valid,
            "answer": self._answer,
            "correct": self._correct,
            "tool_calls": self._tool_calls,
        }
