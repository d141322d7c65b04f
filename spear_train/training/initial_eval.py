"""When two runs' step-0 ("before") evaluations are the same measurement, so one can be reused for the
other (``run_seeds(initial_evals=...)``: comparison benchmarks train several presets from one policy)."""

from __future__ import annotations

import dataclasses
import json

#: RunConfig fields that cannot change a step-0 evaluation (it plays the starting policy only).
TRAINING_ONLY_FIELDS = frozenset({
    "algo", "algorithm", "steps", "seeds", "out", "lr", "weight_decay", "grad_clip", "adam_betas", "ppo_epochs",
    "mini_batch_size", "micro_batch_size", "gradient_checkpointing", "eval_every", "checkpoint_every",
    "keep_checkpoints", "log_mode", "groups_per_step", "group_size", "train_temperature",
    "train_turns_per_episode",
})


def initial_eval_key(cfg, seed: int) -> str:
    """What determines a run's step-0 ("before") evaluation: the starting model, every evaluation and env
    setting, and the seed. Runs with equal keys (e.g. the presets of a comparison) evaluate the same
    policy on the same tasks with the same sampling seed, so their "before" results are identical."""
    settings = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in TRAINING_ONLY_FIELDS}
    return json.dumps({"seed": seed, **settings}, sort_keys=True, default=str)
