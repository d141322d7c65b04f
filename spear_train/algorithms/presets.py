"""The eight presets of the paper's table, the ``spear`` alias, per-env settings and YAML round-trip.

A preset is ``base`` (``grpo`` or ``gigpo``), optionally with the Dr.BoT tricks (``drbot``), optionally
with SPEAR on top (``+spear``):

* Dr.BoT, as the paper defines it (docs/algorithms.md, 'Design choices'): no KL; clip-higher 0.2/0.28;
  no std normalisation; no length normalisation (``seq-mean-token-sum-norm``); over-long and void-turn
  filtering; low-variance group filter (ρ = 0.75); Clip-Cov. For GiGPO the reference effectively kept std
  normalisation, so ``drbot-gigpo`` keeps ``norm_adv_by_std = True``.
* +spear: replay buffer with P50 recalibration, cosine warm-up of the replay loss, cosine
  tool-call bonus, Clip-Cov on the replay pass.

Per-environment differences (entropy bonus, loss divisor, replay warm-up length, math semantics of the
filters and the buffer) come from :data:`ENV_ALGORITHM_DEFAULTS`; the paper's training settings from
:data:`ENV_SETTINGS`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import yaml

from spear_train.algorithms.config import AlgorithmConfig, ConfigError, EnvSettings

PRESET_NAMES = ("grpo", "grpo+spear", "drbot", "drbot+spear", "gigpo", "gigpo+spear", "drbot-gigpo", "drbot-gigpo+spear")
PRESET_ALIASES = {"spear": "drbot+spear"}
ENV_NAMES = ("alfworld", "webshop", "math")

_DRBOT = dict(
    use_kl_loss=False, kl_loss_coef=0.0, clip_ratio_low=0.2, clip_ratio_high=0.28, norm_adv_by_std=False,
    loss_agg_mode="seq-mean-token-sum-norm", filter_overlong=True, filter_void_turn=True,
    group_filter_ratio=0.75, group_filter_type="std", policy_loss="clip_cov",
)
_GIGPO = dict(advantage_estimator="gigpo", gamma=0.95, gigpo_step_weight=1.0)
_SPEAR = dict(enable_replay=True, replay_decay_weight=None, replay_norm_by_std=False, replay_loss_coef=1.0,
              tool_bonus_mode="cosine", replay_policy_loss="clip_cov")

_AGENT_ALGORITHM = dict(
    entropy_coef=0.001, loss_norm_length=512, replay_warmup_steps=200, tool_bonus_steps=200,
    tool_bonus_variant="agent", void_turn_rule="action_tag", exclude_flagged_from_loss=False,
    group_stats="trajectory", group_filter_pow2=True, replay_strict_positive=False, replay_requires_tool_call=False,
)
ENV_ALGORITHM_DEFAULTS: dict[str, dict[str, Any]] = {
    "alfworld": _AGENT_ALGORITHM,
    "webshop": _AGENT_ALGORITHM,
    "math": dict(
        entropy_coef=0.0, loss_norm_length=16384, replay_warmup_steps=300, tool_bonus_steps=200,
        tool_bonus_variant="qwen2.5", void_turn_rule="boxed_answer", exclude_flagged_from_loss=True,
        group_stats="sample", group_filter_pow2=False, replay_strict_positive=True, replay_requires_tool_call=True,
    ),
}

ENV_SETTINGS: dict[str, EnvSettings] = {
    "alfworld": EnvSettings(env="alfworld", groups_per_step=32, group_size=8, max_env_steps=50, history_length=2,
                            max_prompt_tokens=2048, max_response_tokens=512, mini_batch_size=1024,
                            micro_batch_size_per_gpu=8, total_steps=200),
    "webshop": EnvSettings(env="webshop", groups_per_step=32, group_size=8, max_env_steps=15, history_length=2,
                           max_prompt_tokens=4096, max_response_tokens=512, mini_batch_size=256,
                           micro_batch_size_per_gpu=4, total_steps=350),
    "math": EnvSettings(env="math", groups_per_step=128, group_size=16, max_env_steps=8, history_length=0,
                        max_prompt_tokens=2048, max_response_tokens=16384, mini_batch_size=1024,
                        micro_batch_size_per_gpu=0, total_steps=300, val_instances=30, val_samples=32,
                        val_temperature=1.0, val_top_p=0.6),
}
"""Paper settings per environment (docs/algorithms.md, 'Paper settings'). Math's run length is not fixed by
the reference scripts; 300 (the replay warm-up length) is our default."""


def canonical_preset_name(name: str) -> str:
    """Resolve aliases (``spear`` → ``drbot+spear``); raise ValueError naming the choices otherwise."""
    name = PRESET_ALIASES.get(name, name)
    if name not in PRESET_NAMES:
        raise ValueError(f"unknown preset {name!r}; choose one of {PRESET_NAMES + tuple(PRESET_ALIASES)}")
    return name


def algorithm_preset(name: str, env: str = "alfworld", **overrides: Any) -> AlgorithmConfig:
    """The :class:`AlgorithmConfig` of preset ``name`` for ``env``, with optional field overrides."""
    name = canonical_preset_name(name)
    if env not in ENV_NAMES:
        raise ValueError(f"unknown env {env!r}; choose one of {ENV_NAMES}")
    base, _, plus = name.partition("+")
    if base.endswith("gigpo") and env == "math":
        raise ValueError(f"preset {name!r} needs anchor states of a multi-step env; math has one sample per response")
    fields: dict[str, Any] = dict(ENV_ALGORITHM_DEFAULTS[env])
    if base.startswith("drbot"):
        fields.update(_DRBOT)
    if base.endswith("gigpo"):
        fields.update(_GIGPO)
        fields["norm_adv_by_std"] = True  # what the reference effectively ran
    if plus == "spear":
        fields.update(_SPEAR)
    unknown = set(overrides) - {f.name for f in dataclasses.fields(AlgorithmConfig)}
    if unknown:
        raise ConfigError("AlgorithmConfig", sorted(unknown)[0], overrides[sorted(unknown)[0]], "no such field")
    fields.update(overrides)
    return AlgorithmConfig(**fields)


@dataclass
class TrainingPreset:
    """A named preset: algorithm knobs plus the environment's training settings."""

    preset: str
    env: str
    algorithm: AlgorithmConfig
    settings: EnvSettings

    def __post_init__(self) -> None:
        try:
            canonical_preset_name(self.preset)
        except ValueError as err:
            raise ConfigError("TrainingPreset", "preset", self.preset, str(err)) from None
        if self.env not in ENV_NAMES:
            raise ConfigError("TrainingPreset", "env", self.env, f"must be one of {ENV_NAMES}")

    def to_yaml(self) -> str:
        """YAML text; :func:`preset_from_yaml` reads it back to an equal object."""
        return yaml.safe_dump(dataclasses.asdict(self), sort_keys=False)


def load_preset(name: str, env: str = "alfworld") -> TrainingPreset:
    """Preset ``name`` (or an alias) for ``env`` with the paper's settings of that env."""
    return TrainingPreset(preset=canonical_preset_name(name), env=env, algorithm=algorithm_preset(name, env),
                          settings=dataclasses.replace(ENV_SETTINGS[env]))


def _build(cls: type, data: Any, where: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError("TrainingPreset", where, data, "must be a mapping")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(cls.__name__, unknown[0], data[unknown[0]], "no such field")
    return cls(**data)


def preset_from_yaml(text: str) -> TrainingPreset:
    """Parse YAML written by :meth:`TrainingPreset.to_yaml` (or by hand); unknown or bad fields raise
    :class:`ConfigError` naming the field."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ValueError(f"preset YAML does not parse: {err}") from None
    if not isinstance(data, dict):
        raise ValueError(f"preset YAML must be a mapping, got {type(data).__name__}")
    top = {"preset", "env", "algorithm", "settings"}
    extra, missing = sorted(set(data) - top), sorted(top - set(data))
    if extra:
        raise ConfigError("TrainingPreset", extra[0], data[extra[0]], "no such field")
    if missing:
        raise ConfigError("TrainingPreset", missing[0], None, "missing")
    return TrainingPreset(
        preset=data["preset"], env=data["env"],
        algorithm=_build(AlgorithmConfig, data["algorithm"], "algorithm"),
        settings=_build(EnvSettings, data["settings"], "settings"),
    )
