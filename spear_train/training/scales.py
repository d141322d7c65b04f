"""Per-env, per-scale run settings: the one table of steps, batch sizes, turns, lr, evaluation and splits.

``spear-bench run --scale laptop|paper`` puts the row of its scale and env under the YAML file, ``--set``
items and flags (:func:`spear_train.training.run_config.resolve_run_config`); the algorithm preset
(:func:`spear_train.algorithms.algorithm_preset`) lies under that row. Each fact is written once:

* ``laptop`` fits the CPU budget of the shipped tiny policies (docs/models.md): 20 steps of 4 x 4
  rollouts (math: 16 x 4). The paper's 200-step schedules would barely move in 20 steps, so the laptop row shortens
  them (replay warm-up c(t) over 10 steps, tool-bonus decay kappa(t) over 20) and shrinks the replay
  buffer, which never fills at laptop batch sizes.
* ``paper`` is docs/algorithms.md, 'Paper settings'. The schedule lengths are the preset's (replay
  warm-up T = 200 in the agent envs and 300 in math, tool-bonus decay T_tc = 200), and each run is at
  least as long as its schedules, so c(t) reaches ``replay_loss_coef`` and kappa(t) reaches 0 by the
  last step: ALFWorld 200 steps, WebShop 350, math 300 (the reference scripts leave the math run
  length open; 300 is the shortest run in which its T = 300 warm-up completes).

A config that makes a schedule longer than its run is not refused (a quick ``--steps 5`` try, or a
deliberate reproduction of a reference run); :func:`schedule_warnings` says what it leaves unfinished and
the CLI prints it.
"""

from __future__ import annotations

from typing import Any

from spear_train.task_splits import ENV_SPLITS  # train / held-out splits: written once, there

from spear_train.algorithms.config import AlgorithmConfig
from spear_train.algorithms.schedules import replay_loss_weight, tool_bonus_decay

SCALES = ("laptop", "paper")

_LAPTOP = dict(steps=20, groups_per_step=4, group_size=4, eval_episodes=100,
               algorithm=dict(replay_buffer_size=32, replay_warmup_steps=10, tool_bonus_steps=20))
_PAPER = dict(lr=1e-6, eval_every=5, train_turns_per_episode=0)
_PAPER_AGENT = dict(_PAPER, groups_per_step=32, group_size=8, max_response_tokens=512, eval_episodes=128)

#: Run settings per scale and env (``RunConfig`` fields; ``algorithm`` overrides preset fields).
ENV_DEFAULTS: dict[str, dict[str, dict[str, Any]]] = {
    "laptop": {
        "alfworld": dict(_LAPTOP, max_turns=30, max_prompt_tokens=768, max_response_tokens=24,
                         constrained_decoding=True, train_turns_per_episode=8, lr=1e-4, mini_batch_size=64,
                         micro_batch_size=16, eval_every=20),
        "webshop": dict(_LAPTOP, max_turns=10, max_prompt_tokens=1536, max_response_tokens=64,
                        constrained_decoding=True, train_turns_per_episode=6, lr=1e-4, mini_batch_size=64,
                        micro_batch_size=16, eval_every=10),
        # 16 groups a step: a math step is cheap (one tool call and one answer per episode) and 4 groups
        # left ~1 mixed group a step; docs/training.md, 'Math on the laptop'
        "math": dict(_LAPTOP, groups_per_step=16, max_turns=4, max_prompt_tokens=1024, max_response_tokens=256,
                     lr=1e-4, mini_batch_size=16, micro_batch_size=4, eval_every=20),
    },
    "paper": {
        "alfworld": dict(_PAPER_AGENT, steps=200, max_turns=50, max_prompt_tokens=2048, mini_batch_size=1024,
                         micro_batch_size=8),
        "webshop": dict(_PAPER_AGENT, steps=350, max_turns=15, max_prompt_tokens=4096, mini_batch_size=256,
                        micro_batch_size=4),
        # evaluation as the reference samples AIME (T = 1.0; its top-p 0.6 and 32 samples per problem
        # have no run-config key: one sample per problem)
        "math": dict(_PAPER, steps=300, groups_per_step=128, group_size=16, max_turns=8, max_prompt_tokens=2048,
                     max_response_tokens=16384, mini_batch_size=1024, micro_batch_size=4, eval_episodes=60,
                     eval_temperature=1.0),
    },
}

#: Settings that change with the ``chat`` prompt format (docs/rollouts.md, 'Prompt formats'), over the
#: row of the scale: a chat prompt holds the whole episode so far (ALFWorld: ~1,450 tokens at turn 30 with
#: the shipped tokenizer), so the prompt limit is the episode's.
CHAT_DEFAULTS: dict[str, dict[str, dict[str, Any]]] = {
    "laptop": {"alfworld": dict(max_prompt_tokens=2048)},
    "paper": {"alfworld": dict(max_prompt_tokens=8192)},
}


def scale_defaults(scale: str, family: str, own_env: bool, prompt_format: str = "") -> dict[str, Any]:
    """The settings row of ``scale`` for the task ``family`` (a fresh dict), with the family's train and
    held-out splits when the run's env is the family's own env (``own_env``), and the ``chat`` prompt
    format's settings (:data:`CHAT_DEFAULTS`) when ``prompt_format`` is ``chat``."""
    row = {key: dict(value) if isinstance(value, dict) else value for key, value in ENV_DEFAULTS[scale][family].items()}
    if prompt_format == "chat":
        row.update(CHAT_DEFAULTS[scale].get(family, {}))
    if own_env:
        row.update(ENV_SPLITS[scale][family])
    return row


def schedule_warnings(steps: int, algo: AlgorithmConfig) -> list[str]:
    """One message per active schedule that does not reach its end value by the run's last step ``steps``.

    Active: the replay warm-up ``c(t) = coef·(1 − cos(πt/T))/2`` when ``algo.enable_replay`` (it should reach
    ``coef`` by ``t = steps``, i.e. ``T = replay_warmup_steps <= steps``) and the cosine tool-bonus decay
    ``κ(t) = (1 + cos(πt/T_tc))/2`` when ``algo.tool_bonus_mode == "cosine"`` (it should reach 0, i.e.
    ``T_tc = tool_bonus_steps <= steps``). Formulas: docs/algorithms.md, 'Replay warm-up c(t)' and
    'Tool-call bonus κ(t)'.
    """
    out = []
    if algo.enable_replay and algo.replay_warmup_steps > steps:
        c_end = replay_loss_weight(steps, algo.replay_warmup_steps, algo.replay_loss_coef)
        out.append(f"algorithm.replay_warmup_steps={algo.replay_warmup_steps} is longer than the run "
                   f"(steps={steps}): the replay weight c(t) reaches only {c_end:.3g} of "
                   f"{algo.replay_loss_coef:g} by the last step; set algorithm.replay_warmup_steps <= {steps} "
                   "or more steps to complete the warm-up")
    if algo.tool_bonus_mode == "cosine" and algo.tool_bonus_steps > steps:
        k_end = tool_bonus_decay(steps, algo.tool_bonus_steps, "cosine")
        out.append(f"algorithm.tool_bonus_steps={algo.tool_bonus_steps} is longer than the run (steps={steps}): "
                   f"the tool-bonus factor kappa(t) is still {k_end:.3g} (not 0) at the last step; set "
                   f"algorithm.tool_bonus_steps <= {steps} or more steps to complete the decay")
    return out
