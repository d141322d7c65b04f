"""Prompts for spear/MathTool-v0: a multi-turn chat.

The conversation is: a system message describing the one tool in the hermes format, the user message
(the env's reset observation: the problem plus the ``\\boxed{}`` instruction), then alternating assistant
turns and ``tool`` messages (the tool outputs the env returned). The whole conversation is the context
(the reference keeps every turn; ``history_length`` does not apply). Callers whose chat template renders
``tools=`` themselves can pass :data:`TOOL_SCHEMA` and drop the system message.

Format validity (the math void-turn rule, docs/algorithms.md 'Sample flags'): a turn is valid when it is either a
well-formed tool call or a final answer that contains a ``\\boxed{}``. A turn with neither (no box, or
a broken ``<tool_call>``) is invalid. The action sent to the env is always the whole turn.
"""

from __future__ import annotations

import json

from spear_envs.agent_io.parsing import ParsedAction
from spear_envs.agent_io.prompts import AgentMemory, Message, PromptBuilder, register_prompt_builder
from spear_envs.math_tool.answer_check import last_boxed
from spear_envs.math_tool.tool_calls import TOOL_NAME, ToolCall, find_tool_call

BOXED_INSTRUCTION = "Please put the final answer within \\boxed{}."

TOOL_SCHEMA = [{
    "type": "function",
    "function": {
        "name": TOOL_NAME,
        "description": "A tool for executing code",
        "parameters": {
            "type": "object",
            "properties": {"code": {"type": "string", "description": "The Python code to execute"}},
            "required": ["code"],
        },
    },
}]

SYSTEM_PROMPT = (
    "You may call one function to assist with the user query.\n\n"
    "You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n"
    + "\n".join(json.dumps(tool) for tool in TOOL_SCHEMA)
    + "\n</tools>\n\nFor each function call, return a json object with function name and arguments within "
    "<tool_call></tool_call> XML tags:\n<tool_call>\n"
    '{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call>\n\n'
    "The code runs in a fresh Python process each time; print what you want to see. A turn without a "
    "tool call is your final answer."
)


def user_prompt(problem: str) -> str:
    """The first user message: the problem and the boxed-answer instruction."""
    return f"{problem.strip()}\n\n{BOXED_INSTRUCTION}"


@register_prompt_builder
class MathToolPrompt(PromptBuilder):
    """Chat messages for the math env and the void-turn validity rule."""

    env_id = "spear/MathTool-v0"
    multi_turn = True
    prompt_format = "chat"  # one growing conversation, one sample per episode
    #: a final answer with no ``\\boxed{}``: the env terminates the episode as wrong (-1), as when the turn
    #: limit runs out, so running out of response tokens never scores better than answering wrong
    budget_end_action = ""

    def messages(self, memory: AgentMemory) -> list[Message]:
        chat: list[Message] = [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": memory.observations[0]},
        ]
        for action, observation in zip(memory.actions, memory.observations[1:]):
            chat.append({"role": "assistant", "content": action})
            chat.append({"role": "tool", "content": observation})
        return chat

    def parse(self, reply: str) -> ParsedAction:
        if not isinstance(reply, str):
            raise TypeError(f"model output must be a str, got {type(reply).__name__}")
        call = find_tool_call(reply)
        valid = isinstance(call, ToolCall) if call is not None else last_boxed(reply) is not None
        return ParsedAction(reply, valid)
