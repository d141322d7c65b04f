"""SFT data: expert episodes on generated *training* tasks, one example per agent turn.

Each env plugs in an :class:`ExpertSource`: how to build the env for a split and how to make its
expert (ALFWorld: the handcoded expert with the move fix; WebShop: the scripted buyer; math: the
scripted solver). :func:`play_expert_episode` runs the expert on the real env and renders every turn's
prompt with ``spear_envs.agent_io.prompt_builder_for(env_id)``, the very builder the rollout uses.
Episodes whose goal already holds at reset (degenerate generated games) or that the expert does not
win never enter the data.

Detours (``SFTRecipe.detour_rate``; docs/models.md, 'Detours in the expert data'): with that probability a
turn plays a random admissible action other than the expert's instead of the expert's. The expert then
recovers from where the detour left it (ALFWorld's expert plans from the current state). A detour turn stays
in the later prompts' history but is never a target (``SFTExample.train`` is false), so the policy learns
to act well after off-path turns, its own mistakes included, without learning the mistakes.

An example is ``(messages, response)``; :func:`tokenize_examples` turns it into prompt ids (the policy's
chat-template encoding, :meth:`Policy.prompt_ids`) and response ids (``response`` + EOS), the loss
covering the response ids only.

Append-only (``chat``) prompts: an episode's turns are one growing conversation, so
:func:`tokenize_examples` joins them into **one example per episode**, built from ids exactly as the
rollout builds its prompts (``spear_train.rollout.collector``): the first prompt, then per turn the reply
ids (``response`` + EOS, loss 1) and the template glue up to the next reply (closing, observation
message, assistant header: :func:`~spear_train.rollout.collector.tool_turn_ids`, loss 0).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
from tqdm import tqdm

from spear_envs.agent_io import AgentMemory, prompt_builder_for
from spear_train.policy.constrained import DEFAULT_TEMPLATE
from spear_train.sft import sources  # noqa: F401  (registers the built-in expert sources)
from spear_train.sft.experts import EXPERT_SOURCES, Expert, ExpertSource, register_expert_source  # noqa: F401

Message = dict[str, str]


def expert_source(env_id: str) -> ExpertSource:
    """The expert source registered for ``env_id`` (``KeyError`` naming the known ones otherwise)."""
    if env_id not in EXPERT_SOURCES:
        raise KeyError(f"no expert source for {env_id!r}; available: {sorted(EXPERT_SOURCES)}")
    return EXPERT_SOURCES[env_id]


#: The tiny policies' reply format for agent envs: empty reasoning, then the action. The think tags
#: make the reply format-valid (docs/rollouts.md, 'Action parsing (format validity)'); constrained
#: decoding uses the same template.
AGENT_RESPONSE_TEMPLATE = DEFAULT_TEMPLATE


def agent_response(action: str) -> str:
    """The target reply for one agent turn (:data:`AGENT_RESPONSE_TEMPLATE`)."""
    return AGENT_RESPONSE_TEMPLATE.format(action=action)


@dataclass
class SFTExample:
    """One agent turn: the prompt messages and the reply played. ``train`` is false for a detour turn
    (a random action, kept as context, never a target)."""

    messages: list[Message]
    response: str
    train: bool = True


@dataclass
class ExpertEpisode:
    """One expert episode. ``examples`` is empty for a degenerate episode."""

    seed: int
    task_id: str
    won: bool
    degenerate: bool
    examples: list[SFTExample]


def play_expert_episode(
    env: gym.Env, expert_factory: Callable[[gym.Env], Expert], env_id: str, seed: int,
    options: dict | None = None, history_length: int = 2, response: Callable[[str], str] | None = None,
    prompt_format: str | None = None, detour_rate: float = 0.0,
) -> ExpertEpisode:
    """Play the expert on task ``seed`` and render each turn's prompt with the rollout's prompt builder.

    ``response(action)`` is each turn's target text (default :func:`agent_response`). ``detour_rate``: the
    probability that a turn plays a random admissible action other than the expert's (module docstring),
    drawn from a generator seeded by ``seed``, so an episode's detours are a function of its task."""
    if not 0.0 <= detour_rate < 1.0:
        raise ValueError(f"detour_rate must be in [0, 1), got {detour_rate!r}")
    response = response or agent_response
    rng = random.Random(f"detour-{seed}")
    builder = prompt_builder_for(env_id, history_length=history_length, prompt_format=prompt_format)
    obs, info = env.reset(seed=seed, options=options or None)
    if info["won"]:
        return ExpertEpisode(seed, str(info["task_id"]), True, True, [])
    expert = expert_factory(env)
    memory = AgentMemory.start(obs, info)
    examples: list[SFTExample] = []
    done = False
    while not done:
        action, train = expert(obs, info), True
        if detour_rate and rng.random() < detour_rate:
            others = [a for a in info.get("admissible_actions") or [] if a != action]
            if not others and not info.get("admissible_actions"):
                raise ValueError(f"{env_id} lists no admissible actions: it cannot take detours")
            if others:
                action, train = rng.choice(others), False
        examples.append(SFTExample(builder.messages(memory), response(action), train))
        obs, _, terminated, truncated, info = env.step(action)
        memory.record(action, obs, info)
        done = terminated or truncated
    return ExpertEpisode(seed, str(info["task_id"]), bool(info["won"]), False, examples)


@dataclass
class DataSummary:
    episodes: int = 0
    won: int = 0
    degenerate: int = 0
    lost: int = 0
    examples: int = 0  #: turns of the won episodes (detours included)
    detours: int = 0  #: of which detour turns (context, not targets)


def expert_examples(
    env_id: str, n_tasks: int, first_seed: int, history_length: int = 2, progress: bool = True,
    cache_file: Path | None = None, first_turn_copies: int = 1, prompt_format: str | None = None,
    detour_rate: float = 0.0,
) -> tuple[list[SFTExample], DataSummary]:
    """Examples from the expert's won, non-degenerate episodes on training tasks ``first_seed + i``.

    Each episode's first turn is taken ``first_turn_copies`` times (``SFTRecipe.first_turn_copies``).

    With ``cache_file`` the episodes are read from / written to a JSONL file (one episode a line), so
    a second run with the same arguments skips the (slow) expert play.
    """
    if first_turn_copies < 1:
        raise ValueError(f"first_turn_copies must be at least 1, got {first_turn_copies}")
    episodes = _load_cached(cache_file)
    if episodes is None:
        episodes = list(_play_many(env_id, n_tasks, first_seed, history_length, progress, prompt_format,
                                   detour_rate))
        if cache_file is not None:
            _save_cached(cache_file, episodes)
    summary = DataSummary(episodes=len(episodes))
    examples: list[SFTExample] = []
    for ep in episodes:
        if ep.degenerate:
            summary.degenerate += 1
        elif not ep.won:
            summary.lost += 1
        else:
            summary.won += 1
            examples.extend(ep.examples[:1] * (first_turn_copies - 1) + ep.examples)
    summary.examples = len(examples)
    summary.detours = sum(not ex.train for ex in examples)
    return examples, summary


def _play_many(env_id: str, n_tasks: int, first_seed: int, history_length: int, progress: bool,
               prompt_format: str | None = None, detour_rate: float = 0.0) -> Iterator[ExpertEpisode]:
    source = expert_source(env_id)
    env = source.make_env("train")
    try:
        for i in tqdm(range(n_tasks), desc=f"expert episodes ({env_id})", disable=not progress, unit="ep"):
            yield play_expert_episode(
                env, source.make_expert, env_id, first_seed + i, source.reset_options("train"), history_length,
                source.response, prompt_format, detour_rate,
            )
    finally:
        env.close()


def _load_cached(path: Path | None) -> list[ExpertEpisode] | None:
    if path is None or not path.is_file():
        return None
    episodes = []
    for line in path.read_text().splitlines():
        d = json.loads(line)
        d["examples"] = [SFTExample(**e) for e in d["examples"]]
        episodes.append(ExpertEpisode(**d))
    return episodes


def _save_cached(path: Path, episodes: list[ExpertEpisode]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(asdict(ep)) + "\n" for ep in episodes))
    tmp.replace(path)


@dataclass
class TokenizedExample:
    """``prompt_ids``, then ``response_ids`` trained on where ``loss_mask`` is 1 (``None``: all of them)."""

    prompt_ids: list[int]
    response_ids: list[int]
    loss_mask: list[int] | None = None

    @property
    def length(self) -> int:
        return len(self.prompt_ids) + len(self.response_ids)


def tokenize_examples(
    examples: list[SFTExample], prompt_ids: Callable[[list[Message]], list[int]], tokenizer: Any,
    max_prompt_tokens: int, max_response_tokens: int, observation_role: str | None = None,
) -> tuple[list[TokenizedExample], int]:
    """Encode examples; returns ``(kept, dropped)`` where over-long prompts/responses are dropped.

    ``prompt_ids`` must be the policy's own chat-template encoder (:meth:`Policy.prompt_ids`).
    ``observation_role`` (append-only prompts: the role of the observation messages) joins each
    episode's turns into one example (module docstring); ``dropped`` then counts episodes, dropped when a
    reply is longer than ``max_response_tokens`` or the whole episode longer than ``max_prompt_tokens``.
    """
    if observation_role is not None:
        return _tokenize_conversations(examples, prompt_ids, tokenizer, max_prompt_tokens, max_response_tokens,
                                       observation_role)
    kept, dropped = [], 0
    for ex in examples:
        if not ex.train:  # a detour turn: context of the later turns' prompts only
            continue
        p = prompt_ids(ex.messages)
        r = tokenizer.encode(ex.response, add_special_tokens=False) + [tokenizer.eos_token_id]
        if len(p) > max_prompt_tokens or len(r) > max_response_tokens:
            dropped += 1
            continue
        kept.append(TokenizedExample(p, r))
    return kept, dropped


def _continues(example: SFTExample, previous: SFTExample | None) -> bool:
    """True when ``example``'s chat is ``previous``'s chat, its reply and one more message."""
    if previous is None:
        return False
    n = len(previous.messages)
    return (len(example.messages) == n + 2 and example.messages[:n] == previous.messages
            and example.messages[n] == {"role": "assistant", "content": previous.response})


def _tokenize_conversations(examples, prompt_ids, tokenizer, max_prompt_tokens, max_response_tokens,
                            observation_role) -> tuple[list[TokenizedExample], int]:
    from spear_train.rollout.collector import tool_turn_ids

    eos = tokenizer.eos_token_id
    stop_text = tokenizer.decode([eos])
    episodes: list[list[SFTExample]] = []
    for k, ex in enumerate(examples):
        if _continues(ex, examples[k - 1] if k else None):
            episodes[-1].append(ex)
        else:
            episodes.append([ex])
    kept, dropped = [], 0
    for turns in episodes:
        prompt = prompt_ids(turns[0].messages)
        ids, mask, too_long = [], [], False
        for k, turn in enumerate(turns):
            reply = tokenizer.encode(turn.response, add_special_tokens=False) + [eos]
            too_long |= len(reply) > max_response_tokens
            ids += reply
            mask += [int(turn.train)] * len(reply)
            if k + 1 < len(turns):
                chat = turn.messages + [{"role": "assistant", "content": turn.response}]
                observation = turns[k + 1].messages[-1]
                if observation["role"] != observation_role:
                    raise ValueError(f"turn {k + 1} of an episode does not end with a {observation_role!r} message")
                glue = tool_turn_ids(tokenizer, chat, observation, stop_text)
                ids += glue
                mask += [0] * len(glue)
        if too_long or len(prompt) + len(ids) > max_prompt_tokens:
            dropped += 1
            continue
        kept.append(TokenizedExample(prompt, ids, mask))
    return kept, dropped


def tokenizer_corpus(examples: list[SFTExample]) -> Iterator[str]:
    """The text a game-trained tokenizer learns from: the rendered prompts, role names and responses."""
    yield "system user assistant tool"
    for ex in examples:
        for message in ex.messages:
            yield message["content"]
        yield ex.response
