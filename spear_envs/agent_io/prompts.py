"""Per-env prompt builders with a history window (docs/rollouts.md, 'Prompts and history
window'; the wording is ours).

A prompt builder turns an :class:`AgentMemory` (what the agent saw and did so far in one episode) into
chat messages for the policy, and parses the policy's reply back into an env action. The rollout and
the SFT data builder both call these functions, so training data and rollouts are rendered
identically.

Contract: ``messages(memory)`` returns a list of ``{"role", "content"}`` dicts, ready for a tokenizer's
chat template with ``add_generation_prompt=True``. Agent envs (ALFWorld, WebShop) return a single user
message that embeds the last ``history_length`` (observation, action) pairs.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import ClassVar

from spear_envs.agent_io.parsing import (
    ALFWORLD_FALLBACK_CHARS,
    WEBSHOP_FALLBACK_CHARS,
    ParsedAction,
    parse_action,
)

Message = dict[str, str]


@dataclass
class AgentMemory:
    """One episode as the agent saw it.

    ``observations[k]`` is the observation before step ``k`` (``observations[-1]`` is the current one);
    ``actions[k]`` is the projected action sent at step ``k``; so ``len(observations) == len(actions) + 1``.
    """

    task: str
    observations: list[str]
    actions: list[str] = field(default_factory=list)
    admissible_actions: list[str] | None = None

    @classmethod
    def start(cls, observation: str, info: dict) -> "AgentMemory":
        """Memory of a freshly reset env, from its reset observation and info."""
        return cls(info["task"], [observation], [], _admissible(info))

    def record(self, action: str, observation: str, info: dict) -> None:
        """Append one step: the action sent and what the env answered."""
        self.actions.append(action)
        self.observations.append(observation)
        self.admissible_actions = _admissible(info)

    @property
    def step(self) -> int:
        """Number of steps already taken."""
        return len(self.actions)


def _admissible(info: dict) -> list[str] | None:
    actions = info.get("admissible_actions")
    return None if actions is None else [a for a in actions if a != "help"]


class PromptBuilder(ABC):
    """Renders prompts for one env and parses replies. Subclasses set ``env_id``."""

    env_id: ClassVar[str]
    fallback_chars: ClassVar[int] = 30
    #: True when an episode is one growing chat (system/user, then assistant turns and tool replies)
    #: rolled out as one sample; False for agent envs that render one fresh prompt per step.
    multi_turn: ClassVar[bool] = False
    #: Multi-turn envs: the turn a harness plays for the agent when the episode's response budget (its
    #: tokens, tool replies included) runs out before the env ended the episode, so that every episode
    #: ends in the env's own terms (reward and ``terminated``) instead of being cut; ``None``: stop without it.
    budget_end_action: ClassVar[str | None] = None

    def __init__(self, history_length: int = 2):
        if history_length < 0:
            raise ValueError(f"history_length must be >= 0, got {history_length}")
        self.history_length = history_length

    @abstractmethod
    def messages(self, memory: AgentMemory) -> list[Message]:
        """Chat messages for the policy's next turn."""

    def parse(self, reply: str) -> ParsedAction:
        """Project the policy's reply to (action, format-valid) with :func:`parse_action`."""
        return parse_action(reply, self.fallback_chars)

    def _window(self, memory: AgentMemory) -> list[tuple[int, str, str]]:
        """The last ``history_length`` (1-based step number, observation, action) triples."""
        first = max(0, memory.step - self.history_length)
        return [(k + 1, memory.observations[k], memory.actions[k]) for k in range(first, memory.step)]


OUTPUT_INSTRUCTION = (
    "Think it through step by step inside <think> </think> tags. Then give exactly one admissible "
    "action inside <action> </action> tags, for example <action>{example}</action>."
)


class AlfworldPrompt(PromptBuilder):
    """ALFWorld: role line, task, recent history, current observation, admissible commands."""

    env_id = "spear/ALFWorld-v0"
    fallback_chars = ALFWORLD_FALLBACK_CHARS
    ROLE = "You are an expert agent acting in ALFRED, a text-based household environment."

    def messages(self, memory: AgentMemory) -> list[Message]:
        commands = ", ".join(f"'{a}'" for a in (memory.admissible_actions or []))
        instruction = OUTPUT_INSTRUCTION.format(example="go to desk 1")
        if memory.step == 0:
            text = (
                f"{self.ROLE}\n\nYou are here:\n{memory.observations[0]}\n\n"
                f"Commands you can use now: [{commands}].\n\n{instruction}"
            )
        else:
            history = "\n".join(
                f"[Observation {k}: '{obs}', Action {k}: '{act}']" for k, obs, act in self._window(memory)
            )
            text = (
                f"{self.ROLE}\nYour task is to: {memory.task}\n\n"
                f"You have taken {memory.step} step(s). Your most recent observations and actions:\n"
                f"{history}\n\n"
                f"Now at step {memory.step + 1}, you see: {memory.observations[-1]}\n\n"
                f"Commands you can use now: [{commands}].\n\n{instruction}"
            )
        return [{"role": "user", "content": text}]


class WebshopPrompt(PromptBuilder):
    """WebShop: role line, instruction, recent history, current page, clickable actions.

    The text observation is upstream's ``" [SEP] "``-joined page; the instruction segment is shown as
    the task and the remaining segments as the page. Prompts longer than ``max_chars`` drop the history.
    """

    env_id = "spear/WebShop-v0"
    fallback_chars = WEBSHOP_FALLBACK_CHARS
    ROLE = "You are an expert shopping agent browsing the WebShop online store."
    max_chars = 13_000

    def messages(self, memory: AgentMemory) -> list[Message]:
        text = self._render(memory, with_history=True)
        if len(text) > self.max_chars:
            text = self._render(memory, with_history=False)
        return [{"role": "user", "content": text}]

    def _render(self, memory: AgentMemory, *, with_history: bool) -> str:
        actions = ",\n".join(f"'{a}'" for a in (memory.admissible_actions or []))
        instruction = OUTPUT_INSTRUCTION.format(example="click[buy now]")
        page = page_without_instruction(memory.observations[-1])
        parts = [f"{self.ROLE}\nYour task: {memory.task}"]
        if with_history and memory.step > 0:
            history = "\n".join(
                f"[Observation {k}: '{page_without_instruction(obs)}', Action {k}: '{act}']"
                for k, obs, act in self._window(memory)
            )
            parts.append(
                f"You have taken {memory.step} step(s). Your most recent observations and actions:\n{history}"
            )
            parts.append(f"Now at step {memory.step + 1}, the page shows: {page}")
        else:
            parts.append(f"The page shows: {page}")
        parts.append(f"Actions you can take now:\n[\n{actions}\n]")
        parts.append(instruction)
        return "\n\n".join(parts)


def page_without_instruction(observation: str) -> str:
    """The page segments of a WebShop text observation, each quoted, without the instruction segment."""
    segments = [s.strip() for s in observation.split("[SEP]")]
    if "Instruction:" in segments:
        i = segments.index("Instruction:")
        segments = segments[:i] + segments[i + 2:]
    return " [SEP] ".join(f"'{s}'" for s in segments if s)


_BUILDERS: dict[str, type[PromptBuilder]] = {b.env_id: b for b in (AlfworldPrompt, WebshopPrompt)}


def register_prompt_builder(builder: type[PromptBuilder]) -> type[PromptBuilder]:
    """Add a builder for its ``env_id`` (usable as a class decorator)."""
    _BUILDERS[builder.env_id] = builder
    return builder


def prompt_builder_for(env_id: str, history_length: int = 2) -> PromptBuilder:
    """The prompt builder for a registered env id; ``KeyError`` lists the known ids."""
    if env_id not in _BUILDERS:
        import spear_envs  # noqa: F401  (env packages register their builders on import)
    try:
        return _BUILDERS[env_id](history_length=history_length)
    except KeyError:
        raise KeyError(f"no prompt builder for {env_id!r}; known: {sorted(_BUILDERS)}") from None
