"""A tiny agent env with an expert, for testing the SFT pipeline without a heavy engine (test-only).

The observation names a colour; the admissible actions are ``press <colour> button``; pressing the
named colour wins. Two presses are needed: first ``open panel``, then the button.
"""

from __future__ import annotations

import gymnasium as gym

from spear_envs.agent_io import AgentMemory, PromptBuilder, register_prompt_builder
from spear_envs.core import TextEnv
from spear_train.sft.data import ExpertSource, register_expert_source

ENV_ID = "spear-test/ToyButtons-v0"
COLOURS = ["red", "green", "blue", "yellow"]


class ToyButtonsEnv(TextEnv):
    env_version = "test-1"

    def __init__(self, max_steps: int = 6, **kwargs):
        super().__init__(max_steps=max_steps, **kwargs)
        self.colour, self.open = "", False

    def _info(self, won: bool, valid: bool) -> dict:
        actions = [f"press {c} button" for c in COLOURS] if self.open else ["open panel", "look"]
        return {"task": f"press the {self.colour} button", "task_id": f"toy-{self.colour}",
                "admissible_actions": actions, "won": won, "action_valid": valid}

    def _reset(self, seed, options):
        self.colour = COLOURS[int(self.np_random.integers(len(COLOURS)))]
        self.open = False
        return f"Your task is to: press the {self.colour} button. The panel is closed.", self._info(False, True)

    def _step(self, action):
        if not self.open:
            valid = action in ("open panel", "look")
            self.open = action == "open panel"
            obs = "The panel is open." if self.open else "Nothing happens."
            return obs, 0.0, False, self._info(False, valid)
        valid = action in [f"press {c} button" for c in COLOURS]
        won = action == f"press {self.colour} button"
        return ("You win." if won else "Wrong button."), 10.0 * won, won, self._info(won, valid)


@register_prompt_builder
class ToyButtonsPrompt(PromptBuilder):
    env_id = ENV_ID

    def messages(self, memory: AgentMemory) -> list[dict[str, str]]:
        history = " | ".join(f"{o} -> {a}" for _, o, a in self._window(memory))
        commands = ", ".join(memory.admissible_actions or [])
        return [{"role": "user", "content": f"Task: {memory.task}\nHistory: {history}\n"
                 f"Now: {memory.observations[-1]}\nCommands: {commands}"}]


def toy_expert(env):
    inner = env.unwrapped

    def act(obs, info):
        return f"press {inner.colour} button" if inner.open else "open panel"
    return act


def register_toy() -> None:
    if ENV_ID not in gym.registry:
        gym.register(id=ENV_ID, entry_point=ToyButtonsEnv)
    register_expert_source(ENV_ID, ExpertSource(make_env=lambda split: gym.make(ENV_ID), make_expert=toy_expert))
