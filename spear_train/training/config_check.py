"""Checks of a resolved run config that need more than its own values: the algorithm preset, the envs
and the disk. The CLI runs :func:`check_run_config` right after resolving, so ``--print-config``
refuses exactly what a run would refuse, before any training starts.

Each failure is a :class:`~spear_train.config_error.ConfigError` naming the key. A schedule of the
algorithm that outlasts the run (docs/training.md, 'Schedules and run length') is not refused: it is a
:class:`~spear_train.config_error.ConfigWarning` saying what it leaves unfinished.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path

from spear_train.config_error import ConfigError, ConfigWarning
from spear_train.training.algo_adapter import algorithm_config
from spear_train.training.run_config import RunConfig
from spear_train.training.scales import schedule_warnings


def check_run_config(cfg: RunConfig) -> RunConfig:
    """``cfg`` unchanged when the algorithm overrides, both env kwargs and ``out`` are usable; else a
    :class:`ConfigError` naming the key. Warns (:class:`ConfigWarning`) for each replay warm-up or
    tool-bonus schedule longer than ``cfg.steps``.

    Builds the training env and the held-out env once each (closed at once; no episode is played)."""
    for message in schedule_warnings(cfg.steps, algorithm_config(cfg)):
        warnings.warn(message, ConfigWarning, stacklevel=2)
    check_out_folder(cfg.out)
    check_env_kwargs(cfg)
    if (message := prompt_format_warning(cfg)) is not None:
        warnings.warn(message, ConfigWarning, stacklevel=2)
    return cfg


def prompt_format_warning(cfg: RunConfig) -> str | None:
    """A message when the run's prompt format differs from the one its policy was trained with (the
    ``prompt_format`` of the model folder's ``recipe.json``, the env's own when it has none); ``None``
    otherwise, or when the model is not a local folder with a recipe (docs/rollouts.md, 'Prompt formats')."""
    import json

    from spear_envs.agent_io import prompt_builder_for
    from spear_train.models.builtin import CHECKPOINT_ROOT, TINY_MODELS, tiny_model_for_env

    try:
        name = cfg.model or tiny_model_for_env(cfg.env_id, cfg.prompt_format)
    except KeyError:
        return None
    folder = Path(name).expanduser() if Path(name).expanduser().is_dir() else \
        CHECKPOINT_ROOT / name if name in TINY_MODELS else None
    recipe = folder / "recipe.json" if folder is not None else None
    if recipe is None or not recipe.is_file():
        return None
    try:
        trained = json.loads(recipe.read_text()).get("prompt_format") or None
        trained = prompt_builder_for(cfg.env_id, prompt_format=trained).prompt_format
        used = prompt_builder_for(cfg.env_id, prompt_format=cfg.prompt_format or None).prompt_format
    except (ValueError, KeyError, OSError):
        return None
    if trained == used:
        return None
    return (f"prompt_format: the policy {name} was trained on {trained!r} prompts but this run uses {used!r} "
            f"prompts; pass --prompt-format {trained} (or a policy trained on {used!r} prompts)")


def check_out_folder(out: str) -> None:
    """``out`` exists as a writable folder or can be created: the nearest existing parent is a folder
    where a folder can be made (tried with a temporary one, removed at once)."""
    path = Path(out).expanduser()
    existing = next((p for p in [path, *path.parents] if p.exists()), None)
    if existing is None or not existing.is_dir():
        raise ConfigError(f"out: {out!r} cannot be a folder: {existing} is not a folder")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".spear-check-", dir=existing))
    except OSError as exc:
        where = "in it" if existing == path else f"under {existing}"
        raise ConfigError(f"out: cannot create run folders {where} ({exc.strerror or exc}); "
                          "choose another --out") from None


def check_env_kwargs(cfg: RunConfig) -> None:
    """Build the run's training and held-out envs once, so bad ``env_kwargs`` / ``eval_env_kwargs`` (an
    unknown key, a bad split) fail now with the env's own message."""
    import gymnasium as gym

    from spear_train.training.rollout_runner import env_spec, import_env_modules

    try:
        import_env_modules(cfg)
    except ImportError as exc:
        raise ConfigError(f"env_imports: {exc}") from None
    if cfg.env_id not in gym.registry:
        raise ConfigError(f"env: {cfg.env_id!r} is not a registered env (add the module that registers it "
                          "to env_imports)")
    for key, held_out in (("env_kwargs", False), ("eval_env_kwargs", True)):
        spec = env_spec(cfg, held_out=held_out)
        try:
            env = gym.make(spec.env_id, **spec.kwargs)
        except Exception as exc:  # the env's own validation: TypeError, ValueError, its data errors
            reason = str(exc).split(" was raised from the environment creator")[0]  # gymnasium's suffix
            raise ConfigError(f"{key}: {cfg.env_id} refuses {spec.kwargs}: {reason}") from None
        env.close()
