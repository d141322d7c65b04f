"""Per-env prompt builders with a history window (docs/rollouts.md, 'Prompts and history
window'; the wording is ours).

A prompt builder turns an :class:`AgentMemory` (what the agent saw and did so far in one episode) into
chat messages for the policy, and parses the policy's reply back into an env action. The rollout and
the SFT data builder both call these functions, so training data and rollouts are rendered
identically.

Contract: ``messages(memory)`` returns a list of ``{"role", "content"}`` dicts, ready for a tokenizer's
chat template with ``add_generation_prompt=True``. Agent envs (ALFWorld, WebShop) return a single user
message that embeds the last ``history_length`` (observation, action) pairs: the ``window`` prompt format,
the paper's.

Prompt formats (docs/rollouts.md, 'Prompt formats'): ``window`` re-renders the whole prompt every turn
(task, history window with a step counter, current observation, admissible commands), so no two turns
share more than the role line. ``chat`` (ALFWorld, :class:`AlfworldChatPrompt`) is one growing
conversation: the first user message holds the role, the task's first observation and the output
instruction; every later turn appends the agent's reply and one user message with the new
observation. Turn ``k + 1``'s prompt therefore *extends* turn ``k``'s prompt and reply (the builder's
``append_only``), so a decoder can keep the keys and values of everything before and an update can train
a trajectory's turns in one forward. The admissible commands are not listed in ``chat`` prompts: the
laptop decodes under the admissible-action trie, which enforces them.
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
    #: The prompt format this builder renders (:data:`PROMPT_FORMATS`).
    prompt_format: ClassVar[str] = "window"
    #: True when every turn's prompt is the previous turn's prompt and reply followed by
    #: :meth:`observation_message` (the rollout then appends ids instead of encoding ``messages``).
    append_only: ClassVar[bool] = False
    #: Role of the message that carries an observation in an append-only or multi-turn chat.
    observation_role: ClassVar[str] = "tool"

    def __init__(self, history_length: int = 2):
        if history_length < 0:
            raise ValueError(f"history_length must be >= 0, got {history_length}")
        self.history_length = history_length

    @abstractmethod
    def messages(self, memory: AgentMemory) -> list[Message]:
        """Chat messages for the policy's next turn."""

    def observation_message(self, memory: AgentMemory) -> Message:
        """Append-only builders: the message that carries ``memory``'s newest observation."""
        raise NotImplementedError(f"{type(self).__name__} is not an append-only prompt builder")

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


class AlfworldChatPrompt(PromptBuilder):
    """ALFWorld, ``chat`` format: one growing conversation (see the module docstring).

    ``messages(memory)`` renders the whole conversation: the first user message (role line, the reset
    observation, which states the task, and the output instruction), then per step the reply in the
    tiny policies' format (:data:`REPLY_TEMPLATE`) and a user message with the observation. A rollout
    renders only the first message and appends the ids of the replies the model actually sampled and of
    :meth:`observation_message` (``spear_train.rollout.collector``); for replies in :data:`REPLY_TEMPLATE`
    the two are the same conversation. ``history_length`` is unused: the whole episode is in the chat.
    """

    env_id = "spear/ALFWorld-v0"
    fallback_chars = ALFWORLD_FALLBACK_CHARS
    prompt_format = "chat"
    append_only = True
    observation_role = "user"
    ROLE = AlfworldPrompt.ROLE
    REPLY_TEMPLATE = "<think></think><action>{action}</action>"

    def messages(self, memory: AgentMemory) -> list[Message]:
        instruction = OUTPUT_INSTRUCTION.format(example="go to desk 1")
        chat = [{"role": "user", "content": f"{self.ROLE}\n\nYou are here:\n{memory.observations[0]}\n\n{instruction}"}]
        for k, action in enumerate(memory.actions):
            chat.append({"role": "assistant", "content": self.REPLY_TEMPLATE.format(action=action)})
            chat.append(self._observation(memory.observations[k + 1]))
        return chat

    def observation_message(self, memory: AgentMemory) -> Message:
        return self._observation(memory.observations[-1])

    def _observation(self, observation: str) -> Message:
        return {"role": self.observation_role, "content": observation}


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


#: Prompt formats a run can ask for; ``window`` is every env's default (and the paper's).
PROMPT_FORMATS = ("window", "chat")

#: Builders by env id; ``_VARIANTS`` holds the non-default formats by (env id, format).
_BUILDERS: dict[str, type[PromptBuilder]] = {b.env_id: b for b in (AlfworldPrompt, WebshopPrompt)}
_VARIANTS: dict[tuple[str, str], type[PromptBuilder]] = {(b.env_id, b.prompt_format): b for b in (AlfworldChatPrompt,)}


def register_prompt_builder(builder: type[PromptBuilder]) -> type[PromptBuilder]:
    """Add a builder for its ``env_id`` (usable as a class decorator): the env's default format."""
    _BUILDERS[builder.env_id] = builder
    return builder


def prompt_formats_for(env_id: str) -> list[str]:
    """The prompt formats ``env_id`` has builders for (its default first)."""
    prompt_builder_for(env_id)  # registers the env's builders, or raises KeyError
    default = _BUILDERS[env_id].prompt_format
    return [default] + sorted(f for (e, f) in _VARIANTS if e == env_id and f != default)


def prompt_builder_for(env_id: str, history_length: int = 2, prompt_format: str | None = None) -> PromptBuilder:
    """The prompt builder for a registered env id in ``prompt_format`` (``None``: the env's default).

    ``KeyError`` lists the known ids; ``ValueError`` names the formats the env has."""
    if env_id not in _BUILDERS:
        import spear_envs  # noqa: F401  (env packages register their builders on import)
    if env_id not in _BUILDERS:
        raise KeyError(f"no prompt builder for {env_id!r}; known: {sorted(_BUILDERS)}")
    builder = _BUILDERS[env_id]
    if prompt_format is not None and prompt_format != builder.prompt_format:
        if prompt_format not in PROMPT_FORMATS:
            raise ValueError(f"prompt format must be one of {list(PROMPT_FORMATS)}, got {prompt_format!r}")
        builder = _VARIANTS.get((env_id, prompt_format))
        if builder is None:
            raise ValueError(f"{env_id} has no {prompt_format!r} prompt format; it has "
                             f"{prompt_formats_for(env_id)}")
    return builder(history_length=history_length)
