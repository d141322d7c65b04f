"""Which tasks are training tasks and which are evaluation tasks: the env kwargs of each split, per scale.

The one place these are written: ``spear-bench run``'s env defaults (:mod:`spear_train.training.run_config`),
``spear-bench sft``'s expert data (:mod:`spear_train.sft.sources`) and every evaluation
(:mod:`spear_train.training.evaluation`) read them from here. Training envs get ``env_kwargs``; held-out envs
get ``{**env_kwargs, **eval_env_kwargs}`` and play reset seeds ``0..N-1``, one distinct task each
(:class:`spear_envs.core.TaskBySeed`). The leaderboard's laptop track
(:mod:`spear_train.leaderboard.settings`) registers exactly the laptop held-out setting.

* ``laptop``: the tasks the shipped tiny policies were trained and measured on: small ALFWorld scenes
  (training: games 0-1499 of ``train``; held out: the 140 ``eval_in_distribution`` games), WebShop's
  ``train`` / ``eval`` goals, difficulty-1 math (``train`` / ``eval`` problems).
* ``paper``: ALFWorld's in-distribution eval games (recent verl-agent forks' default), WebShop's ``test``
  goals, the math ``eval`` problems of every difficulty.
"""

from __future__ import annotations

from typing import Any

#: scale -> task family -> {"env_kwargs": training env kwargs, "eval_env_kwargs": held-out kwargs over them}
ENV_SPLITS: dict[str, dict[str, dict[str, dict[str, Any]]]] = {
    "laptop": {
        "alfworld": dict(env_kwargs=dict(scene_size="small", num_games=1500),
                         eval_env_kwargs=dict(split="eval_in_distribution", num_games=140)),
        "webshop": dict(env_kwargs=dict(split="train"), eval_env_kwargs=dict(split="eval")),
        # timeout_s: a laptop policy's runaway loop would hold its whole batch for the reference's 30 s;
        # the scripted solutions of level-1 problems run in milliseconds (docs/training.md, 'Math on the
        # laptop')
        "math": dict(env_kwargs=dict(split="train", difficulty=1, timeout_s=5.0), eval_env_kwargs=dict(split="eval")),
    },
    "paper": {
        "alfworld": dict(env_kwargs=dict(split="train"), eval_env_kwargs=dict(split="eval_in_distribution")),
        "webshop": dict(env_kwargs=dict(split="train"), eval_env_kwargs=dict(split="test")),
        "math": dict(env_kwargs=dict(split="train"), eval_env_kwargs=dict(split="eval")),
    },
}


def split_env_kwargs(scale: str, family: str, held_out: bool = False) -> dict[str, Any]:
    """The env kwargs of ``family``'s training split (``held_out=False``) or held-out split at ``scale``
    (a fresh dict; ``KeyError`` naming the known scales / families otherwise)."""
    if scale not in ENV_SPLITS or family not in ENV_SPLITS[scale]:
        raise KeyError(f"no task split for scale {scale!r}, family {family!r}; known: "
                       f"{ {s: sorted(f) for s, f in ENV_SPLITS.items()} }")
    split = ENV_SPLITS[scale][family]
    return {**split["env_kwargs"], **(split["eval_env_kwargs"] if held_out else {})}
