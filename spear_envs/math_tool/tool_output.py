"""What the code tool returns to the model, as a pure function of a run's result.

Rules, in order:

1. The run timed out: :data:`TIMEOUT_MESSAGE` (the reference answers a timeout with its generic
   "Tool API failed" line; we say what happened).
2. The sandbox failed (``status="error"``): :data:`TOOL_FAILED_MESSAGE` (the reference's line).
3. The process died by a signal (segfault, memory kill, ...): the signal is appended to stderr as one
   line, so rule 4 reports it (the reference would show the empty-stdout hint).
4. stderr is not blank: its last :data:`STDERR_LINES` non-blank lines, then :data:`ERROR_HINT`. Any
   stdout is dropped.
5. Otherwise the stripped stdout, or :data:`EMPTY_STDOUT_MESSAGE` when it is empty.
6. A reply longer than ``max_chars`` (16384) keeps its head and tail with a marker in the middle.
"""

from __future__ import annotations

from spear_envs.math_tool.sandbox.executor import ExecutionResult

MAX_OUTPUT_CHARS = 16384
STDERR_LINES = 2
ERROR_HINT = "Errors occurred! Check your code."
EMPTY_STDOUT_MESSAGE = "Empty stdout! You might forget to print the answer."
TOOL_FAILED_MESSAGE = "Tool API failed! Please try again."
TIMEOUT_MESSAGE = "Execution timed out after {seconds:g} seconds and was stopped. Try a faster approach."
TRUNCATION_MARKER = "\n...[{omitted} characters truncated]...\n"


def format_tool_output(result: ExecutionResult, timeout_s: float, max_chars: int = MAX_OUTPUT_CHARS) -> str:
    """The observation the model sees for one code run (rules in the module docstring)."""
    if result.status == "timeout":
        return TIMEOUT_MESSAGE.format(seconds=timeout_s)
    if result.status != "finished":
        return TOOL_FAILED_MESSAGE
    stderr = result.stderr
    if result.signal:
        stderr = f"{stderr.rstrip()}\nProcess killed by signal {result.signal}.".lstrip("\n")
    if stderr.strip():
        lines = [line for line in stderr.splitlines() if line.strip()]
        text = "\n".join(lines[-STDERR_LINES:] + [ERROR_HINT])
    else:
        text = result.stdout.strip() or EMPTY_STDOUT_MESSAGE
    return truncate_middle(text, max_chars)


def truncate_middle(text: str, max_chars: int = MAX_OUTPUT_CHARS) -> str:
    """``text`` unchanged if it fits, else its head and tail around a marker, ``max_chars`` in all."""
    if len(text) <= max_chars:
        return text
    keep = max(max_chars - len(TRUNCATION_MARKER.format(omitted=len(text))), 0)
    marker = TRUNCATION_MARKER.format(omitted=len(text) - keep)
    head = keep // 2
    return text[:head] + marker + text[len(text) - (keep - head):]
