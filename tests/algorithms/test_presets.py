"""Config validation, the eight presets + alias, per-env settings and the YAML round-trip."""

import dataclasses

import pytest

from spear_train.algorithms import (
    ENV_NAMES,
    ENV_SETTINGS,
    PRESET_NAMES,
    AlgorithmConfig,
    ConfigError,
    EnvSettings,
    algorithm_preset,
    load_preset,
    preset_from_yaml,
)

AGENT_ENVS = ("alfworld", "webshop")


def _all_presets():
    for env in ENV_NAMES:
        for name in PRESET_NAMES + ("spear",):
            if env == "math" and "gigpo" in name:
                continue
            yield name, env


@pytest.mark.parametrize("name,env", list(_all_presets()))
def test_yaml_round_trip_is_identical(name, env):
    preset = load_preset(name, env)
    text = preset.to_yaml()
    again = preset_from_yaml(text)
    assert again == preset and again.to_yaml() == text


def test_eight_presets_and_alias():
    assert len(PRESET_NAMES) == 8
    assert algorithm_preset("spear") == algorithm_preset("drbot+spear")
    assert load_preset("spear").preset == "drbot+spear"


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
    with pytest.raises(ValueError, match="anchor"):
        algorithm_preset("gigpo", "math")


def test_math_variants():
    spear = algorithm_preset("spear", "math")
    assert spear.entropy_coef == 0.0 and spear.replay_warmup_steps == 300 and spear.loss_norm_length == 16384
    assert spear.replay_strict_positive and spear.replay_requires_tool_call and spear.exclude_flagged_from_loss
    assert spear.void_turn_rule == "boxed_answer" and spear.group_stats == "sample" and not spear.group_filter_pow2
    assert spear.tool_bonus_variant == "qwen2.5" and spear.tool_bonus_steps == 200


def test_env_settings_from_the_paper():
    alf, web, math_ = ENV_SETTINGS["alfworld"], ENV_SETTINGS["webshop"], ENV_SETTINGS["math"]
    assert (alf.group_size, alf.groups_per_step, alf.max_env_steps, alf.total_steps, alf.mini_batch_size) == (8, 32, 50, 200, 1024)
    assert (web.max_env_steps, web.total_steps, web.mini_batch_size, web.max_prompt_tokens) == (15, 350, 256, 4096)
    assert (math_.group_size, math_.groups_per_step, math_.max_response_tokens) == (16, 128, 16384)
    assert alf.learning_rate == web.learning_rate == 1e-6 and alf.history_length == 2


@pytest.mark.parametrize("field,value,needle", [
    ("clip_ratio_high", -0.1, "clip_ratio_high = -0.1"),
    ("loss_agg_mode", "mean", "loss_agg_mode = 'mean'"),
    ("dual_clip_c", 0.5, "dual_clip_c"),
    ("group_filter_ratio", 0.0, "group_filter_ratio"),
    ("replay_decay_weight", 2.0, "replay_decay_weight"),
    ("enable_replay", "yes", "enable_replay"),
    ("replay_buffer_size", 1.5, "replay_buffer_size"),
    ("gamma", float("nan"), "gamma"),
    ("kl_loss_coef", 0.1, "kl_loss_coef"),
])
def test_validation_names_the_field(field, value, needle):
    with pytest.raises(ConfigError, match=needle.replace("(", r"\(")) as err:
        AlgorithmConfig(**{field: value})
    assert err.value.field == field


def test_yaml_errors_name_the_field():
    text = load_preset("spear").to_yaml()
    with pytest.raises(ConfigError, match="clip_ratio_hihg"):
        preset_from_yaml(text.replace("clip_ratio_high:", "clip_ratio_hihg:"))
    with pytest.raises(ConfigError, match="total_steps = -1"):
        preset_from_yaml(text.replace("total_steps: 200", "total_steps: -1"))
    with pytest.raises(ConfigError, match="preset"):
        preset_from_yaml(text.replace("preset: drbot+spear", "preset: ppo"))
    with pytest.raises(ValueError, match="mapping"):
        preset_from_yaml("- just a list")
    with pytest.raises(ConfigError, match="no such field"):
        algorithm_preset("grpo", clip_high=0.3)


def test_int_given_for_float_field_is_coerced():
    assert AlgorithmConfig(replay_loss_coef=1).replay_loss_coef == 1.0
    assert isinstance(EnvSettings(grad_clip=2).grad_clip, float)
