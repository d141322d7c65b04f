"""HFGenerator: exact sampling distribution, left padding, seeding, constrained decoding."""

from __future__ import annotations

import pytest
import torch

from spear_train.policy.constrained import (DEFAULT_TEMPLATE, TokenTrie, action_token_sequences, admissible_trie,
                                           is_template_action)
from spear_train.policy.generation import HFGenerator, SamplingConfig


def _prompts(policy):
    texts = ["guess the fruit", "Problem: what is 6 * 7? Answer in <action></action>", "look"]
    return [policy.prompt_ids([{"role": "user", "content": t}]) for t in texts]


def _recomputed_logprobs(model, prompt, response, temperature=1.0, allowed=None):
    """log p(response | prompt) from one unpadded forward pass, optionally masked per position."""
    logits = model(torch.tensor([prompt + response])).logits[0, len(prompt) - 1:-1] / temperature
    if allowed is not None:
        mask = torch.full_like(logits, float("-inf"))
        for k, ids in enumerate(allowed):
            mask[k, ids] = 0.0
        logits = logits + mask
    return torch.log_softmax(logits, -1).gather(-1, torch.tensor(response)[:, None]).squeeze(-1)


@torch.no_grad()
def test_logprobs_are_plain_temperature_sampling_despite_model_generation_config(tiny_policy):
    # A model config asking for top-k 1 and a repetition penalty must not leak into RL sampling (docs/models.md,
    # 'Sampling without hidden defaults').
    cfg = tiny_policy.model.generation_config
    saved = (cfg.top_k, cfg.repetition_penalty)
    cfg.top_k, cfg.repetition_penalty = 1, 5.0
    try:
        gen = HFGenerator(tiny_policy.model, tiny_policy.tokenizer)
        prompts = _prompts(tiny_policy)
        batch = gen.generate(prompts, SamplingConfig(temperature=0.7, max_new_tokens=12), seed=3)
    finally:
        cfg.top_k, cfg.repetition_penalty = saved
    assert batch.distribution == "softmax(logits / 0.7)"
    distinct = set()
    for prompt, g in zip(prompts, batch.generations):
        assert len(g.token_ids) == len(g.logprobs) > 0
        expected = _recomputed_logprobs(tiny_policy.model, prompt, g.token_ids, 0.7)
        torch.testing.assert_close(torch.tensor(g.logprobs), expected, atol=1e-4, rtol=1e-4)
        distinct.update(g.token_ids)
    assert len(distinct) > 3  # top-k 1 would have repeated the argmax


def test_stop_token_ends_response_and_truncation_is_reported(tiny_policy):
    gen = HFGenerator(tiny_policy.model, tiny_policy.tokenizer)
    eos = tiny_policy.tokenizer.eos_token_id
    trie = TokenTrie([[5, eos]])
    batch = gen.generate(_prompts(tiny_policy)[:2], SamplingConfig(max_new_tokens=6), tries=[trie, None], seed=0)
    done, free = batch.generations
    assert done.token_ids == [5, eos] and done.finished
    if not free.finished:
        assert len(free.token_ids) == 6 and eos not in free.token_ids


def test_same_seed_same_samples_and_greedy_is_argmax(tiny_policy):
    gen = HFGenerator(tiny_policy.model, tiny_policy.tokenizer)
    prompts = _prompts(tiny_policy)
    a = gen.generate(prompts, SamplingConfig(max_new_tokens=8), seed=11)
    b = gen.generate(prompts, SamplingConfig(max_new_tokens=8), seed=11)
    assert [g.token_ids for g in a.generations] == [g.token_ids for g in b.generations]
    greedy = gen.generate(prompts[:1], SamplingConfig(temperature=0, max_new_tokens=4)).generations[0]
    with torch.no_grad():
        ids = list(prompts[0])
        for tok in greedy.token_ids:
            assert tok == int(tiny_policy.model(torch.tensor([ids])).logits[0, -1].argmax())
            ids.append(tok)


@torch.no_grad()
def test_constrained_decoding_yields_admissible_actions_with_masked_logprobs(tiny_policy):
    tok = tiny_policy.tokenizer
    gen = HFGenerator(tiny_policy.model, tok)
    actions = ["guess apple", "guess banana", "go to desk 1"]
    seqs = action_token_sequences(tok, actions, gen.stop_ids[0])
    trie = TokenTrie(seqs)
    prompts = _prompts(tiny_policy)
    batch = gen.generate(prompts, SamplingConfig(max_new_tokens=30), tries=[trie] * 3, seed=5)
    assert "masked to admissible actions" in batch.distribution
    for prompt, g in zip(prompts, batch.generations):
        assert g.token_ids in seqs and g.finished
        assert tok.decode(g.token_ids, skip_special_tokens=True) in [DEFAULT_TEMPLATE.format(action=a) for a in actions]
        allowed = [trie.allowed(g.token_ids[:k]) for k in range(len(g.token_ids))]
        expected = _recomputed_logprobs(tiny_policy.model, prompt, g.token_ids, allowed=allowed)
        torch.testing.assert_close(torch.tensor(g.logprobs), expected, atol=1e-4, rtol=1e-4)


def test_token_trie():
    trie = TokenTrie([[1, 2, 3], [1, 4], [5]])
    assert sorted(trie.allowed([])) == [1, 5]
    assert sorted(trie.allowed([1])) == [2, 4]
    assert trie.allowed([1, 4]) == []
    assert trie.allowed([2]) is None
    with pytest.raises(ValueError, match="at least one"):
        TokenTrie([])


def test_admissible_trie_leaves_template_and_empty_turns_free(tiny_policy):
    tok = tiny_policy.tokenizer
    assert is_template_action("search[<query>]") and is_template_action("search[<your query>]")
    assert not is_template_action("click[< prev]") and not is_template_action("click[b0abc]")
    assert admissible_trie(tok, None, 0) is None and admissible_trie(tok, [], 0) is None
    assert admissible_trie(tok, ["search[<query>]", "click[b0abc]"], 0) is None  # a search page: free text
    clicks = ["click[< prev]", "click[b0abc]"]
    trie = admissible_trie(tok, clicks, 0)
    assert isinstance(trie, TokenTrie)
    for seq in action_token_sequences(tok, clicks, 0):
        assert trie.allowed(seq) == []


def test_model_agent_constrains_click_turns_and_samples_search_turns_freely(tiny_policy):
    from spear_train.rollout.agents import ModelAgent, Turn

    clicks = ["click[back to search]", "click[b0abc]", "click[next >]"]
    messages = [{"role": "user", "content": "guess the fruit"}]
    turns = [Turn(0, messages, ["search[<query>]"]), Turn(1, messages, clicks)] * 3
    agent = ModelAgent(tiny_policy, SamplingConfig(max_new_tokens=24), constrained=True, seed=3)
    replies = agent.act(turns)
    rendered = [DEFAULT_TEMPLATE.format(action=a) for a in clicks]
    assert all(r.text in rendered for r in replies[1::2])
    # the untrained policy, sampled freely, does not happen to write the one template reply it could have
    assert not any(r.text == DEFAULT_TEMPLATE.format(action="search[<query>]") for r in replies[0::2])
    assert any(r.text not in rendered for r in replies[0::2])


@pytest.mark.parametrize("kwargs, message", [
    ({"temperature": -1}, "temperature"), ({"top_k": -2}, "top_k"), ({"top_p": 0}, "top_p"),
    ({"max_new_tokens": 0}, "max_new_tokens"),
])
def test_sampling_config_rejects_bad_values(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SamplingConfig(**kwargs)
