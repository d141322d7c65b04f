"""Small envs and prompt builders for rollout tests (registered on import; workers import this module)."""

from __future__ import annotations

import gymnasium as gym

from spear_envs.agent_io import AgentMemory, PromptBuilder, register_prompt_builder
from spear_envs.core import TextEnv
from tests.envs.toy_env import GuessWordEnv

GUESS_ID = "spear-test/GuessWordRollout-v0"
CHAT_ID = "spear-test/ToolChat-v0"


class GuessWordWithExpert(GuessWordEnv):
    """The contract toy env plus a scripted expert that knows the secret."""

    def expert_action(self) -> str:
        return f"guess {self._secret}"


class ToolChatEnv(TextEnv):
    """A multi-turn 'tool' env: each reply is echoed back as a tool result; the 3rd reply ends it.

    Reward 1 if the last reply contains "42". Admissible actions: none (free text).
    """

    env_version = "test-1"

    def __init__(self, max_steps: int = 3, **kwargs):
        super().__init__(max_steps=max_steps, **kwargs)

    def _info(self, won: bool) -> dict:
        return {"task": "say 42", "task_id": "toolchat", "admissible_actions": None, "won": won,
                "action_valid": True}

    def _reset(self, seed, options):
        return "Problem: what is 6 * 7?", self._info(False)

    def _step(self, action):
        won = "42" in action
        return f"result: {len(action)} chars", float(won), self._steps_taken + 1 >= 3, self._info(won)


@register_prompt_builder
class GuessPrompt(PromptBuilder):
    env_id = GUESS_ID

    def messages(self, memory: AgentMemory) -> list[dict[str, str]]:
        history = " ".join(f"[{k}: {a} -> {o}]" for k, o, a in self._window(memory))
        commands = ", ".join(memory.admissible_actions or [])
        return [{"role": "user", "content": f"Task: {memory.task}. {history} Now: {memory.observations[-1]} "
                                            f"Commands: {commands}. Answer in <action></action>."}]


@register_prompt_builder
class ToolChatPrompt(PromptBuilder):
    env_id = CHAT_ID
    multi_turn = True

    def messages(self, memory: AgentMemory) -> list[dict[str, str]]:
        return [{"role": "user", "content": memory.observations[0]}]

    def parse(self, reply):
        from spear_envs.agent_io import ParsedAction

        return ParsedAction(reply, True)


for _id, _entry, _steps in ((GUESS_ID, "tests.rollout.toy:GuessWordWithExpert", 5),
                            (CHAT_ID, "tests.rollout.toy:ToolChatEnv", 3)):
    if _id not in gym.registry:
        gym.register(_id, entry_point=_entry, max_episode_steps=_steps, kwargs={"max_steps": _steps})
