"""End to end: ``spear-bench sft --env alfworld --minutes M`` on the real engine, at a tiny budget.

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
    code = main(["sft", "--env", "alfworld", "--minutes", "5", "--train-tasks", str(TRAIN_TASKS),
                 "--epochs", "4", "--eval-tasks", "0", "--threads", "1", "--no-progress", "--out", str(out)])
    assert code == 0
    return out


def test_alfworld_sft_loss_falls_and_the_model_reloads_with_identical_ids(alfworld_sft_run):
    out = alfworld_sft_run
    summary = json.loads((out / "data_summary.json").read_text())
    assert summary["episodes"] == TRAIN_TASKS and summary["won"] >= 1 and summary["kept"] == summary["examples"]

    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    steps = int((out / "checkpoints" / "LATEST").read_text().strip().removeprefix("step_"))
    assert rows and rows[0]["step"] == 1 and steps >= 2

    from spear_train.models.builtin import verify_checksum
    from spear_train.models.tokenizer import train_tokenizer
    from spear_train.policy import load_policy
    from spear_train.models.tiny_model import build_tiny_model
    from spear_train.sft.data import expert_examples, tokenize_examples, tokenizer_corpus
    from spear_train.sft.trainer import data_cache_file, latest_checkpoint

    model_dir = out / "model"
    verify_checksum(model_dir)
    recipe = replace(default_recipe(ENV_ID), train_tasks=TRAIN_TASKS, epochs=4.0)
    assert SFTRecipe.load(model_dir / "recipe.json") == recipe
    examples, _ = expert_examples(ENV_ID, TRAIN_TASKS, recipe.data_seed, recipe.history_length, progress=False,
                                  cache_file=data_cache_file(recipe))
    # the tokenizer the run built, rebuilt from the same data (training it is deterministic)
    built = train_tokenizer(tokenizer_corpus(examples), vocab_size=recipe.vocab_size)
    reloaded = load_policy(model_dir, device="cpu")
    ckpt = load_policy(latest_checkpoint(out), device="cpu")
    assert reloaded.tokenizer.get_vocab() == built.get_vocab()
    # the loss fell: the trained model against the same deterministic init, on the training examples
    data, _ = tokenize_examples(examples, reloaded.prompt_ids, reloaded.tokenizer, recipe.max_prompt_tokens,
                                recipe.max_response_tokens)
    initial = build_tiny_model(built, recipe.shape, seed=recipe.init_seed)
    pad = reloaded.tokenizer.pad_token_id
    before, after = _mean_loss(initial, data, pad), _mean_loss(reloaded.model, data, pad)
    assert after < 0.8 * before, (before, after)

    for ex in examples[::4]:
        ids = reloaded.prompt_ids(ex.messages)
        assert ids == ckpt.prompt_ids(ex.messages)
        assert ids == built.encode(reloaded.prompt_text(ex.messages), add_special_tokens=False)
        assert reloaded.tokenizer.decode(ids) == reloaded.prompt_text(ex.messages)


def _mean_loss(model, data, pad_id: int) -> float:
    """Mean response-token cross-entropy of ``model`` over all of ``data`` (one batch)."""
    import torch

    from spear_train.sft.trainer import collate, response_loss

    model.eval()
    with torch.no_grad():
        ids, attn, target = collate(data, pad_id)
        return response_loss(model, ids, attn, target).item()
