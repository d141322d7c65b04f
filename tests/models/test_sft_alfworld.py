"""Issue 12 "Done means": ``spear-bench sft --env alfworld --minutes M`` on the real engine, at a tiny budget.

A handful of generated training games (the real ALFWorld engine and handcoded expert), a sub-minute
training budget, no evaluation: the loss falls, and the final model folder reloads with the very token
ids the run trained on.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from spear_train.cli.main import main
from spear_train.sft.recipe import SFTRecipe, default_recipe

ENV_ID = "spear/ALFWorld-v0"
TRAIN_TASKS = 4


@pytest.fixture
def alfworld_sft_run(tmp_path_factory, monkeypatch):
    tmp = tmp_path_factory.mktemp("sft-alfworld")
    monkeypatch.setenv("SPEAR_BENCH_CACHE", str(tmp / "cache"))
    out = tmp / "run"
    code = main(["sft", "--env", "alfworld", "--minutes", "0.4", "--train-tasks", str(TRAIN_TASKS),
                 "--epochs", "50", "--eval-tasks", "0", "--threads", "1", "--no-progress", "--out", str(out)])
    assert code == 0
    return out


def test_alfworld_sft_loss_falls_and_the_model_reloads_with_identical_ids(alfworld_sft_run):
    out = alfworld_sft_run
    summary = json.loads((out / "data_summary.json").read_text())
    assert summary["episodes"] == TRAIN_TASKS and summary["won"] >= 1 and summary["kept"] == summary["examples"]

    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) >= 3
    assert rows[-1]["loss"] < 0.6 * rows[0]["loss"]
    assert rows[-1]["elapsed_s"] < 0.4 * 60 + 30  # the budget stops training (plus one step in flight)

    from spear_train.models.builtin import verify_checksum
    from spear_train.models.tokenizer import train_tokenizer
    from spear_train.policy import load_policy
    from spear_train.sft.data import expert_examples, tokenizer_corpus
    from spear_train.sft.trainer import data_cache_file, latest_checkpoint

    model_dir = out / "model"
    verify_checksum(model_dir)
    recipe = replace(default_recipe(ENV_ID), train_tasks=TRAIN_TASKS, epochs=50.0)
    assert SFTRecipe.load(model_dir / "recipe.json") == recipe
    examples, _ = expert_examples(ENV_ID, TRAIN_TASKS, recipe.data_seed, recipe.history_length, progress=False,
                                  cache_file=data_cache_file(recipe))
    # the tokenizer the run built, rebuilt from the same data (training it is deterministic)
    built = train_tokenizer(tokenizer_corpus(examples), vocab_size=recipe.vocab_size)
    reloaded = load_policy(model_dir, device="cpu")
    ckpt = load_policy(latest_checkpoint(out), device="cpu")
    assert reloaded.tokenizer.get_vocab() == built.get_vocab()
    for ex in examples[::4]:
        ids = reloaded.prompt_ids(ex.messages)
        assert ids == ckpt.prompt_ids(ex.messages)
        assert ids == built.encode(reloaded.prompt_text(ex.messages), add_special_tokens=False)
        assert reloaded.tokenizer.decode(ids) == reloaded.prompt_text(ex.messages)
