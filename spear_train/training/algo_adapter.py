"""From a run config to the algorithm preset the loop runs, and the loss knobs of each pass.

The preset (``spear_train.algorithms.presets.algorithm_preset``) is the source of truth for every
algorithm value; ``RunConfig.algorithm`` overrides its fields (env defaults of the chosen scale first,
then the YAML file). An unknown field or a bad value is a :class:`ConfigError` naming it.
"""

from __future__ import annotations

from spear_train.algorithms.config import AlgorithmConfig
from spear_train.algorithms.presets import algorithm_preset
from spear_train.config_error import ConfigError
from spear_train.training.run_config import RunConfig
from spear_train.training.update import LossSettings


def algorithm_config(cfg: RunConfig) -> AlgorithmConfig:
    """The preset ``cfg.algo`` for ``cfg.env`` with ``cfg.algorithm`` overrides applied.

    ``loss_norm_length`` (the ``seq-mean-token-sum-norm`` divisor) is the reference's max response
    length, so it follows the run's ``max_response_tokens`` unless ``cfg.algorithm`` sets it: a laptop
    run with 24-token responses divides by 24, not by the paper's 512.
    """
    try:
        return algorithm_preset(cfg.algo, cfg.family,
                                **{"loss_norm_length": cfg.max_response_tokens, **cfg.algorithm})
    except ConfigError as exc:
        if exc.key in ("algo", "env"):  # the preset's name or task family
            raise ConfigError(f"{exc.key}: {exc}", exc.key, exc.value) from None
        raise ConfigError(f"algorithm: {exc}", f"algorithm.{exc.key}", exc.value) from None  # a field


def loss_settings(algo: AlgorithmConfig, replay: bool = False) -> LossSettings:
    """Loss knobs of the on-policy pass, or (``replay=True``) of the SPEAR replay pass
    (docs/algorithms.md, 'Replay pass')."""
    return LossSettings(
        loss_mode=algo.replay_policy_loss if replay else algo.policy_loss,
        clip_low=algo.clip_ratio_low,
        clip_high=algo.clip_ratio_high,
        dual_clip_c=algo.dual_clip_c,
        loss_agg_mode=algo.loss_agg_mode,
        norm_length=algo.loss_norm_length,
        entropy_coef=algo.entropy_coef,
        clip_cov_ratio=algo.replay_clip_cov_ratio if replay else algo.clip_cov_ratio,
        clip_cov_lb=algo.replay_clip_cov_lb if replay else algo.clip_cov_lb,
        clip_cov_ub=algo.replay_clip_cov_ub if replay else algo.clip_cov_ub,
        kl_cov_ratio=algo.kl_cov_ratio,
        ppo_kl_coef=algo.ppo_kl_coef,
        flagged_in_loss_denominator=not algo.exclude_flagged_from_loss,
    )
