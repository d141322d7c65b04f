"""A one-step test env whose reward varies under an untrained policy, so advantages are nonzero and
SPEAR's buffer fills: the episode is won when the action text contains the letter "a"."""

from __future__ import annotations

import gymnasium as gym

from spear_envs.agent_io import AgentMemory, PromptBuilder, register_prompt_builder
from spear_envs.core import TextEnv

COIN_ID = "spear-test/LetterA-v0"


class LetterAEnv(TextEnv):
    env_version = "test-1"

    def __init__(self, max_steps: int = 2, **kwargs):
        super().__init__(max_steps=max_steps, **kwargs)

    def _info(self, won: bool) -> dict:
        return {"task": "say a word with the letter a", "task_id": f"letter-{self._seed}",
                "admissible_actions": None, "won": won, "action_valid": True}

    def _reset(self, seed, options):
        self._seed = seed
        return "Say something.", self._info(False)

    def _step(self, action):
        won = "a" in action
        return ("Yes." if won else "No."), 10.0 if won else 0.0, won, self._info(won)


@register_prompt_builder
class LetterAPrompt(PromptBuilder):
    env_id = COIN_ID

    def messages(self, memory: AgentMemory) -> list[dict[str, str]]:
        return [{"role": "user", "content": f"{memory.task}. {memory.observations[-1]}"}]


if COIN_ID not in gym.registry:
    gym.register(COIN_ID, entry_point="tests.training.toy_train:LetterAEnv", max_episode_steps=2,
                 kwargs={"max_steps": 2})
