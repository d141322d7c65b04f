"""The rollout loop: groups of ``n`` env copies sharing a seed, run in lock-step
(docs/rollouts.md, 'Rollout loop').

Per step, for every still-active slot: build the prompt from the episode memory with the env's prompt builder
(``spear_envs.agent_io.prompt_builder_for``, history window: docs/rollouts.md, 'Prompts and history window'), ask
the agent for a reply (one batched generation for all active slots), parse the reply into an action ('Action
parsing (format validity)'), step all envs (one call per env worker), and record a
:class:`~spear_train.rollout.samples.Sample`. Finished slots get no more prompts. Samples of a trajectory get the
episode fields once it ends.

Token-exactness: ``prompt_ids`` is the chat-template encoding the model was conditioned on and
``response_ids`` are the ids it sampled; the action the env receives is parsed from the decoding of
exactly those ids. Nothing is re-tokenized.

Multi-turn episodes (prompt builders with ``multi_turn = True``, the math env): one sample per episode.
The model continues from the exact ids it has seen so far; after each non-final turn the env's
observation is appended as a tool message: the ids of the chat-template text between the assistant turn
and the next generation prompt are appended with ``loss_mask = 0``. Turn ``k``'s context is therefore
``prompt_ids + response_ids[:sum of earlier turns]``, the same ids the sample stores.

Append-only agent prompts (builders with ``append_only = True``, the ``chat`` prompt format): one sample
per env step as in the ``window`` format, but turn ``k + 1``'s prompt is built from ids, never from
text: ``prompt_ids_k + response_ids_k + ids(closing of the reply, the observation message, the next
assistant header)`` (:func:`tool_turn_ids`, the same glue as multi-turn episodes). Each sample's
``prompt_ids + response_ids`` is therefore a prefix of the next sample's prompt, which the fast decoder
(its prefix store) and the update (:mod:`spear_train.training.logprobs`, packing) exploit.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from spear_envs.agent_io import AgentMemory, prompt_builder_for
from spear_train.rollout.agents import Agent, Reply, Turn
from spear_train.rollout.samples import Episode, Rollout, Sample
from spear_train.rollout.workers import StepOutcome


@dataclass(frozen=True)
class RolloutConfig:
    """Rollout settings.

    Attributes:
        group_size: ``n``, env copies per task (they share a seed and a group id).
        max_steps: per-episode step cap on top of the env's own (``None``: the env's cap only).
        history_length: (observation, action) pairs shown in agent-env prompts (``window`` format).
        max_response_tokens: multi-turn episodes end once their response (tool replies included)
            reaches this many tokens; one the env has not ended by then is ended by playing the prompt
            builder's ``budget_end_action`` (MathTool: a final answer without a box, scored -1), so every
            episode finishes in the env (terminated or truncated) and its records replay as played.
        progress: show a tqdm bar over env steps.
        prompt_format: the prompt builder's format (``window``, ``chat``; ``None`` = the env's default).
    """

    group_size: int = 4
    max_steps: int | None = None
    history_length: int = 2
    max_response_tokens: int = 4096
    progress: bool = False
    prompt_format: str | None = None  # None: the env's default (spear_envs.agent_io.PROMPT_FORMATS)

    def __post_init__(self):
        if self.group_size < 1:
            raise ValueError(f"group_size must be >= 1, got {self.group_size}")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"max_steps must be >= 1 or None, got {self.max_steps}")


@dataclass
class _Slot:
    """One env copy's state during a rollout."""

    index: int
    episode: Episode
    memory: AgentMemory | None = None
    samples: list[Sample] = field(default_factory=list)
    done: bool = False
    # multi-turn only: the exact ids seen and produced so far
    prompt_ids: list[int] = field(default_factory=list)
    response_ids: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    loss_mask: list[int] = field(default_factory=list)
    conversation: list[dict] = field(default_factory=list)
    last_reply: Reply | None = None
    distribution: str = ""
    budget_spent: bool = False  # multi-turn: the response budget ran out while the env's episode went on
    context: list[int] | None = None  # append-only prompts: the next turn's prompt ids (model agents)

    def fail(self, reason: str) -> None:
        self.done = True
        self.episode.failed = True
        self.episode.failure = reason


class RolloutCollector:
    """Runs rollouts of one env with one agent over an env pool.

    Args:
        env_id: the env the pool hosts (selects the prompt builder).
        agent: model, expert or random agent.
        pool: a :class:`~spear_train.rollout.workers.LocalEnvPool` or ``RayEnvPool``; its ``num_envs``
            must be ``groups x config.group_size`` for every :meth:`collect` call.
        config: :class:`RolloutConfig`.
    """

    def __init__(self, env_id: str, agent: Agent, pool, config: RolloutConfig = RolloutConfig()):
        self.env_id, self.agent, self.pool, self.config = env_id, agent, pool, config
        self.builder = prompt_builder_for(env_id, history_length=config.history_length,
                                          prompt_format=config.prompt_format)
        self.multi_turn = self.builder.multi_turn
        self.append_only = self.builder.append_only and not self.multi_turn
        self.tools = getattr(self.builder, "tools", None)

    def collect(self, seeds: list[int], tag: str = "") -> Rollout:
        """Roll out one group per seed; ``tag`` prefixes group and trajectory ids (e.g. the train step)."""
        n = self.config.group_size
        if len(seeds) * n != self.pool.num_envs:
            raise ValueError(
                f"{len(seeds)} groups x {n} copies = {len(seeds) * n} envs, but the pool hosts {self.pool.num_envs}"
            )
        start = time.perf_counter()
        rollout = Rollout([], [])
        slots = self._reset(seeds, tag, rollout)
        bar = _progress_bar(self.config.progress)
        while True:
            active = [s for s in slots if not s.done]
            if not active:
                break
            t0 = time.perf_counter()
            replies = self.agent.act([self._turn(s) for s in active], self.pool)
            t1 = time.perf_counter()
            actions = {s.index: self.builder.parse(r.text) for s, r in zip(active, replies)}
            outcomes = self.pool.step({i: a.action for i, a in actions.items()})
            rollout.generation_seconds += t1 - t0
            rollout.env_seconds += time.perf_counter() - t1
            rollout.env_steps += len(active)
            rollout.generated_tokens += sum(len(r.response_ids) for r in replies)
            for s, reply in zip(active, replies):
                self._record(s, reply, actions[s.index], outcomes[s.index])
            self._end_spent_budgets(active, rollout)
            if bar is not None:
                bar.update(len(active))
        if bar is not None:
            bar.close()
        for s in slots:
            rollout.samples.extend(self._finish(s))
            rollout.episodes.append(s.episode)
        rollout.seconds = time.perf_counter() - start
        return rollout

    # ------------------------------------------------------------------ steps
    def _reset(self, seeds: list[int], tag: str, rollout: Rollout) -> list[_Slot]:
        n = self.config.group_size
        t0 = time.perf_counter()
        outcomes = self.pool.reset([seed for seed in seeds for _ in range(n)])
        rollout.env_seconds += time.perf_counter() - t0
        slots = []
        for g, seed in enumerate(seeds):
            task_id = next((o.info.get("task_id", "") for o in outcomes[g * n:(g + 1) * n] if not o.error), "")
            group_id = f"{tag}g{g}:{task_id}"
            for c in range(n):
                i, out = g * n + c, outcomes[g * n + c]
                slot = _Slot(i, Episode(group_id, f"{group_id}/c{c}", self.env_id, seed))
                if out.error:
                    slot.fail(out.error)
                else:
                    slot.memory = AgentMemory.start(out.observation, out.info)
                    slot.episode.task_id, slot.episode.task = out.info["task_id"], out.info["task"]
                    if self.multi_turn or self.append_only:
                        slot.conversation = list(self.builder.messages(slot.memory))
                slots.append(slot)
        return slots

    def _turn(self, s: _Slot) -> Turn:
        if self.multi_turn and s.memory.step > 0:
            return Turn(s.index, s.conversation, s.memory.admissible_actions,
                        context_ids=s.prompt_ids + s.response_ids, tools=self.tools, whole_reply_is_action=True)
        if self.append_only:
            return Turn(s.index, s.conversation, s.memory.admissible_actions, context_ids=s.context,
                        task=s.memory.task)
        messages = s.conversation if self.multi_turn else self.builder.messages(s.memory)
        return Turn(s.index, messages, s.memory.admissible_actions, tools=self.tools,
                    whole_reply_is_action=self.multi_turn, task=s.memory.task)

    @staticmethod
    def _book_step(s: _Slot, action: str, out: StepOutcome) -> bool:
        """Book one env step into the slot's episode and memory; False (the slot failed) on an env error."""
        if out.error:
            s.fail(out.error)
            return False
        ep = s.episode
        ep.length += 1
        ep.episode_return += out.reward
        ep.won = bool(out.info.get("won", False))
        ep.actions.append(action)
        s.memory.record(action, out.observation, out.info)
        return True

    def _record(self, s: _Slot, reply: Reply, parsed, out: StepOutcome) -> None:
        anchor = s.memory.observations[-1]
        if not self._book_step(s, parsed.action, out):
            return
        ep = s.episode
        ep.invalid_actions += not parsed.valid
        ep.inadmissible_actions += not out.info.get("action_valid", True)
        s.done = out.terminated or out.truncated or (
            self.config.max_steps is not None and ep.length >= self.config.max_steps)
        if self.multi_turn:
            self._extend_episode(s, reply, out)
            return
        s.samples.append(Sample(
            group_id=ep.group_id, traj_id=ep.traj_id, step=ep.length - 1,
            prompt_ids=reply.prompt_ids, response_ids=reply.response_ids, logprobs=reply.logprobs,
            loss_mask=[1] * len(reply.response_ids), reward=out.reward, action=parsed.action,
            action_valid=parsed.valid, action_admissible=bool(out.info.get("action_valid", True)),
            anchor_obs=anchor, response_text=reply.text, response_text_raw=reply.raw_text,
            truncated=reply.truncated, logprob_distribution=reply.distribution,
        ))
        if self.append_only and not s.done:
            self._extend_chat(s, reply)

    def _extend_chat(self, s: _Slot, reply: Reply) -> None:
        """Append-only prompts: the reply and the new observation join the conversation, and (model
        agents) the next prompt's ids are this prompt's, the sampled ids and the template glue."""
        s.conversation.append({"role": "assistant", "content": reply.text})
        observation = self.builder.observation_message(s.memory)
        tokenizer = getattr(getattr(self.agent, "policy", None), "tokenizer", None)
        if tokenizer is not None:
            stop_text = "" if reply.truncated or not reply.response_ids else tokenizer.decode(reply.response_ids[-1:])
            glue = tool_turn_ids(tokenizer, s.conversation, observation, stop_text)
            s.context = list(reply.prompt_ids) + list(reply.response_ids) + glue
        s.conversation.append(observation)

    def _extend_episode(self, s: _Slot, reply: Reply, out: StepOutcome) -> None:
        """Multi-turn: append this turn's sampled ids, then (episode going on) the tool reply, masked."""
        if s.memory.step == 1:
            s.prompt_ids = list(reply.prompt_ids)
        s.response_ids += reply.response_ids
        s.logprobs += reply.logprobs
        s.loss_mask += [1] * len(reply.response_ids)
        s.last_reply, s.distribution = reply, reply.distribution or s.distribution
        if len(s.response_ids) >= self.config.max_response_tokens:
            s.budget_spent = not s.done
            s.done = True
        if s.done:
            return
        s.conversation.append({"role": "assistant", "content": reply.text})
        tokenizer = getattr(getattr(self.agent, "policy", None), "tokenizer", None)
        observation_role = getattr(self.builder, "observation_role", "tool")
        if tokenizer is not None:
            stop_text = "" if reply.truncated or not reply.response_ids else tokenizer.decode(reply.response_ids[-1:])
            ids = tool_turn_ids(tokenizer, s.conversation, {"role": observation_role, "content": out.observation},
                                stop_text, tools=self.tools)
            s.response_ids += ids
            s.logprobs += [0.0] * len(ids)
            s.loss_mask += [0] * len(ids)
        s.conversation.append({"role": observation_role, "content": out.observation})

    def _end_spent_budgets(self, slots: list[_Slot], rollout: Rollout) -> None:
        """End, in the env, the episodes whose response budget ran out this turn while the env went on: one
        more env step with ``builder.budget_end_action`` (not a policy turn: no tokens, not counted as an
        invalid action). Its reward joins the episode's return, and the record holds it like any step."""
        action = self.builder.budget_end_action
        spent = [s for s in slots if s.budget_spent and not s.episode.failed]
        if action is None or not spent:
            return
        t0 = time.perf_counter()
        outcomes = self.pool.step({s.index: action for s in spent})
        rollout.env_seconds += time.perf_counter() - t0
        rollout.env_steps += len(spent)
        for s in spent:
            s.budget_spent = False
            s.episode.ended_by_budget = self._book_step(s, action, outcomes[s.index])

    def _finish(self, s: _Slot) -> list[Sample]:
        ep = s.episode
        if self.multi_turn and s.last_reply is not None:
            tokenizer = self.agent.policy.tokenizer if s.response_ids else None
            text = tokenizer.decode(s.response_ids, skip_special_tokens=True) if tokenizer else s.last_reply.text
            raw = tokenizer.decode(s.response_ids, skip_special_tokens=False) if tokenizer else s.last_reply.raw_text
            s.samples = [Sample(
                group_id=ep.group_id, traj_id=ep.traj_id, step=0, prompt_ids=s.prompt_ids,
                response_ids=s.response_ids, logprobs=s.logprobs, loss_mask=s.loss_mask,
                reward=ep.episode_return, action=ep.actions[-1] if ep.actions else "",
                action_valid=ep.invalid_actions == 0, action_admissible=ep.inadmissible_actions == 0,
                anchor_obs=s.memory.observations[0], response_text=text, response_text_raw=raw,
                truncated=s.last_reply.truncated, logprob_distribution=s.distribution,
                num_tool_calls=max(ep.length - 1, 0),
            )]
        for k, sample in enumerate(s.samples):
            sample.done = k == len(s.samples) - 1 and not ep.failed
            sample.episode_return, sample.episode_length = ep.episode_return, ep.length
            sample.won, sample.failed = ep.won, ep.failed
        return s.samples


def tool_turn_ids(tokenizer, conversation: list[dict], observation: dict, stop_text: str,
                  tools: list | None = None) -> list[int]:
    """Ids of the template text from the end of the sampled assistant turn to the next generation prompt.

    ``conversation`` ends with the assistant turn whose content is the decoded sampled text. The result
    is the turn's closing (minus ``stop_text``, the decoded stop token the model emitted, if any), the
    observation message and
    the next assistant header: exactly what the template puts between the sampled ids and the next ones.
    """
    before = tokenizer.apply_chat_template(conversation, tools=tools, tokenize=False)
    after = tokenizer.apply_chat_template(conversation + [observation], tools=tools, tokenize=False,
                                          add_generation_prompt=True)
    content = conversation[-1]["content"]
    if not after.startswith(before) or content not in before:
        raise ValueError("the chat template does not render a conversation as a prefix of its continuation; "
                         "multi-turn rollouts need an append-only template")
    closing = before[before.rindex(content) + len(content):]
    if stop_text and closing.startswith(stop_text):
        closing = closing[len(stop_text):]
    return tokenizer.encode(closing + after[len(before):], add_special_tokens=False)


def _progress_bar(enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(desc="rollout", unit="step")
