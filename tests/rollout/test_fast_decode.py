"""FastGenerator against the reference HFGenerator: same sampled ids for the same seed, log-probs within
1e-5 (scaled by 1/T for T < 1), constrained decoding included, and the same use of the torch RNG."""

from __future__ import annotations

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from spear_train.config_error import ConfigError
from spear_train.policy.constrained import TokenTrie, admissible_trie
from spear_train.policy.fast_decode import FastGenerator, make_generator, supports
from spear_train.policy.generation import HFGenerator, SamplingConfig
from spear_train.rollout import ModelAgent, RolloutCollector, RolloutConfig, make_env_pool
from spear_train.training.run_config import resolve_run_config

from spear_train.rollout.workers import EnvSpec

from .toy import GUESS_ID

GUESS = EnvSpec(GUESS_ID, imports=("tests.rollout.toy",))

TEXTS = ["guess the fruit", "Problem: what is 6 * 7? Answer in <action></action>", "look",
         "guess the fruit",  # a repeated prompt (a group's copies): prefilled once, copied
         "go to the kitchen and look around carefully before you pick anything up"]
ACTIONS = [["apple", "banana", "cherry pie"], None, ["look", "inventory"], ["apple", "apricot"], None]


def _prompts(policy):
    return [policy.prompt_ids([{"role": "user", "content": t}]) for t in TEXTS]


def _both(policy, prompts, sampling, tries=None, seed=None):
    hf = HFGenerator(policy.model, policy.tokenizer)
    fast = FastGenerator(policy.model, policy.tokenizer)
    return hf.generate(prompts, sampling, tries, seed), fast.generate(prompts, sampling, tries, seed)


def _assert_same(ref, new, temperature):
    atol = 1e-5 / temperature if temperature else 1e-5
    assert ref.distribution == new.distribution
    assert len(ref.generations) == len(new.generations)
    for a, b in zip(ref.generations, new.generations):
        assert b.token_ids == a.token_ids
        assert b.finished == a.finished
        assert len(b.logprobs) == len(b.token_ids)
        torch.testing.assert_close(torch.tensor(b.logprobs), torch.tensor(a.logprobs), atol=atol, rtol=0)


@pytest.mark.parametrize("temperature", [1.0, 0.4, 0.0])
@pytest.mark.parametrize("constrained", [False, True])
def test_fast_path_samples_the_reference_ids_with_the_same_seed(tiny_policy, temperature, constrained):
    prompts = _prompts(tiny_policy)
    stop = HFGenerator(tiny_policy.model, tiny_policy.tokenizer).stop_ids[0]
    tries = [admissible_trie(tiny_policy.tokenizer, a, stop) for a in ACTIONS] if constrained else None
    sampling = SamplingConfig(temperature=temperature, max_new_tokens=14)
    for seed in range(4):
        ref, new = _both(tiny_policy, prompts, sampling, tries, seed)
        _assert_same(ref, new, temperature)
        if constrained:  # constrained rows produced one of their admissible responses
            for row, actions in enumerate(ACTIONS):
                if actions is not None and new.generations[row].finished:
                    text = tiny_policy.tokenizer.decode(new.generations[row].token_ids, skip_special_tokens=True)
                    assert any(f"<action>{a}</action>" in text for a in actions)


def test_top_k_top_p_and_truncation_match_the_reference(tiny_policy):
    sampling = SamplingConfig(temperature=0.8, top_k=20, top_p=0.9, max_new_tokens=5)
    ref, new = _both(tiny_policy, _prompts(tiny_policy), sampling, seed=11)
    _assert_same(ref, new, 0.8)
    assert any(not g.finished and len(g.token_ids) == 5 for g in new.generations)


def test_both_paths_consume_the_torch_rng_alike(tiny_policy):
    # Unseeded calls draw from the global generator: the next draw after each path must be the same.
    prompts = _prompts(tiny_policy)
    stop = HFGenerator(tiny_policy.model, tiny_policy.tokenizer).stop_ids[0]
    tries = [admissible_trie(tiny_policy.tokenizer, a, stop) for a in ACTIONS]
    after = []
    for gen in (HFGenerator(tiny_policy.model, tiny_policy.tokenizer),
                FastGenerator(tiny_policy.model, tiny_policy.tokenizer)):
        torch.manual_seed(123)
        ids = [g.token_ids for g in gen.generate(prompts, SamplingConfig(max_new_tokens=9), tries).generations]
        after.append((ids, torch.rand(3)))
    assert after[0][0] == after[1][0]
    assert torch.equal(after[0][1], after[1][1])


def test_fast_path_keeps_the_model_mode_and_rejects_bad_input(tiny_policy):
    fast = FastGenerator(tiny_policy.model, tiny_policy.tokenizer)
    tiny_policy.model.train()
    try:
        fast.generate(_prompts(tiny_policy)[:1], SamplingConfig(max_new_tokens=2), seed=0)
        assert tiny_policy.model.training
    finally:
        tiny_policy.model.eval()
    assert fast.generate([], SamplingConfig()).generations == []
    with pytest.raises(ValueError, match="at least one token"):
        fast.generate([[]], SamplingConfig())
    with pytest.raises(ValueError, match="one per prompt"):
        fast.generate(_prompts(tiny_policy)[:2], SamplingConfig(), tries=[TokenTrie([[5]])])


def test_make_generator_picks_fast_for_qwen2_and_the_reference_otherwise(tiny_policy):
    tok = tiny_policy.tokenizer
    assert supports(tiny_policy.model)
    assert isinstance(make_generator(tiny_policy.model, tok), FastGenerator)
    assert isinstance(make_generator(tiny_policy.model, tok, "hf"), HFGenerator)
    gpt2 = GPT2LMHeadModel(GPT2Config(vocab_size=len(tok), n_embd=16, n_layer=1, n_head=2, n_positions=64))
    assert not supports(gpt2)
    assert isinstance(make_generator(gpt2, tok), HFGenerator)
    with pytest.raises(ValueError, match="needs decode backend 'hf'"):
        make_generator(gpt2, tok, "fast")
    with pytest.raises(ValueError, match="decode backend must be one of"):
        make_generator(tiny_policy.model, tok, "vllm-ish")
    assert isinstance(ModelAgent(tiny_policy).generator, FastGenerator)
    assert isinstance(ModelAgent(tiny_policy, decode_backend="hf").generator, HFGenerator)


def test_rollouts_of_both_paths_are_the_same_token_for_token(tiny_policy):
    samples = {}
    for backend in ("hf", "fast"):
        pool = make_env_pool(GUESS, 8, env_workers=0)
        agent = ModelAgent(tiny_policy, SamplingConfig(max_new_tokens=16), seed=5, decode_backend=backend)
        rollout = RolloutCollector(GUESS_ID, agent, pool, RolloutConfig(group_size=4)).collect([3, 4], tag="t/")
        samples[backend] = [(s.prompt_ids, s.response_ids, s.logprobs, s.action) for s in rollout.samples]
        pool.close()
    assert len(samples["hf"]) == len(samples["fast"]) > 8
    for (p1, r1, l1, a1), (p2, r2, l2, a2) in zip(samples["hf"], samples["fast"]):
        assert (p1, r1, a1) == (p2, r2, a2)
        torch.testing.assert_close(torch.tensor(l2), torch.tensor(l1), atol=1e-5, rtol=0)


def test_run_config_decode_backend_is_validated():
    assert resolve_run_config({"env": "alfworld"}).decode_backend == "auto"
    assert resolve_run_config({"env": "alfworld", "decode_backend": "hf"}).decode_backend == "hf"
    with pytest.raises(ConfigError, match="decode_backend must be one of"):
        resolve_run_config({"env": "alfworld", "decode_backend": "turbo"})


def test_llama_models_decode_the_reference_ids_too(tiny_policy):
    # SmolLM2 is a Llama model: the fast path runs its layers (no q/k/v bias, own rope theta) as well.
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = tiny_policy.tokenizer
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        llama = LlamaForCausalLM(LlamaConfig(
            vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, rope_theta=100_000.0, tie_word_embeddings=True,
            eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id)).eval()
    assert supports(llama) and isinstance(make_generator(llama, tok), FastGenerator)
    prompts = _prompts(tiny_policy)
    stop = HFGenerator(llama, tok).stop_ids[0]
    tries = [admissible_trie(tok, a, stop) for a in ACTIONS]
    for tries_or_none in (None, tries):
        sampling = SamplingConfig(temperature=1.0, max_new_tokens=10)
        ref = HFGenerator(llama, tok).generate(prompts, sampling, tries_or_none, seed=2)
        new = FastGenerator(llama, tok).generate(prompts, sampling, tries_or_none, seed=2)
        _assert_same(ref, new, 1.0)


@torch.no_grad()
def test_prefill_shares_common_prefixes_and_matches_a_full_forward(tiny_policy):
    from spear_train.policy.fast_kv import KVDecoder

    model = tiny_policy.model
    g = torch.Generator().manual_seed(0)
    base = torch.randint(5, 300, (60,), generator=g).tolist()
    tails = [torch.randint(5, 300, (n,), generator=g).tolist() for n in (7, 12, 3, 9)]
    prompts = [base + tails[0], base[:30] + tails[1], base + tails[2], base + tails[0], tails[3], base[:30]]
    decoder = KVDecoder(model, [len(p) for p in prompts], 2)
    ran = []
    original = decoder._run_suffix
    decoder._run_suffix = lambda prompt, shared, rows: ran.append(len(prompt) - shared) or original(prompt, shared, rows)
    logits = decoder.prefill(prompts)
    # the trie of the distinct prompts: base[:30] + its tail, the rest of base + two tails, one lone prompt
    assert sum(ran) == 30 + 12 + 30 + 7 + 3 + 9 and len(ran) == 5
    nxt = logits.argmax(-1)
    after = decoder.step(nxt)
    for row, p in enumerate(prompts):
        full = model(torch.tensor([p + [int(nxt[row])]])).logits[0]
        torch.testing.assert_close(logits[row], full[-2], atol=1e-4, rtol=0)
        torch.testing.assert_close(after[row], full[-1], atol=1e-4, rtol=0)


def test_rows_that_finished_leave_the_cache_and_the_others_still_sample_the_reference_ids(tiny_policy, monkeypatch):
    from spear_train.policy.fast_kv import KVDecoder

    retired = []
    original = KVDecoder.retire
    monkeypatch.setattr(KVDecoder, "retire", lambda self, keep, generated=None: retired.append(
        (len(self.rows), len(keep))) or original(self, keep, generated))
    prompts = _prompts(tiny_policy) * 3
    stop = HFGenerator(tiny_policy.model, tiny_policy.tokenizer).stop_ids[0]
    short = [admissible_trie(tiny_policy.tokenizer, ["look"], stop)] * 12 + [None] * 3  # 12 rows end early
    for temperature in (1.0, 0.0):
        sampling = SamplingConfig(temperature=temperature, max_new_tokens=12)
        ref, new = _both(tiny_policy, prompts, sampling, short, seed=3)
        _assert_same(ref, new, temperature)
    assert retired and all(keep <= rows // 2 for rows, keep in retired)
