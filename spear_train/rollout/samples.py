"""What a rollout produces: one :class:`Sample` per training sample, one :class:`Episode` per trajectory.

Agent envs (ALFWorld, WebShop) give one sample per active env step (docs/algorithms.md, 'Samples, groups and the
episode score'): the prompt is that step's single-turn chat, the response is the model's reply. Multi-turn envs
(math with a tool) give one sample per episode (docs/rollouts.md, 'Rollout loop'): the prompt is the first turn's
chat, the response is every model turn and every tool reply concatenated, and ``loss_mask`` is 0 on the tool-reply
tokens.
Token ids are the ones that were sampled (``response_ids``) or fed to the model (``prompt_ids``); text
fields are derived from them by decoding and are never re-tokenized.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class Sample:
    """One training sample.

    Token fields (empty for agents without a tokenizer, i.e. expert and random agents):

    * ``prompt_ids``: the chat-template encoding of the prompt, generation prompt included.
    * ``response_ids``: the sampled ids, stop token included when the model emitted one.
    * ``logprobs``: per response token, the log-probability under the behaviour distribution named by
      ``logprob_distribution`` (0.0 on tokens the model did not sample, i.e. ``loss_mask == 0``).
    * ``loss_mask``: 1 on model tokens, 0 on tool-reply tokens (multi-turn episodes only).

    Env fields: ``reward`` is the env reward of this step (the sum over the episode for episode samples),
    ``action`` the string the env received, ``action_valid`` the parser's format validity (docs/rollouts.md,
    'Action parsing', drives the 0.1 penalty), ``action_admissible`` the env's ``info["action_valid"]`` (logged
    only), ``anchor_obs`` the raw observation the step was taken from (GiGPO's state key).

    Flag inputs (docs/algorithms.md, 'Sample flags'): ``response_text`` (decoded, special tokens skipped: what the
    parser saw), ``response_text_raw`` (special tokens kept: the void-turn test), ``truncated`` (generation hit
    ``max_new_tokens`` without a stop token: the overlong test), ``num_tool_calls``.

    Episode fields (filled when the trajectory ends, the same for every sample of it): ``episode_return``
    R_env(τ), ``episode_length`` L(τ), ``won``, ``failed`` (the episode was cut short by an infrastructure
    failure, e.g. a dead env worker: the trainer must drop it, its reward means nothing).
    """

    group_id: str
    traj_id: str
    step: int
    prompt_ids: list[int]
    response_ids: list[int]
    logprobs: list[float]
    loss_mask: list[int]
    reward: float
    action: str
    action_valid: bool
    action_admissible: bool
    anchor_obs: str
    response_text: str
    response_text_raw: str
    truncated: bool
    logprob_distribution: str = ""
    num_tool_calls: int = 0
    done: bool = False
    episode_return: float = 0.0
    episode_length: int = 0
    won: bool = False
    failed: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Episode:
    """Summary of one trajectory (one env copy of one group)."""

    group_id: str
    traj_id: str
    env_id: str
    seed: int
    task_id: str = ""
    task: str = ""
    length: int = 0
    episode_return: float = 0.0
    won: bool = False
    invalid_actions: int = 0
    inadmissible_actions: int = 0
    failed: bool = False
    failure: str = ""
    actions: list[str] = field(default_factory=list)
    #: the response budget ran out before the env ended the episode, and the harness played the prompt
    #: builder's ``budget_end_action`` to end it (counted in ``length``, ``actions`` and the return)
    ended_by_budget: bool = False


@dataclass
class Rollout:
    """Everything one call to :meth:`~spear_train.rollout.collector.RolloutCollector.collect` produced."""

    samples: list[Sample]
    episodes: list[Episode]
    generated_tokens: int = 0
    env_steps: int = 0
    seconds: float = 0.0
    generation_seconds: float = 0.0
    env_seconds: float = 0.0

    @property
    def success_rate(self) -> float:
        """Fraction of non-failed episodes that were won (0.0 when every episode failed)."""
        ok = [e for e in self.episodes if not e.failed]
        return sum(e.won for e in ok) / len(ok) if ok else 0.0

    @property
    def failed_episodes(self) -> list[Episode]:
        return [e for e in self.episodes if e.failed]
