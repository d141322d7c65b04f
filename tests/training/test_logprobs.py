"""Response log-probs from one padded batch equal a per-sequence full forward pass."""

from __future__ import annotations

import torch
from transformers import Qwen2Config, Qwen2ForCausalLM

from spear_train.training.logprobs import pad_batch, response_logprobs


def _model():
    torch.manual_seed(0)
    cfg = Qwen2Config(vocab_size=50, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                      num_key_value_heads=2, intermediate_size=64, max_position_embeddings=64)
    return Qwen2ForCausalLM(cfg).eval()


def test_batched_logprobs_match_single_sequences():
    model = _model()
    prompts = [[1, 2, 3], [4, 5, 6, 7, 8], [9]]
    responses = [[10, 11], [12, 13, 14, 15], [16]]
    with torch.no_grad():
        logp, ent = response_logprobs(model, prompts, responses, pad_id=0, temperature=0.7)
        for b, (p, r) in enumerate(zip(prompts, responses)):
            logits = model(torch.tensor([p + r])).logits[0].float() / 0.7
            ls = torch.log_softmax(logits, -1)
            for k, tok in enumerate(r):
                pos = len(p) - 1 + k
                assert torch.allclose(logp[b, k], ls[pos, tok], atol=1e-5)
                assert torch.allclose(ent[b, k], -(ls[pos].exp() * ls[pos]).sum(), atol=1e-5)
            assert torch.all(logp[b, len(r):] == 0) and torch.all(ent[b, len(r):] == 0)


def test_gradients_flow():
    model = _model()
    logp, _ = response_logprobs(model, [[1, 2]], [[3, 4]], pad_id=0, with_entropy=False)
    logp.sum().backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


def test_pad_batch_layout():
    ids, attn, index = pad_batch([[1, 2], [3]], [[4], [5, 6]], pad_id=0)
    assert ids.tolist() == [[1, 2, 4], [3, 5, 6]]
    assert attn.tolist() == [[1, 1, 1], [1, 1, 1]]
    assert index.tolist() == [[1, 0], [0, 1]]


def test_shared_prompts_match_separate_forwards_in_values_and_gradients():
    """A batch whose samples share prompts (one pass per distinct prompt, KV cache copied to the samples)
    gives the same log-probs, entropies and parameter gradients as forwarding every sample separately."""
    prompts = [[1, 2, 3], [4, 5, 6, 7, 8], [1, 2, 3], [9], [4, 5, 6, 7, 8], [1, 2, 3]]
    responses = [[10, 11], [12, 13, 14, 15], [16], [17, 18, 19], [20], [21, 22, 23, 24, 25]]
    shared_model, single_model = _model().train(), _model().train()
    logp, ent = response_logprobs(shared_model, prompts, responses, pad_id=0, temperature=0.7)
    (logp.sum() + ent.sum()).backward()
    for b, (p, r) in enumerate(zip(prompts, responses)):
        lp, en = response_logprobs(single_model, [p], [r], pad_id=0, temperature=0.7)
        assert torch.allclose(logp[b, : len(r)], lp[0, : len(r)], atol=1e-5)
        assert torch.allclose(ent[b, : len(r)], en[0, : len(r)], atol=1e-5)
        assert torch.all(logp[b, len(r):] == 0)
        (lp.sum() + en.sum()).backward()
    for (name, a), b in zip(shared_model.named_parameters(), single_model.parameters()):
        assert torch.allclose(a.grad, b.grad, atol=1e-4), name


def test_shared_prompts_with_one_token_responses():
    model = _model()
    prompts, responses = [[1, 2], [1, 2], [3]], [[4], [5], [6]]
    with torch.no_grad():
        logp, _ = response_logprobs(model, prompts, responses, pad_id=0)
        for b, (p, r) in enumerate(zip(prompts, responses)):
            ls = torch.log_softmax(model(torch.tensor([p + r])).logits[0].float(), -1)
            assert torch.allclose(logp[b, 0], ls[len(p) - 1, r[0]], atol=1e-5)
