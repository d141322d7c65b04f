"""The built-in expert sources: which env's expert plays which generated tasks for ``spear-bench sft``.

Importing this module registers one :class:`~spear_train.sft.experts.ExpertSource` per env family
(``spear_train.sft.data`` imports it, so ``expert_source`` always sees them). A source builds the env with
``gym.make`` on the laptop ``train`` or ``eval`` split of :mod:`spear_train.task_splits` (the tasks
``spear-bench run`` trains and evaluates on), and the expert is the env's own
(:meth:`~spear_envs.core.TextEnv.expert_action`, :func:`~spear_train.sft.experts.env_expert`):

* ``spear/ALFWorld-v0``: the handcoded expert with the move fix (docs/models.md, 'Data per environment'),
  on small generated scenes; task ``i`` is game ``i mod 1500`` of ``train`` (:class:`spear_envs.core.TaskBySeed`);
* ``spear/WebShop-v0``: the visible buyer (:mod:`spear_envs.webshop.visible_buyer`: it decides only from the
  instruction, the page and the admissible actions, so a policy can imitate it; the env's own scripted
  buyer knows the target product), on goals drawn by seed from the generated catalog's ``train`` goals;
* ``spear/MathTool-v0``: the scripted solver (one tool call, then the boxed printed value), on
  difficulty-1 generated problems. Math is a multi-turn chat: SFT uses one example per *assistant
  turn* (the prompt is the whole conversation so far, tool outputs included, re-encoded by the chat
  template; the target is that turn's text + ``<|im_end|>``), so tool outputs are never a target. The
  rollout instead keeps one sample per episode with tool outputs masked; both train on the same
  assistant tokens in the same contexts.

An env without a registered source makes ``spear-bench sft --env ENV`` fail with a message listing
the envs that have one.
"""

from __future__ import annotations

import gymnasium as gym

import spear_envs  # noqa: F401  (registers the env ids)
from spear_envs.core import TaskBySeed
from spear_envs.webshop.visible_buyer import VisibleBuyer
from spear_train.sft.experts import ExpertSource, register_expert_source
from spear_train.task_splits import split_env_kwargs


def _laptop_env(env_id: str, family: str, by_task: bool = False, **train_kwargs):
    """``make_env(split)`` for ``family``'s laptop split; ``train_kwargs`` only on the training split
    (e.g. switching ALFWorld's expert on); ``by_task``: reset seed ``s`` plays task ``s mod N``."""

    def make(split: str) -> gym.Env:
        held_out = split == "eval"
        env = gym.make(env_id, **split_env_kwargs("laptop", family, held_out), **({} if held_out else train_kwargs))
        return TaskBySeed(env) if by_task else env

    return make


register_expert_source("spear/WebShop-v0", ExpertSource(make_env=_laptop_env("spear/WebShop-v0", "webshop"),
                                                         make_expert=lambda env: VisibleBuyer(), version="visible-buyer"))
# each turn is a whole assistant message (the env's action is the turn): the SFT target is the action itself
register_expert_source("spear/MathTool-v0", ExpertSource(make_env=_laptop_env("spear/MathTool-v0", "math"),
                                                         response=str))
register_expert_source("spear/ALFWorld-v0", ExpertSource(
    make_env=_laptop_env("spear/ALFWorld-v0", "alfworld", by_task=True, expert="handcoded")))
