"""Agents that drive a rollout: the model policy, the envs' scripted experts, and a random agent.

All three go through the same rollout path (:class:`~spear_train.rollout.collector.RolloutCollector`):
they answer a batch of :class:`Turn` requests with :class:`Reply` objects whose ``text`` the prompt
builder parses into the env action. Only :class:`ModelAgent` has token ids and log-probs; the others
leave those fields empty. ``--agent expert|random|model`` picks one via :func:`make_agent`.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from spear_train.policy.constrained import DEFAULT_TEMPLATE, TEMPLATE_ACTION
from spear_train.policy.search_queries import turn_trie
from spear_train.policy.fast_decode import make_generator
from spear_train.policy.generation import Generator, SamplingConfig

Message = dict[str, str]
AGENTS = ("model", "expert", "random")


@dataclass
class Turn:
    """One env slot asking for its next reply.

    ``messages`` is the chat for this turn. For a continuing multi-turn episode ``context_ids`` holds the
    exact ids the model has seen and produced so far (the rollout appends to it; it is never rebuilt from
    text), and the agent must continue from it instead of encoding ``messages``.
    """

    slot: int
    messages: list[Message]
    admissible_actions: list[str] | None = None
    context_ids: list[int] | None = None
    tools: list[dict] | None = None
    whole_reply_is_action: bool = False  # multi-turn envs: the env receives the whole turn, no tags
    task: str | None = None  # the episode's task text (constrained decoding: a search query is a prefix of it)


@dataclass
class Reply:
    """An agent's answer. ``text`` (special tokens skipped) is what the parser sees; ``raw_text`` keeps them."""

    text: str
    raw_text: str = ""
    prompt_ids: list[int] = field(default_factory=list)
    response_ids: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    truncated: bool = False
    distribution: str = ""


class Agent(Protocol):
    name: str

    def act(self, turns: Sequence[Turn], pool) -> list[Reply]:
        """One reply per turn, in order. ``pool`` is the env pool (experts read env state through it)."""
        ...


class PolicyLike(Protocol):
    """What :class:`ModelAgent` needs from a loaded policy (``spear_train.policy.loading.Policy``)."""

    model: object
    tokenizer: object

    def prompt_ids(self, messages: list[Message], tools: list[dict] | None = None) -> list[int]: ...


def format_reply(action: str, note: str = "") -> str:
    """A well-formed reply carrying ``action`` (think tags present, so the parser marks it valid)."""
    return f"<think>{note}</think><action>{action}</action>"


class ModelAgent:
    """The policy: encode the chat with the tokenizer's template, sample, decode.

    Args:
        policy: a loaded policy (model, tokenizer, ``prompt_ids(messages)``).
        sampling: sampling settings (plain temperature sampling by default).
        generator: backend (default: ``make_generator(policy.model, policy.tokenizer, decode_backend)``,
            i.e. :class:`~spear_train.policy.fast_decode.FastGenerator` for the models it supports and
            :class:`~spear_train.policy.generation.HFGenerator` otherwise).
        decode_backend: ``auto``, ``fast`` or ``hf`` (the reference ``generate``); ignored with ``generator``.
        constrained: restrict responses to the admissible actions (rendered with ``template``); turns
            without admissible actions, or whose list holds a template action, are sampled freely, except
            ``search[<query>]`` on a turn that carries its ``task``: the query is then a word prefix of the
            task (:func:`~spear_train.policy.search_queries.turn_trie`).
        seed: generation seed; call ``k`` of this agent uses ``seed + k``, so a rollout is reproducible.
    """

    name = "model"

    def __init__(self, policy: PolicyLike, sampling: SamplingConfig = SamplingConfig(),
                 generator: Generator | None = None, constrained: bool = False,
                 template: str = DEFAULT_TEMPLATE, seed: int = 0, decode_backend: str = "auto"):
        self.policy, self.sampling = policy, sampling
        self.generator = generator or make_generator(policy.model, policy.tokenizer, decode_backend)
        self.constrained, self.template = constrained, template
        self.seed, self._calls = seed, 0
        self.stop_ids = getattr(self.generator, "stop_ids", None)

    def act(self, turns: Sequence[Turn], pool=None) -> list[Reply]:
        tok = self.policy.tokenizer
        prompts = [t.context_ids if t.context_ids is not None else self.policy.prompt_ids(t.messages, t.tools)
                   for t in turns]
        tries = None
        if self.constrained:
            tries = [turn_trie(tok, t.admissible_actions, self.stop_ids[0], self.template, t.task) for t in turns]
        batch = self.generator.generate(prompts, self.sampling, tries=tries, seed=self.seed + self._calls)
        self._calls += 1
        replies = []
        for prompt, gen in zip(prompts, batch.generations):
            replies.append(Reply(
                text=tok.decode(gen.token_ids, skip_special_tokens=True),
                raw_text=tok.decode(gen.token_ids, skip_special_tokens=False),
                prompt_ids=list(prompt), response_ids=gen.token_ids, logprobs=gen.logprobs,
                truncated=not gen.finished, distribution=batch.distribution,
            ))
        return replies


_WORD = re.compile(r"[a-z]{3,}")


class RandomAgent:
    """Picks a uniformly random admissible action (a random word where the env lists none); seeded.

    A template action such as WebShop's ``search[<your query>]`` is filled with 3 to 6 words drawn at
    random from the turn's prompt (which holds the task), so the agent can reach item pages at all.
    """

    name = "random"

    def __init__(self, seed: int = 0):
        self.rng = random.Random(seed)

    def act(self, turns: Sequence[Turn], pool=None) -> list[Reply]:
        replies = []
        for t in turns:
            if t.admissible_actions:
                action = self._fill(self.rng.choice(t.admissible_actions), t)
            else:
                action = "".join(self.rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(6))
            text = action if t.whole_reply_is_action else format_reply(action, "random")
            replies.append(Reply(text, text))
        return replies

    def _fill(self, action: str, turn: Turn) -> str:
        template = TEMPLATE_ACTION.match(action)
        if not template:
            return action
        words = _WORD.findall(turn.messages[-1]["content"].lower()) if turn.messages else []
        if not words:
            return action
        picked = [self.rng.choice(words) for _ in range(self.rng.randint(3, 6))]
        return f"{template.group(1)}[{' '.join(picked)}]"


class ExpertAgent:
    """Asks each env's scripted expert (hosted with the env, see :func:`~spear_train.rollout.workers.expert_action`)."""

    name = "expert"

    def act(self, turns: Sequence[Turn], pool) -> list[Reply]:
        actions = pool.expert_actions([t.slot for t in turns])
        replies = []
        for t in turns:
            action = actions.get(t.slot, "")
            text = action if t.whole_reply_is_action else format_reply(action, "expert")
            replies.append(Reply(text, text))
        return replies


def make_agent(kind: str, policy: PolicyLike | None = None, seed: int = 0, **model_kwargs) -> Agent:
    """The agent for ``--agent kind``; ``model`` needs ``policy``."""
    if kind == "model":
        if policy is None:
            raise ValueError("--agent model needs a policy (--model PATH or a built-in name)")
        return ModelAgent(policy, seed=seed, **model_kwargs)
    if kind == "expert":
        return ExpertAgent()
    if kind == "random":
        return RandomAgent(seed)
    raise ValueError(f"unknown agent {kind!r}; choose one of {', '.join(AGENTS)}")
