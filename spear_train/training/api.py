"""The Python entry point of training: :func:`train`, what ``spear-bench run`` does, in one process.

    import spear_train

    summaries = spear_train.train({"algo": "grpo", "env": "alfworld", "steps": 5, "seeds": [0, 1],
                                   "algorithm": {"clip_ratio_high": 0.3}})
    summaries = spear_train.train("my_run.yaml")           # a YAML config file
    summaries = spear_train.train(run_config)              # a RunConfig, used as it is

A mapping or a YAML file is resolved exactly as ``spear-bench run --config FILE`` resolves its file
(env defaults of the chosen scale underneath, every key validated, a bad key named); then the checks
``spear-bench run`` makes before training (algorithm overrides, env kwargs, the ``out`` folder) apply.
Data-parallel runs (``--nproc``, torchrun) go through the CLI.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from spear_train.training.run_config import RunConfig


def resolve_config(config: RunConfig | Mapping[str, Any] | str | Path) -> RunConfig:
    """``config`` as a checked :class:`RunConfig`; :class:`~spear_train.config_error.ConfigError`
    naming the key when a value is bad, ``TypeError`` for any other kind of ``config``."""
    from spear_train.training.config_check import check_run_config
    from spear_train.training.run_config import resolve_run_config

    if isinstance(config, RunConfig):
        cfg = config.validate()
    elif isinstance(config, (str, Path)):
        cfg = resolve_run_config({}, config)
    elif isinstance(config, Mapping):
        cfg = resolve_run_config({}, None, dict(config), sets_source="config")
    else:
        raise TypeError(f"config must be a RunConfig, a mapping of config keys or a YAML path, "
                        f"got {type(config).__name__}")
    return check_run_config(cfg)


def train(config: RunConfig | Mapping[str, Any] | str | Path, *, resume: bool = False,
          allow_config_change: bool = False) -> list[dict[str, Any]]:
    """Train and evaluate every seed of ``config`` (see the module docstring), one after the other.

    Returns one summary per seed: ``seed``, ``run_dir``, held-out success ``before`` / ``after`` with
    standard errors ``before_se`` / ``after_se`` (``sqrt(p(1-p)/N)``), the paired ``gain`` ± ``gain_se``
    and ``wall_time_s``. ``resume`` and ``allow_config_change`` act as ``spear-bench run``'s flags.
    Raises ``ConfigError`` for a bad config and ``TrainingError`` when a run cannot proceed.
    """
    from spear_train.training.loop import run_seeds

    return run_seeds(resolve_config(config), resume=resume, allow_config_change=allow_config_change)
