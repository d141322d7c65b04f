"""The agent side of the text interface: output parsing and per-env prompt builders
(docs/rollouts.md, 'Action parsing (format validity)', 'Prompts and history window')."""

from spear_envs.agent_io.parsing import ParsedAction, parse_action
from spear_envs.agent_io.prompts import (
    PROMPT_FORMATS,
    AgentMemory,
    AlfworldChatPrompt,
    AlfworldPrompt,
    PromptBuilder,
    WebshopPrompt,
    prompt_builder_for,
    prompt_formats_for,
    register_prompt_builder,
)

__all__ = [
    "ParsedAction", "parse_action", "AgentMemory", "PromptBuilder", "AlfworldPrompt", "AlfworldChatPrompt", "WebshopPrompt",
    "PROMPT_FORMATS", "prompt_builder_for", "prompt_formats_for", "register_prompt_builder",
]
