"""Detours in the SFT expert data: random admissible turns kept as context of later turns, never as targets
(docs/models.md, 'Detours in the expert data')."""

from __future__ import annotations

from dataclasses import replace

import gymnasium as gym
import pytest
import torch

from spear_envs.agent_io import AgentMemory, prompt_builder_for
from spear_train.sft.data import expert_examples, play_expert_episode, tokenize_examples

ALFWORLD = "spear/ALFWorld-v0"


def _action(response: str) -> str:
    return response.removeprefix("<think></think><action>").removesuffix("</action>")


def test_a_detour_is_an_admissible_non_expert_action_that_later_prompts_show(toy_env_id):
    from tests.models.toy_agent_env import toy_expert

    env = gym.make(toy_env_id, max_steps=20)
    detours = 0
    for seed in range(12):
        episode = play_expert_episode(env, toy_expert, toy_env_id, seed=seed, detour_rate=0.5)
        assert episode.won  # the expert recovers
        # replay the played actions: every prompt is the builder's rendering of the real history
        builder = prompt_builder_for(toy_env_id)
        obs, info = env.reset(seed=seed)
        memory = AgentMemory.start(obs, info)
        expert = toy_expert(env)
        for ex in episode.examples:
            assert ex.messages == builder.messages(memory)
            action = _action(ex.response)
            assert action in info["admissible_actions"]
            assert (action == expert(obs, info)) == ex.train  # a detour is never the expert's action
            detours += not ex.train
            obs, _, _, _, info = env.step(action)
            memory.record(action, obs, info)
        assert episode.examples[-1].train  # the winning turn is the expert's
    assert detours >= 6  # 12 episodes at rate 0.5 take detours
    again = play_expert_episode(env, toy_expert, toy_env_id, seed=5, detour_rate=0.5)
    assert again == play_expert_episode(env, toy_expert, toy_env_id, seed=5, detour_rate=0.5)  # a function of the task
    plain = play_expert_episode(env, toy_expert, toy_env_id, seed=5)
    assert all(ex.train for ex in plain.examples) and plain == play_expert_episode(
        env, toy_expert, toy_env_id, seed=5, detour_rate=0.0)


def test_detour_rate_outside_0_1_and_envs_without_admissible_actions_are_refused(toy_env_id):
    from tests.models.toy_agent_env import ToyButtonsEnv, toy_expert

    env = gym.make(toy_env_id)
    for rate in (-0.1, 1.0, float("nan")):
        with pytest.raises(ValueError, match="detour_rate"):
            play_expert_episode(env, toy_expert, toy_env_id, seed=0, detour_rate=rate)

    class NoList(ToyButtonsEnv):
        def _info(self, won, valid):
            return {**super()._info(won, valid), "admissible_actions": None}

    with pytest.raises(ValueError, match="no admissible actions"):
        play_expert_episode(NoList(), toy_expert, toy_env_id, seed=0, detour_rate=0.9)


def test_window_data_drops_detour_turns_and_the_cache_is_keyed_by_the_rate(toy_env_id, tmp_path, monkeypatch):
    from spear_train.policy import load_policy
    from spear_train.sft.recipe import default_recipe
    from spear_train.sft.trainer import data_cache_file

    examples, summary = expert_examples(toy_env_id, 16, 0, progress=False, detour_rate=0.4)
    assert 0 < summary.detours == sum(not ex.train for ex in examples) < summary.examples == len(examples)
    policy = load_policy("spear-tiny-alfworld", device="cpu")
    data, dropped = tokenize_examples(examples, policy.prompt_ids, policy.tokenizer, 768, 24)
    assert dropped == 0 and len(data) == summary.examples - summary.detours
    targets = [ex for ex in examples if ex.train]
    for d, ex in zip(data, targets):
        assert d.prompt_ids == policy.prompt_ids(ex.messages)

    monkeypatch.setenv("SPEAR_BENCH_CACHE", str(tmp_path))
    recipe = replace(default_recipe(ALFWORLD), env_id=toy_env_id, train_tasks=5)
    assert data_cache_file(recipe).name == "expert-n5-s0-h2.jsonl"  # no detours: the old name
    assert data_cache_file(replace(recipe, detour_rate=0.2)).name == "expert-n5-s0-h2-d0.2.jsonl"
    chat = replace(default_recipe(ALFWORLD, "chat"), detour_rate=0.2)
    assert data_cache_file(chat).name.endswith("-chat-d0.2.jsonl")


def test_chat_episodes_with_detours_train_on_the_expert_replies_only():
    torch.set_num_threads(1)
    from spear_train.policy import load_policy

    examples, summary = expert_examples(ALFWORLD, 6, 0, progress=False, prompt_format="chat", detour_rate=0.3)
    assert summary.detours > 0
    policy = load_policy("spear-tiny-alfworld-chat", device="cpu")
    tok = policy.tokenizer
    data, dropped = tokenize_examples(examples, policy.prompt_ids, tok, 4096, 24, observation_role="user")
    assert dropped == 0 and len(data) == summary.won
    episodes = []
    for ex in examples:
        if len(ex.messages) == 1:
            episodes.append([])
        episodes[-1].append(ex)
    for d, turns in zip(data, episodes):
        last = turns[-1]
        reply = tok.encode(last.response, add_special_tokens=False) + [tok.eos_token_id]
        assert d.prompt_ids + d.response_ids == policy.prompt_ids(last.messages) + reply  # detours stay as context
        replies = [(tok.encode(t.response, add_special_tokens=False) + [tok.eos_token_id], t.train) for t in turns]
        trained = [t for t, m in zip(d.response_ids, d.loss_mask) if m]
        assert trained == [t for ids, train in replies if train for t in ids]
