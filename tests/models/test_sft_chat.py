"""SFT data in the ``chat`` prompt format: one example per expert episode, built from ids exactly as the rollout
builds its prompts, trained on the replies only (docs/rollouts.md, 'Prompt formats')."""

from __future__ import annotations

import pytest
import torch

from spear_envs.agent_io import AgentMemory, AlfworldChatPrompt
from spear_train.policy import load_policy
from spear_train.sft.data import expert_examples, tokenize_examples
from spear_train.sft.recipe import default_recipe
from spear_train.sft.trainer import collate, data_cache_file

ENV_ID = "spear/ALFWorld-v0"


@pytest.fixture(scope="module")
def chat_data():
    torch.set_num_threads(1)
    examples, summary = expert_examples(ENV_ID, 4, 0, progress=False, prompt_format="chat")
    policy = load_policy("spear-tiny-alfworld", device="cpu")
    return examples, summary, policy


def test_chat_recipe_and_its_data_cache_are_their_own():
    window, chat = default_recipe(ENV_ID), default_recipe(ENV_ID, "chat")
    assert (window.prompt_format, chat.prompt_format) == ("", "chat")
    assert chat.max_prompt_tokens > window.max_prompt_tokens  # it bounds a whole episode
    assert data_cache_file(chat) != data_cache_file(window) and data_cache_file(chat).name.endswith("-chat.jsonl")
    with pytest.raises(KeyError, match="no 'chat' SFT recipe"):
        default_recipe("spear/WebShop-v0", "chat")


def test_one_example_per_episode_equal_to_the_template_and_trained_on_replies_only(chat_data):
    examples, summary, policy = chat_data
    tok = policy.tokenizer
    data, dropped = tokenize_examples(examples, policy.prompt_ids, tok, 2048, 24, observation_role="user")
    assert dropped == 0 and len(data) == summary.won  # each won episode is one example
    turns_per_episode = []
    for ex in examples:
        if len(ex.messages) == 1:
            turns_per_episode.append([])
        turns_per_episode[-1].append(ex)
    for d, turns in zip(data, turns_per_episode):
        last = turns[-1]
        reply = tok.encode(last.response, add_special_tokens=False) + [tok.eos_token_id]
        assert d.prompt_ids + d.response_ids == policy.prompt_ids(last.messages) + reply
        replies = [tok.encode(t.response, add_special_tokens=False) + [tok.eos_token_id] for t in turns]
        assert sum(d.loss_mask) == sum(len(r) for r in replies)
        trained = [t for t, m in zip(d.response_ids, d.loss_mask) if m]
        assert trained == [t for r in replies for t in r]
        assert d.prompt_ids == policy.prompt_ids(turns[0].messages)
        assert turns[0].messages == AlfworldChatPrompt().messages(AgentMemory.start(
            turns[0].messages[0]["content"].split("You are here:\n", 1)[1].split("\n\nThink it through")[0], {"task": ""}))
    ids, attn, target = collate(data[:2], tok.pad_token_id)
    for row, d in enumerate(data[:2]):  # targets: the positions predicting a reply token
        expected = torch.zeros(ids.shape[1], dtype=torch.bool)
        expected[len(d.prompt_ids) - 1: len(d.prompt_ids) - 1 + len(d.response_ids)] = torch.tensor(d.loss_mask, dtype=torch.bool)
        assert torch.equal(target[row], expected)


def test_over_long_episodes_are_dropped_whole(chat_data):
    examples, summary, policy = chat_data
    data, _ = tokenize_examples(examples, policy.prompt_ids, policy.tokenizer, 2048, 24, observation_role="user")
    longest = max(d.length for d in data)
    kept, dropped = tokenize_examples(examples, policy.prompt_ids, policy.tokenizer, longest - 1, 24,
                                      observation_role="user")
    assert dropped == sum(d.length == longest for d in data) >= 1 and len(kept) == len(data) - dropped
