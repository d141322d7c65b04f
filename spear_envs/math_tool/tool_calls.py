"""Hermes-format tool calls in a model turn.

A turn calls the tool with ``<tool_call>{"name": "code_interpreter", "arguments": {"code": "..."}}</tool_call>``.
Every ``<tool_call>…</tool_call>`` span is found (non-greedy) and JSON-decoded; only the **first** valid
call of a turn runs. ``arguments`` may also be a JSON string holding the object (some models write it so).

Unlike the reference, which silently drops a span that does not decode (and then ends the episode when
no call is left), a turn that *tries* to call the tool but gets it wrong receives a
:class:`ToolCallError` explaining the mistake, so the model can fix its call.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

TOOL_NAME = "code_interpreter"
TOOL_CALL_OPEN, TOOL_CALL_CLOSE = "<tool_call>", "</tool_call>"
_SPAN = re.compile(r"<tool_call>(.*?)</tool_call>", re.DOTALL)
EXAMPLE_CALL = '<tool_call>{"name": "code_interpreter", "arguments": {"code": "print(1 + 1)"}}</tool_call>'


@dataclass(frozen=True)
class ToolCall:
    name: str
    code: str


@dataclass(frozen=True)
class ToolCallError:
    """The turn tried to call the tool but no span was a valid call; ``message`` says why."""

    message: str


def find_tool_call(turn: str) -> ToolCall | ToolCallError | None:
    """The first valid ``code_interpreter`` call in ``turn``; a :class:`ToolCallError` when the turn has
    a ``<tool_call>`` tag but no valid call; ``None`` when it has no tool call at all (a final answer)."""
    if TOOL_CALL_OPEN not in turn:
        return None
    problems = []
    for span in _SPAN.findall(turn):
        call = _decode(span.strip())
        if isinstance(call, ToolCall):
            return call
        problems.append(call)
    if not problems:
        return ToolCallError(f"The tool call was not closed with {TOOL_CALL_CLOSE}.")
    return ToolCallError(problems[0])


def _decode(span: str) -> ToolCall | str:
    """A :class:`ToolCall`, or a message saying what is wrong with the span."""
    try:
        obj = json.loads(span)
    except json.JSONDecodeError as exc:
        return f"The tool call is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})."
    if not isinstance(obj, dict):
        return f"The tool call must be a JSON object, got {type(obj).__name__}."
    name = obj.get("name")
    if name != TOOL_NAME:
        return f"Unknown tool {name!r}: the only tool is {TOOL_NAME!r}."
    arguments = obj.get("arguments")
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except json.JSONDecodeError:
            return "The tool call's \"arguments\" string is not valid JSON."
    if not isinstance(arguments, dict) or not isinstance(arguments.get("code"), str):
        return 'The tool call needs "arguments": {"code": "<python code>"} with the code as a string.'
    if not arguments["code"].strip():
        return "The tool call's code is empty."
    return ToolCall(name, arguments["code"])


def malformed_call_message(error: ToolCallError) -> str:
    """The observation for a malformed call: the problem and the expected format."""
    return f"{error.message} Nothing was run. Call the tool like this:\n{EXAMPLE_CALL}"
