"""Evaluation chunks are seeded on their own, so shards of an evaluation (the ranks of a data-parallel run)
play exactly the episodes of one process (docs/training.md, 'Several processes')."""

from __future__ import annotations

from dataclasses import asdict

import pytest
import torch

from spear_train.training.evaluation import chunk_seed, chunk_shard, eval_chunks, evaluate, merge_results
from spear_train.training.run_config import resolve_run_config
from tests.training.test_distributed import _launch_ranks, ranks_config_and_one_process
from tests.training.test_loop import tiny_run
from tests.training.toy_train import COIN_ID


def _played(result) -> list[tuple]:
    return [(e.seed, e.traj_id, tuple(e.actions), e.won, e.episode_return) for e in result.summaries]


def test_eval_chunks_are_consecutive_equal_and_at_most_the_batch():
    assert [len(c) for c in eval_chunks(100, 32)] == [25, 25, 25, 25]
    assert [len(c) for c in eval_chunks(200, 32)] == [29, 29, 29, 29, 28, 28, 28]
    assert eval_chunks(0, 32) == [] and eval_chunks(5, 8) == [range(0, 5)]
    for tasks in range(1, 80):
        for most in (1, 3, 32):
            chunks = eval_chunks(tasks, most)
            assert [t for c in chunks for t in c] == list(range(tasks))
            assert max(map(len, chunks)) <= most and max(map(len, chunks)) - min(map(len, chunks)) <= 1


def test_chunk_shards_cover_every_chunk_once_in_order():
    for chunks in range(0, 9):
        for world in (1, 2, 3, 4):
            shards = [chunk_shard(chunks, r, world) for r in range(world)]
            assert [k for s in shards for k in s] == list(range(chunks))
    with pytest.raises(ValueError, match="outside"):
        chunk_shard(4, 2, 2)
    assert chunk_seed(7, 0) == 7 and len({chunk_seed(7, k) for k in range(50)}) == 50


def test_shards_of_an_evaluation_merge_into_the_whole(tiny_policy_dir, tmp_path):
    torch.set_num_threads(1)
    # 7 tasks in chunks of at most 2 (2, 2, 2, 1); sampled at T = 1 so the chunks' draws matter
    cfg = resolve_run_config(tiny_run(tiny_policy_dir, tmp_path, COIN_ID, "alfworld", "grpo", eval_episodes=7,
                                      eval_batch=2, eval_temperature=1.0))
    from spear_train.policy import load_policy

    policy = load_policy(str(tiny_policy_dir), device="cpu")
    whole = evaluate(cfg, "model", policy, seed=3)
    assert [e.seed for e in whole.summaries] == list(range(7))
    for world in (2, 3):
        parts = [evaluate(cfg, "model", policy, seed=3, shard=(r, world)) for r in range(world)]
        assert all(p.summaries for p in parts)
        merged = merge_results(parts)
        assert _played(merged) == _played(whole)
        assert [r.to_json() for r in merged.records] == [r.to_json() for r in whole.records]
        assert merged.summary() == whole.summary()
    # a chunk's draws are its own: the same chunk played after a different first chunk is unchanged
    other = evaluate(cfg, "model", policy, seed=4)
    assert _played(evaluate(cfg, "model", policy, seed=3, shard=(1, 4)))[:2] == _played(whole)[2:4]
    assert _played(other) != _played(whole), "another seed should play differently (else the test is vacuous)"


def test_two_gloo_ranks_evaluate_what_one_process_evaluates(tiny_policy_dir, tmp_path):
    values = tiny_run(tiny_policy_dir, tmp_path, COIN_ID, "alfworld", "grpo", eval_episodes=5, eval_batch=2,
                      eval_temperature=1.0)
    config, trainer = ranks_config_and_one_process(values, tmp_path)
    trainer.evaluate(0)
    trainer.rollouts.close()
    single = trainer.last_eval
    out = tmp_path / "ranks"
    out.mkdir()
    _launch_ranks(["evaluate", str(config), str(out)])
    ranks = [torch.load(out / f"eval{r}.pt") for r in (0, 1)]
    assert ranks[0]["summaries"] == [asdict(e) for e in single.summaries]
    assert ranks[0]["records"] == [asdict(r) for r in single.records]
    assert ranks[1]["summaries"] == ranks[0]["summaries"]  # every rank holds the merged evaluation
