"""SFT data, loss masking, the training loop (toy env, tiny budget), resume and the CLI."""

from __future__ import annotations

import json
from dataclasses import replace

import gymnasium as gym
import pytest
import torch

from spear_envs.agent_io import AgentMemory, prompt_builder_for
from spear_train.sft.data import (
    TokenizedExample, agent_response, expert_examples, play_expert_episode,
)
from spear_train.sft.evaluate import EvalConfig
from spear_train.sft.recipe import SFTRecipe, default_recipe
from spear_train.sft.trainer import RunOptions, collate, latest_checkpoint, lr_factor, run_sft
from tests.models.toy_agent_env import ENV_ID, ToyButtonsEnv, toy_expert


def test_examples_are_rendered_by_the_rollout_prompt_builder(toy_env_id):
    env = gym.make(toy_env_id)
    episode = play_expert_episode(env, toy_expert, toy_env_id, seed=3)
    builder = prompt_builder_for(toy_env_id)
    obs, info = env.reset(seed=3)
    memory = AgentMemory.start(obs, info)
    assert episode.won and not episode.degenerate and len(episode.examples) == 2
    for ex in episode.examples:
        assert ex.messages == builder.messages(memory)
        action = ex.response.removeprefix("<think></think><action>").removesuffix("</action>")
        assert builder.parse(ex.response) == (action, True)
        obs, _, _, _, info = env.step(action)
        memory.record(action, obs, info)


class AlreadyWonEnv(ToyButtonsEnv):
    def _reset(self, seed, options):
        obs, info = super()._reset(seed, options)
        info["won"] = True
        return obs, info


def test_degenerate_episodes_never_enter_the_data(toy_env_id):
    episode = play_expert_episode(AlreadyWonEnv(), toy_expert, toy_env_id, seed=0)
    assert episode.degenerate and episode.examples == []


def test_expert_examples_cache_round_trips(toy_env_id, tmp_path):
    cache = tmp_path / "episodes.jsonl"
    first, summary = expert_examples(toy_env_id, 5, 0, progress=False, cache_file=cache)
    assert cache.is_file() and summary.won == 5 and summary.examples == len(first) == 10
    again, _ = expert_examples(toy_env_id, 5, 0, progress=False, cache_file=cache)
    assert again == first


def test_the_episode_cache_is_keyed_by_the_expert_version(toy_env_id, monkeypatch, tmp_path):
    from spear_train.sft.experts import EXPERT_SOURCES
    from spear_train.sft.trainer import data_cache_file

    monkeypatch.setenv("SPEAR_BENCH_CACHE", str(tmp_path))
    recipe = replace(default_recipe("spear/ALFWorld-v0"), env_id=toy_env_id, train_tasks=5)
    # an expert without a version keeps the file names the existing caches were written under
    assert data_cache_file(recipe).name == "expert-n5-s0-h2.jsonl"
    monkeypatch.setitem(EXPERT_SOURCES, toy_env_id, replace(EXPERT_SOURCES[toy_env_id], version="2"))
    assert data_cache_file(recipe).name == "expert-n5-s0-h2-e2.jsonl"  # a changed expert plays its tasks again
    assert data_cache_file(recipe).parent == tmp_path / "sft-data" / toy_env_id.replace("/", "_")


def test_loss_mask_covers_exactly_the_response_tokens():
    examples = [TokenizedExample([5, 6, 7], [8, 9, 2]), TokenizedExample([5, 6], [9, 2])]
    ids, attn, target = collate(examples, pad_id=0)
    assert ids.tolist() == [[5, 6, 7, 8, 9, 2], [5, 6, 9, 2, 0, 0]]
    assert attn.tolist() == [[1] * 6, [1, 1, 1, 1, 0, 0]]
    # target[t] means: the token at t+1 is a response token
    assert ids[:, 1:][target[:, :-1]].tolist() == [8, 9, 2, 9, 2]


def test_lr_schedule_warms_up_then_anneals():
    assert lr_factor(0.0, 0.1, 0.1) < 0.01
    assert lr_factor(0.1, 0.1, 0.1) == pytest.approx(1.0)
    assert lr_factor(1.0, 0.1, 0.1) == pytest.approx(0.1)
    assert lr_factor(0.5, 0.1, 0.1) > lr_factor(0.9, 0.1, 0.1)


def test_recipe_round_trips_and_rejects_unknown_fields(tmp_path):
    recipe = replace(default_recipe("spear/ALFWorld-v0"), lr=1e-3)
    recipe.save(tmp_path / "r.json")
    assert SFTRecipe.load(tmp_path / "r.json") == recipe
    with pytest.raises(ValueError, match="unknown SFT recipe fields"):
        SFTRecipe.from_dict({"lr": 1.0, "learning_rate": 2.0})


#: the toy env is played with the alfworld family's laptop run settings, 4 turns
TOY_RUN_SETTINGS = {"task_family": "alfworld", "max_turns": 4}


def _toy_recipe(env_id):
    return SFTRecipe(env_id=env_id, train_tasks=24, epochs=6, batch_size=8, lr=3e-3)


def test_training_lowers_loss_and_checkpoint_reloads_with_identical_ids(toy_env_id, tmp_path, monkeypatch):
    monkeypatch.setenv("SPEAR_BENCH_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "run"
    result = run_sft(_toy_recipe(toy_env_id), RunOptions(
        out=out, progress=False, threads=1, log_every=1,
        eval_config=EvalConfig(tasks=4, group_size=2, run_settings=TOY_RUN_SETTINGS)))
    losses = [json.loads(line)["loss"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert losses[-1] < 0.5 * losses[0]
    assert (out / "loss.png").stat().st_size > 0
    model_dir = out / "model"
    for name in ("model.safetensors", "tokenizer.json", "recipe.json", "eval.json", "checksum.sha256"):
        assert (model_dir / name).is_file(), name
    assert SFTRecipe.load(model_dir / "recipe.json") == _toy_recipe(toy_env_id)
    ev = result["evaluation"]
    assert ev["greedy"]["episodes"] == ev["run_decoding"]["episodes"] == 4 and ev["sampled"]["episodes"] == 8
    assert 0 <= ev["sampled"]["mixed_group_rate"] <= ev["sampled"]["pass_at_k"] <= 1
    assert ev["config"]["run"]["max_turns"] == 4 and ev["greedy"]["mean_steps"] <= 4

    from spear_train.models.builtin import verify_checksum
    from spear_train.policy import load_policy
    from spear_train.sft.data import expert_examples, tokenize_examples

    verify_checksum(model_dir)
    reloaded = load_policy(model_dir, device="cpu")
    examples, _ = expert_examples(toy_env_id, 3, 0, progress=False)
    ckpt = load_policy(latest_checkpoint(out), device="cpu")
    for ex in examples:
        assert reloaded.prompt_ids(ex.messages) == ckpt.prompt_ids(ex.messages)
    # the trained policy reproduces the expert's reply for a training prompt, greedily
    data, _ = tokenize_examples(examples, reloaded.prompt_ids, reloaded.tokenizer, 768, 24)
    with torch.no_grad():
        out_ids = reloaded.model.generate(torch.tensor([data[0].prompt_ids]), max_new_tokens=24, do_sample=False)
    assert out_ids[0, len(data[0].prompt_ids):].tolist() == data[0].response_ids


def test_an_evaluation_the_harness_cannot_play_is_refused_before_training(toy_env_id, tmp_path):
    from spear_train.training.run_config import ConfigError

    with pytest.raises(ConfigError, match="task_family"):  # an env outside the families needs its run settings
        run_sft(_toy_recipe(toy_env_id), RunOptions(out=tmp_path / "run", progress=False, eval_config=EvalConfig(tasks=2)))
    assert not (tmp_path / "run").exists()


def test_resume_continues_from_the_last_checkpoint(toy_env_id, tmp_path, monkeypatch):
    monkeypatch.setenv("SPEAR_BENCH_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "run"
    recipe = _toy_recipe(toy_env_id)  # 24 tasks x 2 turns / batch 8 x 6 epochs = 36 steps
    cut = run_sft(recipe, RunOptions(out=out, minutes=0.01, progress=False, threads=1, eval_config=None))
    assert 0 < cut["training"]["steps"] < 36
    with pytest.raises(FileExistsError, match="--resume"):
        run_sft(recipe, RunOptions(out=out, progress=False, threads=1, eval_config=None))
    with pytest.raises(ValueError, match="another recipe"):
        run_sft(replace(recipe, epochs=4), RunOptions(out=out, resume=True, progress=False, eval_config=None))
    done = run_sft(recipe, RunOptions(out=out, resume=True, progress=False, threads=1, eval_config=None))
    assert done["training"]["steps"] == 36
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(set(steps)) and steps[-1] == 36


def test_cli_rejects_unknown_env_and_bad_budget(capsys):
    from spear_train.cli.main import main

    assert main(["sft", "--env", "chess"]) == 2
    assert "no SFT recipe" in capsys.readouterr().err
    assert main(["sft", "--env", "alfworld", "--minutes", "0"]) == 2
    assert "--minutes must be positive" in capsys.readouterr().err


def test_a_checkpoint_write_that_fails_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    import errno

    from spear_train.sft import trainer
    from spear_train.training.checkpoint import CheckpointWriteError

    net = torch.nn.Linear(2, 2)
    opt = torch.optim.AdamW(net.parameters())
    monkeypatch.setattr(trainer, "save_model_folder", lambda policy, folder: (folder / "model.bin").write_text("w"))
    first = trainer.save_checkpoint(tmp_path, None, opt, {"step": 3})
    assert first.name == "step_000003" and trainer.latest_checkpoint(tmp_path) == first

    def full_disk(policy, folder):
        (folder / "model.bin").write_text("half")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(trainer, "save_model_folder", full_disk)
    with pytest.raises(CheckpointWriteError, match="step_000004|4"):
        trainer.save_checkpoint(tmp_path, None, opt, {"step": 4})
    assert trainer.latest_checkpoint(tmp_path) == first and (first / "model.bin").read_text() == "w"
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["LATEST", "step_000003"]

def test_eval_only_rewrites_the_evaluation_and_keeps_the_rest(toy_env_id, tiny_policy_dir, tmp_path):
    import shutil

    from spear_train.models.checksum import verify_checksum, write_checksum
    from spear_train.sft.evaluate import reevaluate_folder

    folder = tmp_path / "model"
    shutil.copytree(tiny_policy_dir, folder)
    (folder / "eval.json").write_text(json.dumps({"training": {"steps": 3}, "evaluation": {"stale": True}}))
    write_checksum(folder)
    cfg = EvalConfig(tasks=2, group_size=2, run_settings=TOY_RUN_SETTINGS)
    evaluation = reevaluate_folder(folder, toy_env_id, cfg, progress=False)
    document = json.loads((folder / "eval.json").read_text())
    assert document["training"] == {"steps": 3}
    assert document["evaluation"] == json.loads(json.dumps(evaluation)) and "stale" not in document["evaluation"]
    assert evaluation["run_decoding"]["episodes"] == 2 and evaluation["sampled"]["episodes"] == 4
    verify_checksum(folder)  # the checksum was rewritten with the new eval.json
