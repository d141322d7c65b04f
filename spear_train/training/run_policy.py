"""The policy a run starts from: its device, its name (``cfg.model`` or the env's shipped tiny policy) and
loading it (errors as :class:`~spear_train.training.errors.TrainingError`)."""

from __future__ import annotations

import torch

from spear_train.training.errors import TrainingError
from spear_train.training.run_config import RunConfig


def resolve_device(name: str) -> str:
    """``auto`` -> ``cuda`` when torch sees a GPU, else ``cpu``; ``cuda`` without one is a ``TrainingError``."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise TrainingError("--device cuda was asked for, but torch sees no CUDA device")
    return name


def model_name(cfg: RunConfig) -> str:
    """``cfg.model``, or the shipped tiny policy of the env (and of its prompt format)."""
    if cfg.model:
        return cfg.model
    from spear_train.models.builtin import tiny_model_for_env

    return tiny_model_for_env(cfg.env_id, cfg.prompt_format) if cfg.env_id != cfg.env_name else f"spear-tiny-{cfg.family}"


def start_weights_sha256(cfg: RunConfig) -> str | None:
    """The SHA-256 of the start policy's weights (:func:`spear_train.models.checksum.weights_sha256`), which a
    run's result records beside the policy's name; ``None`` for a model-hub name (no local folder)."""
    from spear_train.policy.loading import weights_sha256_of

    return weights_sha256_of(model_name(cfg))


def load_run_policy(cfg: RunConfig):
    """The policy the run starts from (``TrainingError`` with the loader's message if unavailable)."""
    from spear_train.models.builtin import BuiltinModelError
    from spear_train.policy.loading import PolicyLoadError, load_policy

    dtype = torch.bfloat16 if cfg.dtype == "bfloat16" else torch.float32
    name = model_name(cfg)
    try:
        return load_policy(name, device=resolve_device(cfg.device), dtype=dtype,
                           gradient_checkpointing=cfg.gradient_checkpointing)
    except (PolicyLoadError, BuiltinModelError, KeyError) as exc:
        raise TrainingError(f"cannot load the model {name!r}: {exc}") from None
