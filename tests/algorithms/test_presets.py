"""Config validation, the eight presets and the alias (the per-env run settings: tests/training/test_scales.py)."""

import dataclasses

import pytest

from spear_train.algorithms import PRESET_NAMES, AlgorithmConfig, ConfigError, algorithm_preset

AGENT_ENVS = ("alfworld", "webshop")


def test_eight_presets_and_alias():
    assert len(PRESET_NAMES) == 8
    assert algorithm_preset("spear") == algorithm_preset("drbot+spear")
    assert algorithm_preset("spear") != algorithm_preset("grpo+spear")


@pytest.mark.parametrize("env", AGENT_ENVS)
def test_drbot_tricks(env):
    grpo, drbot = algorithm_preset("grpo", env), algorithm_preset("drbot", env)
    assert (grpo.clip_ratio_low, grpo.clip_ratio_high, drbot.clip_ratio_low, drbot.clip_ratio_high) == (0.2, 0.2, 0.2, 0.28)
    assert grpo.norm_adv_by_std and not drbot.norm_adv_by_std
    assert (grpo.loss_agg_mode, drbot.loss_agg_mode) == ("token-mean", "seq-mean-token-sum-norm")
    assert not grpo.filter_overlong and drbot.filter_overlong and drbot.filter_void_turn
    assert (grpo.group_filter_ratio, drbot.group_filter_ratio) == (1.0, 0.75)
    assert (grpo.policy_loss, drbot.policy_loss) == ("vanilla", "clip_cov")
    assert not grpo.use_kl_loss and not drbot.use_kl_loss
    assert grpo.entropy_coef == drbot.entropy_coef == 0.001 and grpo.dual_clip_c == 10.0


@pytest.mark.parametrize("base", ["grpo", "drbot", "gigpo", "drbot-gigpo"])
def test_spear_adds_on_top_of_any_base(base):
    plain, spear = algorithm_preset(base), algorithm_preset(base + "+spear")
    changed = {f.name for f in dataclasses.fields(AlgorithmConfig) if getattr(plain, f.name) != getattr(spear, f.name)}
    assert changed == {"enable_replay", "tool_bonus_mode"}
    assert spear.replay_policy_loss == "clip_cov"
    assert (spear.replay_clip_cov_ratio, spear.replay_clip_cov_lb, spear.replay_clip_cov_ub) == (0.02, 2.0, 60.0)
    assert spear.replay_decay_weight is None and spear.replay_loss_coef == 1.0 and spear.replay_warmup_steps == 200


def test_gigpo_presets():
    gigpo, drbot_gigpo = algorithm_preset("gigpo"), algorithm_preset("drbot-gigpo")
    assert gigpo.advantage_estimator == drbot_gigpo.advantage_estimator == "gigpo"
    assert gigpo.gamma == 0.95 and gigpo.gigpo_step_weight == 1.0
    assert gigpo.gigpo_mode == drbot_gigpo.gigpo_mode == "mean_std_norm"  # what the reference effectively ran
    assert algorithm_preset("drbot-gigpo", norm_adv_by_std=False).gigpo_mode == "mean_norm"  # the switch is honoured
    with pytest.raises(ConfigError, match="anchor") as err:
        algorithm_preset("gigpo", "math")
    assert (err.value.key, err.value.value) == ("algo", "gigpo")


def test_math_variants():
    spear = algorithm_preset("spear", "math")
    assert spear.entropy_coef == 0.0 and spear.replay_warmup_steps == 300 and spear.loss_norm_length == 16384
    assert spear.replay_strict_positive and spear.replay_requires_tool_call and spear.exclude_flagged_from_loss
    assert spear.void_turn_rule == "boxed_answer" and spear.group_stats == "sample" and not spear.group_filter_pow2
    assert spear.tool_bonus_variant == "qwen2.5" and spear.tool_bonus_steps == 200


@pytest.mark.parametrize("field,value,needle", [
    ("clip_ratio_high", -0.1, "clip_ratio_high = -0.1: must be >= 0"),
    ("loss_agg_mode", "mean", "loss_agg_mode = 'mean': expected one of"),
    ("dual_clip_c", 0.5, "dual_clip_c = 0.5: must be > 1 or null"),
    ("group_filter_ratio", 0.0, "group_filter_ratio = 0.0: must be in (0, 1]"),
    ("replay_decay_weight", 2.0, "replay_decay_weight"),
    ("enable_replay", "yes", "enable_replay = 'yes': expected bool"),
    ("replay_buffer_size", 1.5, "replay_buffer_size"),
    ("gamma", float("nan"), "gamma = nan: must be a finite number"),
    ("kl_loss_coef", 0.1, "kl_loss_coef"),
])
def test_validation_names_the_field_the_value_and_the_rule(field, value, needle):
    with pytest.raises(ConfigError, match=needle.replace("(", r"\(").replace("[", r"\[")) as err:
        AlgorithmConfig(**{field: value})
    assert err.value.key == field and repr(err.value.value) == repr(value)


def test_unknown_preset_env_or_field_is_named():
    with pytest.raises(ConfigError, match="unknown preset 'ppo'; choose one of") as err:
        algorithm_preset("ppo")
    assert err.value.key == "algo"
    with pytest.raises(ConfigError, match="unknown env 'chess'") as err:
        algorithm_preset("grpo", "chess")
    assert err.value.key == "env"
    with pytest.raises(ConfigError, match=r"AlgorithmConfig.clip_high = 0.3: no such field \(did you mean clip_ratio_high") as err:
        algorithm_preset("grpo", clip_high=0.3)
    assert err.value.key == "clip_high"


def test_int_given_for_float_field_is_coerced():
    config = AlgorithmConfig(replay_loss_coef=1)
    assert config.replay_loss_coef == 1.0 and isinstance(config.replay_loss_coef, float)
