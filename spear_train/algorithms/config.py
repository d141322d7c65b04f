"""Algorithm configuration: one documented field per knob (TRL style), validated on construction.

:class:`AlgorithmConfig` holds every switch of GRPO, GiGPO, Dr.BoT and SPEAR; presets (``presets.py``)
are just instances of it. The training settings of each env and scale (steps, batch sizes, lr, ...) are
run-config values: :mod:`spear_train.training.scales`. A bad value raises
:class:`~spear_train.config_error.ConfigError`, whose message names the field, the value and what is
allowed (``.key`` and ``.value`` hold the first two).
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal, Optional

from spear_train.config_error import ConfigError


def _doc(text: str, **kwargs: Any) -> Any:
    return field(metadata={"help": text}, **kwargs)


def _check_types(obj: Any) -> None:
    """Check (and coerce int → float) every field against its annotation; Literal values by membership."""
    owner = type(obj).__name__
    hints = typing.get_type_hints(type(obj), include_extras=False)
    for f in dataclasses.fields(obj):
        value, hint = getattr(obj, f.name), hints[f.name]
        options = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
        if value is None and type(None) in options:
            continue
        options = tuple(o for o in options if o is not type(None))
        for option in options:
            if typing.get_origin(option) is Literal:
                if value in typing.get_args(option):
                    break
            elif option is float and isinstance(value, (int, float)) and not isinstance(value, bool):
                if not math.isfinite(value):
                    raise ConfigError.bad_value(owner, f.name, value, "must be a finite number")
                object.__setattr__(obj, f.name, float(value))
                break
            elif option is int and isinstance(value, int) and not isinstance(value, bool):
                break
            elif option in (bool, str) and type(value) is option:
                break
        else:
            literal = [typing.get_args(o) for o in options if typing.get_origin(o) is Literal]
            expected = f"one of {literal[0]}" if literal else " or ".join(getattr(o, "__name__", str(o)) for o in options)
            raise ConfigError.bad_value(owner, f.name, value, f"expected {expected}")


def _require(obj: Any, name: str, ok: bool, reason: str) -> None:
    if not ok:
        raise ConfigError.bad_value(type(obj).__name__, name, getattr(obj, name), reason)


@dataclass
class AlgorithmConfig:
    """Every knob of the four algorithms. Defaults are the plain GRPO baseline in an agent env."""

    # --- advantage (docs/algorithms.md, 'GRPO advantage', 'GiGPO advantage') ---
    advantage_estimator: Literal["grpo", "gigpo"] = _doc("GRPO outcome advantage or GiGPO (episode + anchor-state step part).", default="grpo")
    norm_adv_by_std: bool = _doc(
        "Divide by the group's unbiased std (+1e-6). Honoured by both estimators: GiGPO uses mode mean_std_norm "
        "when True, mean_norm when False.", default=True)
    gigpo_step_weight: float = _doc("GiGPO ω: weight of the step-level advantage.", default=1.0)
    gamma: float = _doc("GiGPO discount of the per-step env rewards.", default=0.95)
    invalid_action_penalty: float = _doc("Subtracted from a sample's score (and GiGPO return) when its action is format-invalid.", default=0.1)
    # --- policy loss (docs/algorithms.md, 'Policy loss', 'Loss aggregation', 'Clip-Cov and KL-Cov') ---
    policy_loss: Literal["vanilla", "clip_cov", "kl_cov"] = _doc("On-policy loss: PPO-clip with dual clip, Clip-Cov or KL-Cov.", default="vanilla")
    clip_ratio_low: float = _doc("ε_low: ratio clipped below at 1 − ε_low.", default=0.2)
    clip_ratio_high: float = _doc("ε_high: ratio clipped above at 1 + ε_high (clip-higher when > ε_low).", default=0.2)
    dual_clip_c: Optional[float] = _doc("Dual clip for negative advantages: loss ≤ −A·c (c > 1); null disables. Vanilla loss only.", default=10.0)
    loss_agg_mode: Literal["token-mean", "seq-mean-token-sum", "seq-mean-token-mean", "seq-mean-token-sum-norm"] = _doc(
        "How the token loss matrix is reduced (docs/algorithms.md, 'Loss aggregation').", default="token-mean")
    loss_norm_length: Optional[int] = _doc(
        "Divisor of seq-mean-token-sum-norm (the reference's max_response_length); null uses the padded width.", default=None)
    entropy_coef: float = _doc("β_H: loss −= β_H·Agg(entropy). 0.001 in the agent envs, 0 for math.", default=0.001)
    use_kl_loss: bool = _doc("Add the low-variance (k3) KL to a reference model.", default=False)
    kl_loss_coef: float = _doc("Coefficient of the KL loss when use_kl_loss.", default=0.0)
    clip_cov_ratio: float = _doc("Clip-Cov: N = max(⌊ratio·#valid tokens⌋, 1) tokens are dropped.", default=0.0002)
    clip_cov_lb: float = _doc("Clip-Cov: lower covariance bound (strict).", default=1.0)
    clip_cov_ub: float = _doc("Clip-Cov: upper covariance bound (strict).", default=5.0)
    kl_cov_ratio: float = _doc("KL-Cov: fraction of valid tokens (top covariance) that get the KL penalty.", default=0.0002)
    ppo_kl_coef: float = _doc("KL-Cov: coefficient of |logπ − logπ_old| on the selected tokens.", default=0.1)
    # --- sample flags and filters (docs/algorithms.md, 'Sample flags', 'Low-variance group filter') ---
    filter_overlong: bool = _doc("Mask out samples whose response hit the length cap.", default=False)
    filter_void_turn: bool = _doc("Mask out void turns (no action / no final boxed answer).", default=False)
    filter_repetitive: bool = _doc("Mask out samples with a token n-gram repeated ≥ repetition_threshold times.", default=False)
    filter_unreadable: bool = _doc("Mask out samples whose text holds U+FFFD or mojibake.", default=False)
    void_turn_rule: Literal["action_tag", "boxed_answer"] = _doc(
        "Void-turn test: no <action> after the last </think> (agent envs) or no final \\boxed{} (math).", default="action_tag")
    exclude_flagged_from_loss: bool = _doc(
        "True (math): flagged samples leave the loss entirely. False (agent envs): they lose only their "
        "policy-gradient term and still count in token-mean denominators and the entropy bonus.", default=False)
    repetition_ngram: int = _doc("n of the repetition n-grams (token ids).", default=20)
    repetition_threshold: int = _doc("An n-gram occurring this often makes the sample repetitive.", default=10)
    group_filter_ratio: float = _doc("Keep ⌊ratio·#groups⌋ groups by reward std; 1.0 disables the filter.", default=1.0)
    group_filter_type: Literal["std", "std_rev"] = _doc("Keep the highest-std groups (std) or the lowest (std_rev).", default="std")
    group_filter_pow2: bool = _doc("After the group filter keep a random power-of-two subset of samples (agent envs).", default=True)
    group_stats: Literal["trajectory", "sample"] = _doc(
        "Group reward stats for the group filter and the baseline history: per-trajectory mean scores with "
        "population std (agent envs) or per-sample scores with unbiased std (math).", default="trajectory")
    # --- SPEAR replay (docs/algorithms.md, 'Replay buffer' to 'Replay warm-up c(t)') ---
    enable_replay: bool = _doc("SPEAR experience replay with off-policy advantage recalibration.", default=False)
    replay_buffer_size: int = _doc("Replay batch cap; the buffer flushes when > 1.5× this many samples beat the baseline.", default=2048)
    replay_tolerate_steps: int = _doc("Staleness tolerance (capped at 10): samples are replayed at most tolerate + 2 steps after collection.", default=5)
    replay_decay_weight: Optional[float] = _doc("null: P50 recalibration. w in (0, 1]: decay mode Â = w·A_stored, no filter.", default=None)
    replay_norm_by_std: bool = _doc("P50 mode: Â = (s − b)/(b_σ + 1e-6) instead of s − b (all reference SPEAR runs: false).", default=False)
    replay_strict_positive: bool = _doc("Keep replayed samples with Â > 0 (math) instead of Â ≥ 0 (agent envs).", default=False)
    replay_requires_tool_call: bool = _doc("Admit only samples with ≥ 1 tool call (math).", default=False)
    baseline_buffer_size: int = _doc("Cap on stored group means in the baseline history.", default=10240)
    replay_loss_coef: float = _doc("coef of the replay-loss warm-up c(t).", default=1.0)
    replay_warmup_steps: int = _doc("T of the replay-loss cosine warm-up c(t) (200 agent envs, 300 math).", default=200)
    replay_policy_loss: Literal["vanilla", "clip_cov", "kl_cov"] = _doc("Loss of the replay pass.", default="clip_cov")
    replay_clip_cov_ratio: float = _doc("Clip-Cov ratio on the replay pass.", default=0.02)
    replay_clip_cov_lb: float = _doc("Clip-Cov lower bound on the replay pass.", default=2.0)
    replay_clip_cov_ub: float = _doc("Clip-Cov upper bound on the replay pass.", default=60.0)
    # --- tool-call bonus (docs/algorithms.md, 'Tool-call bonus κ(t)') ---
    tool_bonus_mode: Literal["none", "constant", "cosine"] = _doc("Intrinsic tool-call reward schedule κ(t).", default="none")
    tool_bonus_steps: int = _doc("T_tc of the cosine decay κ(t).", default=200)
    tool_bonus_variant: Literal["agent", "qwen2.5", "qwen3"] = _doc(
        "agent: min(1, 0.1·L)·κ; qwen2.5: ±1 + min(0.1·n_tc, 1)·κ; qwen3: correct 1 + 1[n_tc>0]·κ.", default="agent")

    def __post_init__(self) -> None:
        _check_types(self)
        for name in ("clip_ratio_low", "clip_ratio_high", "entropy_coef", "kl_loss_coef", "invalid_action_penalty",
                     "clip_cov_ratio", "kl_cov_ratio", "ppo_kl_coef", "replay_clip_cov_ratio", "replay_loss_coef",
                     "gigpo_step_weight"):
            _require(self, name, getattr(self, name) >= 0, "must be >= 0")
        _require(self, "clip_ratio_low", self.clip_ratio_low < 1, "must be < 1 (the ratio is clipped below at 1 − ε_low)")
        _require(self, "gamma", 0 <= self.gamma <= 1, "must be in [0, 1]")
        _require(self, "dual_clip_c", self.dual_clip_c is None or self.dual_clip_c > 1, "must be > 1 or null")
        _require(self, "loss_norm_length", self.loss_norm_length is None or self.loss_norm_length > 0, "must be > 0 or null")
        _require(self, "clip_cov_ub", self.clip_cov_ub > self.clip_cov_lb, "must be > clip_cov_lb")
        _require(self, "replay_clip_cov_ub", self.replay_clip_cov_ub > self.replay_clip_cov_lb, "must be > replay_clip_cov_lb")
        _require(self, "clip_cov_ratio", self.clip_cov_ratio <= 1, "must be <= 1")
        _require(self, "replay_clip_cov_ratio", self.replay_clip_cov_ratio <= 1, "must be <= 1")
        _require(self, "kl_cov_ratio", self.kl_cov_ratio <= 1, "must be <= 1")
        _require(self, "repetition_ngram", self.repetition_ngram >= 1, "must be >= 1")
        _require(self, "repetition_threshold", self.repetition_threshold >= 2, "must be >= 2")
        _require(self, "group_filter_ratio", 0 < self.group_filter_ratio <= 1, "must be in (0, 1]")
        _require(self, "replay_buffer_size", self.replay_buffer_size >= 1, "must be >= 1")
        _require(self, "replay_tolerate_steps", self.replay_tolerate_steps >= 0, "must be >= 0")
        _require(self, "replay_decay_weight", self.replay_decay_weight is None or 0 < self.replay_decay_weight <= 1,
                 "must be null (P50 mode) or in (0, 1]")
        _require(self, "baseline_buffer_size", self.baseline_buffer_size >= 1, "must be >= 1")
        _require(self, "replay_warmup_steps", self.replay_warmup_steps >= 1, "must be >= 1")
        _require(self, "tool_bonus_steps", self.tool_bonus_steps >= 1, "must be >= 1")
        _require(self, "kl_loss_coef", self.use_kl_loss or self.kl_loss_coef == 0, "must be 0 unless use_kl_loss is true")

    @property
    def gigpo_mode(self) -> Literal["mean_std_norm", "mean_norm"]:
        """GiGPO normalisation, derived from ``norm_adv_by_std`` (docs/algorithms.md, 'Design choices')."""
        return "mean_std_norm" if self.norm_adv_by_std else "mean_norm"
