"""The eight presets of the paper's table and the ``spear`` alias: :func:`algorithm_preset`, the one place
presets are defined.

A preset is ``base`` (``grpo`` or ``gigpo``), optionally with the Dr.BoT tricks (``drbot``), optionally
with SPEAR on top (``+spear``):

* Dr.BoT, as the paper defines it (docs/algorithms.md, 'Design choices'): no KL; clip-higher 0.2/0.28;
  no std normalisation; no length normalisation (``seq-mean-token-sum-norm``); over-long and void-turn
  filtering; low-variance group filter (ρ = 0.75); Clip-Cov. For GiGPO the reference effectively kept std
  normalisation, so ``drbot-gigpo`` keeps ``norm_adv_by_std = True``.
* +spear: replay buffer with P50 recalibration, cosine warm-up of the replay loss, cosine
  tool-call bonus, Clip-Cov on the replay pass.

Per-environment differences (entropy bonus, loss divisor, the paper's schedule lengths T and T_tc, math
semantics of the filters and the buffer) come from :data:`ENV_ALGORITHM_DEFAULTS`. The training settings
of each env and scale (steps, batch sizes, lr, and the laptop scale's shorter schedules) are run-config
values: :mod:`spear_train.training.scales`, which a test keeps consistent with these schedule lengths.
"""

from __future__ import annotations

import dataclasses
import difflib
from typing import Any

from spear_train.algorithms.config import AlgorithmConfig
from spear_train.config_error import ConfigError

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

def canonical_preset_name(name: str) -> str:
    """Resolve aliases (``spear`` → ``drbot+spear``); a :class:`ConfigError` naming the choices otherwise."""
    canonical = PRESET_ALIASES.get(name, name)
    if canonical not in PRESET_NAMES:
        raise ConfigError(f"unknown preset {name!r}; choose one of {PRESET_NAMES + tuple(PRESET_ALIASES)}",
                          key="algo", value=name)
    return canonical


def algorithm_preset(name: str, env: str = "alfworld", **overrides: Any) -> AlgorithmConfig:
    """The :class:`AlgorithmConfig` of preset ``name`` for ``env``, with optional field overrides.

    A :class:`ConfigError` names the bad preset (``key="algo"``), env (``key="env"``) or override field."""
    name = canonical_preset_name(name)
    if env not in ENV_NAMES:
        raise ConfigError(f"unknown env {env!r}; choose one of {ENV_NAMES}", key="env", value=env)
    base, _, plus = name.partition("+")
    if base.endswith("gigpo") and env == "math":
        raise ConfigError(f"preset {name!r} needs anchor states of a multi-step env; math has one sample per "
                          "response", key="algo", value=name)
    fields: dict[str, Any] = dict(ENV_ALGORITHM_DEFAULTS[env])
    if base.startswith("drbot"):
        fields.update(_DRBOT)
    if base.endswith("gigpo"):
        fields.update(_GIGPO)
        fields["norm_adv_by_std"] = True  # what the reference effectively ran
    if plus == "spear":
        fields.update(_SPEAR)
    known = [f.name for f in dataclasses.fields(AlgorithmConfig)]
    unknown = sorted(set(overrides) - set(known))
    if unknown:
        close = difflib.get_close_matches(str(unknown[0]), known, n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else " (spear-bench run --print-config lists them)"
        raise ConfigError.bad_value("AlgorithmConfig", unknown[0], overrides[unknown[0]], "no such field" + hint)
    fields.update(overrides)
    return AlgorithmConfig(**fields)
