"""The ``chat`` prompt format (ALFWorld): append-only prompts built from ids, the fast decoder's prefix store
across calls, and their agreement with the reference ``generate`` path (docs/rollouts.md, 'Prompt formats')."""

from __future__ import annotations

import pytest
import torch

from spear_envs.agent_io import AgentMemory, AlfworldChatPrompt, prompt_builder_for, prompt_formats_for
from spear_train.policy import load_policy
from spear_train.policy.fast_decode import FastGenerator
from spear_train.policy.generation import HFGenerator, SamplingConfig
from spear_train.rollout import ModelAgent, RolloutCollector, RolloutConfig, make_env_pool
from spear_train.rollout.workers import EnvSpec

ALFWORLD = "spear/ALFWorld-v0"
SPEC = EnvSpec(ALFWORLD, {"max_steps": 6})


@pytest.fixture(scope="module")
def alfworld_policy():
    torch.set_num_threads(1)
    return load_policy("spear-tiny-alfworld", device="cpu")


def _rollout(policy, backend: str, prompt_format: str | None = "chat", seed: int = 3, generator=None):
    pool = make_env_pool(SPEC, 4, env_workers=0)
    try:
        agent = ModelAgent(policy, SamplingConfig(max_new_tokens=24), generator=generator, constrained=True,
                           seed=seed, decode_backend=backend)
        config = RolloutConfig(group_size=2, max_steps=6, prompt_format=prompt_format)
        return RolloutCollector(ALFWORLD, agent, pool, config).collect([11, 12], tag="t/"), agent
    finally:
        pool.close()


def test_formats_are_listed_and_unknown_ones_refused():
    assert prompt_formats_for(ALFWORLD) == ["window", "chat"]
    assert prompt_formats_for("spear/WebShop-v0") == ["window"]
    assert prompt_formats_for("spear/MathTool-v0") == ["chat"]  # math episodes are one chat already
    assert isinstance(prompt_builder_for(ALFWORLD, prompt_format="chat"), AlfworldChatPrompt)
    assert type(prompt_builder_for(ALFWORLD)) is not AlfworldChatPrompt
    with pytest.raises(ValueError, match="has no 'chat' prompt format"):
        prompt_builder_for("spear/WebShop-v0", prompt_format="chat")
    with pytest.raises(ValueError, match="must be one of"):
        prompt_builder_for(ALFWORLD, prompt_format="scroll")


def test_chat_messages_grow_by_the_reply_and_the_new_observation():
    builder = AlfworldChatPrompt()
    memory = AgentMemory.start("You are in a room. Your task is to: put a mug in desk.",
                               {"task": "put a mug in desk", "admissible_actions": ["go to desk 1", "look"]})
    first = builder.messages(memory)
    assert len(first) == 1 and "Your task is to: put a mug in desk." in first[0]["content"]
    assert "go to desk 1'" not in first[0]["content"]  # admissible commands are enforced by the trie, not listed
    memory.record("go to desk 1", "You arrive at desk 1.", {"admissible_actions": ["look"]})
    second = builder.messages(memory)
    assert second[:1] == first
    assert second[1:] == [{"role": "assistant", "content": "<think></think><action>go to desk 1</action>"},
                          {"role": "user", "content": "You arrive at desk 1."}]
    assert builder.observation_message(memory) == second[-1]


def test_chat_rollout_prompts_extend_the_previous_turn_and_equal_the_template(alfworld_policy):
    rollout, _ = _rollout(alfworld_policy, "fast")
    by_traj: dict[str, list] = {}
    for s in rollout.samples:
        by_traj.setdefault(s.traj_id, []).append(s)
    assert len(by_traj) == 4 and max(len(v) for v in by_traj.values()) > 2
    builder = AlfworldChatPrompt()
    for turns in by_traj.values():
        for a, b in zip(turns, turns[1:]):
            sequence = a.prompt_ids + a.response_ids
            assert b.prompt_ids[:len(sequence)] == sequence  # built from ids: the sampled ids are kept
        # token-exact: the ids equal the chat template's encoding of the conversation with the sampled
        # replies (anchor_obs is the observation a turn answered)
        memory = AgentMemory.start(turns[0].anchor_obs, {"task": ""})
        chat = builder.messages(memory)
        for a, b in zip(turns, turns[1:]):
            chat += [{"role": "assistant", "content": a.response_text}, {"role": "user", "content": b.anchor_obs}]
        assert alfworld_policy.prompt_ids(chat) == turns[-1].prompt_ids


def test_window_rollouts_are_unchanged_by_the_chat_machinery(alfworld_policy):
    rollout, agent = _rollout(alfworld_policy, "fast", prompt_format=None)
    assert all("Commands you can use now" in alfworld_policy.tokenizer.decode(s.prompt_ids) for s in rollout.samples)
    assert agent.generator.prefill_tokens > 0


def test_prefix_store_reuses_the_previous_turn_and_samples_the_reference_ids(alfworld_policy):
    runs = {}
    for name, backend, generator in (
            ("hf", "hf", None), ("fast", "fast", None),
            ("fast-no-store", "fast", FastGenerator(alfworld_policy.model, alfworld_policy.tokenizer,
                                                    reuse_prefixes=False))):
        runs[name] = _rollout(alfworld_policy, backend, generator=generator)
    rows = {k: [(s.prompt_ids, s.response_ids, s.logprobs) for s in r.samples] for k, (r, _) in runs.items()}
    assert len(rows["hf"]) == len(rows["fast"]) == len(rows["fast-no-store"]) > 12
    for name in ("fast", "fast-no-store"):
        for (p1, r1, l1), (p2, r2, l2) in zip(rows["hf"], rows[name]):
            assert (p1, r1) == (p2, r2)
            torch.testing.assert_close(torch.tensor(l2), torch.tensor(l1), atol=1e-5, rtol=0)
    with_store, without = runs["fast"][1].generator, runs["fast-no-store"][1].generator
    prompt_tokens = sum(len(p) for p, _, _ in rows["fast"])
    assert without.prefill_tokens < prompt_tokens  # a group's copies still share within a batch
    assert with_store.prefill_tokens < without.prefill_tokens / 2  # later turns run only the new observation


@torch.no_grad()
def test_prefix_store_is_dropped_when_the_weights_change(alfworld_policy):
    policy = load_policy("spear-tiny-alfworld", device="cpu")  # a copy this test may change
    tok = policy.tokenizer
    fast = FastGenerator(policy.model, tok)
    sampling = SamplingConfig(temperature=0, max_new_tokens=6)
    first = policy.prompt_ids([{"role": "user", "content": "You are here: a room. Your task is to: look."}])
    out = fast.generate([first], sampling, seed=0).generations[0]
    follow = first + out.token_ids + tok.encode("\n<|im_start|>user\nNothing happens.<|im_end|>\n"
                                                "<|im_start|>assistant\n", add_special_tokens=False)
    reused = FastGenerator(policy.model, tok)
    reused.generate([first], sampling, seed=0)
    before = reused.prefill_tokens
    reused.generate([follow], sampling, seed=0)
    assert reused.prefill_tokens - before < len(follow) - len(first)  # same weights: the first call's keys reused
    for p in policy.model.parameters():  # an in-place change, as an optimiser step makes
        p.mul_(1.01)
    before = fast.prefill_tokens
    again = fast.generate([follow], sampling, seed=0).generations[0]
    assert fast.prefill_tokens - before == len(follow)  # nothing reused: the stored keys were stale
    ref = HFGenerator(policy.model, tok).generate([follow], sampling, seed=0).generations[0]
    assert again.token_ids == ref.token_ids
    torch.testing.assert_close(torch.tensor(again.logprobs), torch.tensor(ref.logprobs), atol=1e-5, rtol=0)
