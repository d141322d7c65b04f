"""Packing (spear_train.training.logprobs): the turns of a trajectory under an append-only prompt share one
forward; log-probs, entropies, gradients and a whole optimisation pass equal the unpacked path's."""

from __future__ import annotations

import copy

import torch
from transformers import Qwen2Config, Qwen2ForCausalLM

from spear_train.training.logprobs import pack_hosts, packing, packs, padded_response_logprobs
from spear_train.training.train_batch import TrainBatch
from spear_train.training.update import LossSettings, by_prompt, optimise, shuffled_order


def _model():
    torch.manual_seed(0)
    cfg = Qwen2Config(vocab_size=60, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                      num_key_value_heads=2, intermediate_size=64, max_position_embeddings=256)
    return Qwen2ForCausalLM(cfg).eval()


def _ids(g, n):
    return torch.randint(3, 60, (n,), generator=g).tolist()


def _chat_batch(trajectories=3, turns=4, seed=0) -> TrainBatch:
    """Trajectories whose turn k+1 prompt is turn k's prompt, reply and some glue; plus one lone sample."""
    g = torch.Generator().manual_seed(seed)
    prompts, responses = [], []
    for _ in range(trajectories):
        context = _ids(g, 9)
        for _ in range(turns):
            reply = _ids(g, int(torch.randint(1, 5, (1,), generator=g)))
            prompts.append(list(context))
            responses.append(reply)
            context = context + reply + _ids(g, 6)
    prompts.append(_ids(g, 7))
    responses.append(_ids(g, 3))
    n = len(prompts)
    advantages = torch.randn(n, generator=g).tolist()
    old = [[-2.0] * len(r) for r in responses]
    return TrainBatch.from_lists(prompts, responses, old_logprobs=old, advantages=advantages)


def test_pack_hosts_finds_the_longest_sequence_starting_with_each():
    seqs = [(1, 2, 3), (1, 2), (1, 2, 3, 4), (5,), (1, 2, 3, 4), (1, 3)]
    hosts = pack_hosts(seqs)
    assert seqs[hosts[0]] == seqs[hosts[1]] == seqs[hosts[2]] == seqs[hosts[4]] == (1, 2, 3, 4)
    assert hosts[3] == 3 and hosts[5] == 5
    assert packs(seqs)
    assert not packs([(1, 2), (1, 3), (1, 2)])  # equal sequences do not pack: same work either way
    with packing(False):
        assert not packs(seqs)


def test_packed_logprobs_entropies_and_gradients_equal_the_unpacked_ones():
    model, batch = _model(), _chat_batch()
    assert len(set(pack_hosts(batch.sequence_keys()))) == 4  # three trajectories and the lone sample
    args = (batch.prompt_ids, batch.prompt_len, batch.response_ids, batch.response_len, 0)
    results = {}
    for on in (True, False):
        model.zero_grad()
        with packing(on):
            logp, ent = padded_response_logprobs(model, *args)
        (logp.sum() + 0.3 * ent.sum()).backward()
        results[on] = (logp.detach(), ent.detach(), [p.grad.clone() for p in model.parameters()])
    torch.testing.assert_close(results[True][0], results[False][0], atol=1e-5, rtol=0)
    torch.testing.assert_close(results[True][1], results[False][1], atol=1e-5, rtol=0)
    for a, b in zip(results[True][2], results[False][2]):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)
    mask = batch.response_mask(results[True][0].shape[1])
    assert bool((results[True][0] * (1 - mask) == 0).all())  # 0 past each response


def test_an_optimisation_pass_is_the_same_with_and_without_packing():
    batch = _chat_batch(trajectories=4, turns=5, seed=1)
    settings = LossSettings()
    params = {}
    for on in (True, False):
        model = _model()
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
        with packing(on):
            order = by_prompt(batch, range(len(batch)))
            optimise(model, optimizer, batch.select(order), settings, pad_id=0, mini_batch_size=8,
                     micro_batch_size=4, grad_clip=1.0)
        params[on] = copy.deepcopy(model.state_dict())
    moved = max((params[True][k] - _model().state_dict()[k]).abs().max().item() for k in params[True])
    assert moved > 1e-3
    for k in params[True]:
        torch.testing.assert_close(params[True][k], params[False][k], atol=1e-5, rtol=1e-5)


def test_shuffled_order_keeps_trajectories_together_and_is_randperm_otherwise():
    batch = _chat_batch(trajectories=3, turns=4)
    order = shuffled_order(batch, torch.Generator().manual_seed(0)).tolist()
    assert sorted(order) == list(range(len(batch)))
    hosts = pack_hosts(batch.sequence_keys())
    runs = [hosts[i] for i in order]
    assert len([h for k, h in enumerate(runs) if k == 0 or h != runs[k - 1]]) == len(set(hosts))  # contiguous
    window = TrainBatch.from_lists([[1, 2, 3], [1, 2, 4], [5]], [[7], [8], [9]])
    assert shuffled_order(window, torch.Generator().manual_seed(4)).tolist() == \
        torch.randperm(3, generator=torch.Generator().manual_seed(4)).tolist()
    with packing(False):
        assert shuffled_order(batch, torch.Generator().manual_seed(4)).tolist() == \
            torch.randperm(len(batch), generator=torch.Generator().manual_seed(4)).tolist()
    # by_prompt puts a trajectory's turns next to each other even when the order mixed them
    mixed = by_prompt(batch, [0, 4, 1, 5, 12, 2])
    assert mixed == [0, 1, 2, 4, 5, 12]
