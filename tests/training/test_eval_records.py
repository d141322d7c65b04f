"""Evaluation records kept while the episodes play (``EvalResult.records``) are the records a replay of
each episode in a fresh held-out env makes (``episode_records``, the reference): same JSON, same order,
on the three real envs, with in-process envs and with Ray env workers (docs/training.md, 'Evaluation records')."""

from __future__ import annotations

import pytest

from spear_envs.core import EpisodeRecord, replay
from spear_train.models import builtin
from spear_train.rollout.samples import Episode
from spear_train.training.evaluation import episode_records, evaluate, played_records
from spear_train.training.run_config import resolve_run_config


def _as_json(records) -> list[str]:
    return [r.to_json() for r in records]


def _check_identical(cfg, result) -> None:
    reference = episode_records(cfg, result.summaries)
    assert _as_json(result.records) == _as_json(reference)
    assert len(result.records) == sum(1 for e in result.summaries if not e.failed and e.actions)
    for rec in result.records[:2]:  # and they replay in a plain gym.make env
        assert replay(rec).matches(rec)


@pytest.mark.parametrize("env", ["alfworld", "webshop", "math"])
def test_random_agent_records_equal_the_replay(env):
    # max_turns 3: most ALFWorld and WebShop episodes are cut by the turn limit (the env's truncation);
    # eval_batch 3: two batches, so the second reuses the first's envs
    cfg = resolve_run_config({"env": env, "eval_episodes": 5, "eval_batch": 3, "max_turns": 3, "device": "cpu"})
    result = evaluate(cfg, "random", seed=1)
    if env != "math":  # the random agent answers math problems at once
        assert any(r.steps[-1].truncated for r in result.records)
    _check_identical(cfg, result)


def test_rollout_cut_episodes_keep_the_replay_treatment():
    # the rollout's own step cap below the env's: episodes end unrecorded by the env (no final_info)
    cfg = resolve_run_config({"env": "alfworld", "eval_episodes": 3, "max_turns": 2, "device": "cpu",
                              "eval_env_kwargs": {"max_steps": 50}})
    result = evaluate(cfg, "random", seed=2)
    assert result.records and all(len(r.steps) == 2 and not r.final_info for r in result.records)
    _check_identical(cfg, result)


def test_ray_env_workers_records_equal_the_replay():
    cfg = resolve_run_config({"env": "webshop", "eval_episodes": 4, "env_workers": 2, "max_turns": 4,
                              "device": "cpu"})
    result = evaluate(cfg, "random", seed=3)
    _check_identical(cfg, result)


@pytest.mark.parametrize("env", ["alfworld", "webshop", "math"])
def test_shipped_policy_records_equal_the_replay(env):
    from spear_train.policy import load_policy
    from spear_train.training.run_policy import model_name

    cfg = resolve_run_config({"env": env, "eval_episodes": 3, "device": "cpu"})
    name = model_name(cfg)
    if not (builtin.CHECKPOINT_ROOT / name / "model.safetensors").is_file():
        pytest.skip(f"{name} is not shipped in this checkout")
    result = evaluate(cfg, "model", load_policy(name, device="cpu"), seed=0)
    _check_identical(cfg, result)


def test_failed_and_empty_episodes_have_no_record_and_a_mismatch_is_an_error():
    rec = EpisodeRecord("spear/MathTool-v0", {}, 4)
    rec.steps = []
    ok, failed, empty = Episode("g", "g/c0", "e", 4), Episode("g", "g/c1", "e", 5), Episode("g", "g/c2", "e", 6)
    ok.actions, failed.actions, failed.failed = ["a"], ["a"], True
    from spear_envs.core import StepRecord

    rec.steps = [StepRecord("a", 0.0, True, False)]
    assert played_records([ok, failed, empty], [rec, None, None]) == [rec]
    with pytest.raises(RuntimeError, match="g/c0.*does not match"):
        played_records([ok], [None])
    rec.steps = [StepRecord("b", 0.0, True, False)]
    with pytest.raises(RuntimeError, match="does not match"):
        played_records([ok], [rec])
