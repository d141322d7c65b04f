"""Pure parts: tool-output rules, tool-call parsing, answer checkers."""

from __future__ import annotations

import json

import pytest

from spear_envs.math_tool.answer_check import extract_answer, is_correct, last_boxed, sympy_equivalent
from spear_envs.math_tool.sandbox import ExecutionResult, build_source, extract_code
from spear_envs.math_tool.tool_calls import ToolCall, ToolCallError, find_tool_call
from spear_envs.math_tool.tool_output import (
    EMPTY_STDOUT_MESSAGE, ERROR_HINT, TOOL_FAILED_MESSAGE, format_tool_output, truncate_middle,
)


def fmt(**kw) -> str:
    return format_tool_output(ExecutionResult(**{"status": "finished", **kw}), timeout_s=30)


def test_stdout_is_stripped_and_empty_stdout_gets_the_hint():
    assert fmt(stdout="  42\n\n") == "42"
    assert fmt(stdout=" \n") == EMPTY_STDOUT_MESSAGE


def test_stderr_wins_last_two_nonblank_lines_plus_hint():
    err = "Traceback (most recent call last):\n  File \"main.py\", line 3\n    1/0\n    ~^~\n\nZeroDivisionError: x\n"
    assert fmt(stdout="printed", stderr=err) == f"    ~^~\nZeroDivisionError: x\n{ERROR_HINT}"


def test_timeout_failure_and_signal_messages():
    assert "timed out after 30 seconds" in format_tool_output(ExecutionResult("timeout"), 30)
    assert format_tool_output(ExecutionResult("error", error="boom"), 30) == TOOL_FAILED_MESSAGE
    assert fmt(signal="SIGKILL") == f"Process killed by signal SIGKILL.\n{ERROR_HINT}"


def test_middle_truncation_keeps_head_and_tail_within_the_limit():
    text = "H" * 10_000 + "M" * 10_000 + "T" * 10_000
    out = truncate_middle(text, 16384)
    assert len(out) <= 16384 and out.startswith("H" * 8000) and out.endswith("T" * 8000)
    assert "characters truncated" in out and truncate_middle("short", 16384) == "short"
    assert len(fmt(stdout=text)) <= 16384


def call(obj) -> str:
    return f"thinking...<tool_call>{json.dumps(obj)}</tool_call>"


def test_tool_call_parsing():
    good = {"name": "code_interpreter", "arguments": {"code": "print(1)"}}
    assert find_tool_call("no call, answer \\boxed{3}") is None
    assert find_tool_call(call(good)) == ToolCall("code_interpreter", "print(1)")
    string_args = {"name": "code_interpreter", "arguments": json.dumps({"code": "print(2)"})}
    assert find_tool_call(call(string_args)).code == "print(2)"
    # only the first valid call of a turn runs; a broken span before it is skipped
    two = "<tool_call>{oops}</tool_call>" + call(good) + call({**good, "arguments": {"code": "print(9)"}})
    assert find_tool_call(two).code == "print(1)"


@pytest.mark.parametrize("turn, message", [
    ("<tool_call>{not json}</tool_call>", "not valid JSON"),
    ('<tool_call>["code_interpreter"]</tool_call>', "JSON object"),
    (call({"name": "bash", "arguments": {"code": "ls"}}), "Unknown tool 'bash'"),
    (call({"name": "code_interpreter", "arguments": {"src": "1"}}), '"code"'),
    (call({"name": "code_interpreter", "arguments": {"code": "  "}}), "empty"),
    ('<tool_call>{"name": "code_interpreter"', "not closed"),
])
def test_malformed_tool_calls_are_explained(turn, message):
    result = find_tool_call(turn)
    assert isinstance(result, ToolCallError) and message in result.message


def test_code_fence_extraction_and_preamble():
    assert extract_code("```python\nprint(1)\n```") == "print(1)\n"
    assert extract_code("print(2)") == "print(2)"
    source = build_source("print(3)")
    assert source.endswith("print(3)") and "from math import *" in source and "import numpy as np" in source


@pytest.mark.parametrize("pred, gold, lenient, strict", [
    ("204", "204", True, True),
    (" 204 ", "204", True, False),
    ("204.0", "204", True, False),
    ("\\frac{1}{2}", "0.5", True, False),
    ("1/2", "\\frac12", True, False),
    ("\\frac{\\sqrt2}{2}", "\\frac1{\\sqrt2}", True, False),
    ("x=3", "3", True, False),
    ("\\{1,2,3\\}", "\\{3,2,1\\}", True, False),
    ("1{,}000", "1000", True, False),
    ("205", "204", False, False),
    (None, "204", False, False),
])
def test_checkers_on_the_spec_table(pred, gold, lenient, strict):
    assert is_correct(pred, gold, "math_verify") is lenient
    assert is_correct(pred, gold, "strict") is strict


def test_box_extraction_and_strict_window():
    assert last_boxed("a \\boxed{\\frac{1}{2}} then \\boxed{ 7 }") == " 7 "
    assert last_boxed("\\boxed{1} and an unclosed \\boxed{2") == "1"
    assert extract_answer("\\boxed{5}" + "." * 100, "strict") is None  # outside the last 100 chars
    assert extract_answer("\\boxed{5}" + "." * 100) == "5"
    with pytest.raises(ValueError, match="checker"):
        is_correct("1", "1", "fuzzy")


def test_sympy_fallback_and_it_never_evaluates_code():
    assert sympy_equivalent("\\frac{1}{2}", "0.5") and sympy_equivalent("2\\sqrt{2}", "sqrt(8)")
    assert not sympy_equivalent("3", "4")
    assert not sympy_equivalent("__import__('os').system('echo owned')", "0")
    assert not sympy_equivalent("x.n()", "1")


def test_power_towers_do_not_hang():
    assert is_correct("9^{9^{9^9}}", "3") is False
