"""spear-bench trainer: algorithms (GRPO, GiGPO, Dr.BoT, SPEAR), policies, rollouts and the training loop.

Python entry point: :func:`train` (``spear_train.train(config)``; see docs/training.md).
"""

__version__ = "0.1.0"


def train(config, *, resume: bool = False, allow_config_change: bool = False) -> list[dict]:
    """Train and evaluate as ``spear-bench run`` does; ``config`` is a ``RunConfig``, a mapping of config
    keys (the YAML layout) or a YAML file path. Returns one summary dict per seed (before/after success
    ± SE, paired gain ± SE, run folder). Details: :func:`spear_train.training.api.train`."""
    from spear_train.training.api import train as _train  # imported here: ``import spear_train`` stays light

    return _train(config, resume=resume, allow_config_change=allow_config_change)
