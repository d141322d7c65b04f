"""The result schema: metric formulas, strict validation, content hash, building from records."""

from __future__ import annotations

import math

import pytest
from pydantic import ValidationError

from spear_train.leaderboard.schema import (
    SCHEMA_VERSION, Result, compute_metrics, mean_and_stderr, metrics_equal,
)

from .conftest import TOY_ID, as_dict, make_result


def test_mean_and_stderr_match_hand_computation():
    mean, err = mean_and_stderr([0.2, 0.4, 0.9])
    assert mean == pytest.approx(0.5)
    # sample std of (0.2, 0.4, 0.9) = sqrt(((-.3)^2 + (-.1)^2 + .4^2) / 2) = sqrt(0.13)
    assert err == pytest.approx(math.sqrt(0.13) / math.sqrt(3))
    assert mean_and_stderr([0.7]) == (0.7, None)


def test_compute_metrics_per_seed_and_aggregate():
    m = compute_metrics({3: [(True, 1.0), (False, 0.0)], 7: [(True, 1.0), (True, 0.5)]})
    assert [(s.seed, s.episodes, s.success_rate, s.score) for s in m.per_seed] == [(3, 2, 0.5, 0.5), (7, 2, 1.0, 0.75)]
    assert m.success_mean == pytest.approx(0.75) and m.score_mean == pytest.approx(0.625)
    assert m.success_stderr == pytest.approx(0.25)  # std of (0.5, 1.0) = 0.3536 / sqrt(2)
    with pytest.raises(ValueError, match="seed 1 has no episodes"):
        compute_metrics({1: []})


def test_built_result_carries_everything_and_round_trips(toy_result):
    r = toy_result
    assert r.schema_version == SCHEMA_VERSION and r.env.id == TOY_ID and r.env.version == "test-1"
    assert r.env.kwargs == {"max_steps": 5} and r.seeds == [0, 1]
    assert [len(run.episodes) for run in r.runs] == [3, 3]
    wins = [[ep.final_info["won"] for ep in run.episodes] for run in r.runs]
    assert [m.success_rate for m in r.metrics.per_seed] == [sum(w) / 3 for w in wins]
    again = Result.model_validate_json(r.to_json())
    assert again == r and again.content_hash() == r.content_hash()
    assert again.records()[0][0].actions == r.runs[0].episodes[0].to_record().actions


def test_content_hash_ignores_names_but_not_evidence(toy_result):
    data = as_dict(toy_result)
    renamed = Result.model_validate({**data, "method": "other name", "description": "x"})
    assert renamed.content_hash() == toy_result.content_hash()
    data["runs"][0]["episodes"][0]["steps"][0]["action"] = "guess nothing"
    assert Result.model_validate(data).content_hash() != toy_result.content_hash()
    assert make_result(1).content_hash() != toy_result.content_hash()


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.update(extra_field=1), "extra_field"),
    (lambda d: d.update(seeds="0,1"), "seeds"),
    (lambda d: d["runs"][0]["episodes"][0].update(seed="3"), "seed"),
    (lambda d: d["runs"][0]["episodes"][0]["steps"][0].update(reward="1"), "reward"),
    (lambda d: d["runs"][0]["episodes"][0]["steps"][0].update(terminated=1), "terminated"),
    (lambda d: d["metrics"].update(success_mean=float("nan")), "finite"),
    (lambda d: d["metrics"].update(success_mean=1.5), "success_mean"),
    (lambda d: d.update(schema_version=2), "schema_version"),
    (lambda d: d.update(seeds=[0, 5]), "runs are for seeds"),
    (lambda d: d["runs"][1]["episodes"][0].update(env_version="old"), "env_version"),
    (lambda d: d["runs"][1]["episodes"][0].update(env_kwargs={"max_steps": 50}), "env_kwargs"),
    (lambda d: d.update(created_at="yesterday"), "RFC 3339"),
    (lambda d: d["model"].update(weights_sha256="not-a-hash"), "weights_sha256"),
])
def test_schema_rejects_bad_documents_with_the_field_named(toy_result, mutate, message):
    data = as_dict(toy_result)
    mutate(data)
    with pytest.raises(ValidationError, match=message):
        Result.model_validate(data)


def test_metrics_equal_names_each_differing_field(toy_result):
    forged = toy_result.metrics.model_copy(deep=True)
    forged.success_mean = min(1.0, forged.success_mean + 0.1)
    forged.per_seed[1].score += 0.5
    diffs = metrics_equal(forged, toy_result.metrics)
    assert any(d.startswith("success_mean") for d in diffs)
    assert any(d.startswith("per_seed[seed=1].score") for d in diffs)
    assert metrics_equal(toy_result.metrics, toy_result.metrics) == []


def test_combining_single_seed_results_gives_the_multi_seed_row():
    from spear_train.leaderboard.combine import combine_results
    from spear_train.leaderboard.verify import verify_result

    a, b = make_result(80, seeds=(0,)), make_result(80, seeds=(1,))
    both = make_result(80, seeds=(0, 1))
    combined = combine_results([a, b])
    assert combined.seeds == [0, 1] and combined.content_hash() == both.content_hash()
    assert combined.metrics == both.metrics == verify_result(combined).metrics
    assert combined.wall_time_s == pytest.approx(a.wall_time_s + b.wall_time_s)
    with pytest.raises(ValueError, match="seed 0 appears in more than one"):
        combine_results([a, a])
    with pytest.raises(ValueError, match="different method"):
        combine_results([a, make_result(80, seeds=(1,), method="other")])
