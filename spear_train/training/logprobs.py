"""Token log-probabilities and entropies of response tokens, for a batch of (prompt, response) id lists.

Sequences are right-padded into one ``[B, T]`` batch (positions of real tokens are therefore 0..n-1,
the same as when the policy generated them). When samples share a prompt (a GRPO group's first turn,
every math sample), each distinct prompt runs through the decoder once and its KV cache is copied to
the samples, so a group of ``n`` pays for its prompt once instead of ``n`` times. The LM head is
applied only at the positions that predict response tokens, so a large vocabulary costs nothing for
prompt tokens.

Packing: when a sample's whole sequence (prompt and response) is a prefix of another sample's sequence,
as with the turns of one trajectory under an append-only (``chat``) prompt, where turn ``k``'s prompt
and reply begin turn ``k + 1``'s prompt, only the longest sequence of each such family (its *host*,
:func:`pack_hosts`) runs through the decoder; every sample reads its response positions from its
host's hidden states. Causal attention makes position ``j``'s state depend on tokens ``0..j`` only, so
this equals running each sample alone (up to float rounding), and gradients flow to each sample's terms.

Outputs are ``[B, R]`` tensors with ``R = max response length`` in the batch; positions past a
sample's response are 0 and must be masked by the caller (:func:`response_mask` gives that mask).
"""

from __future__ import annotations

import contextlib
import inspect

import torch
import torch.nn.functional as F

from spear_train.algorithms.policy_loss import entropy_from_log_probs
from spear_train.policy.loading import activation_checkpointing_on


def pad_batch(prompts: list[list[int]], responses: list[list[int]], pad_id: int,
              device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(input_ids [B,T], attention_mask [B,T], response_index [B,R])`` of id lists (see :func:`join_padded`)."""
    if len(prompts) != len(responses):
        raise ValueError(f"{len(prompts)} prompts but {len(responses)} responses")
    return join_padded(*_padded(prompts), *_padded(responses), pad_id, device)


def join_padded(prompt_ids: torch.Tensor, prompt_len: torch.Tensor, response_ids: torch.Tensor,
                response_len: torch.Tensor, pad_id: int, device: torch.device | str = "cpu"
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(input_ids [B,T], attention_mask [B,T], response_index [B,R])`` of right-padded prompts and responses.

    Row ``b`` is ``prompt + response`` then ``pad_id``; ``T`` the longest ``prompt_len + response_len``.
    ``response_index[b, k]`` is the position whose logits predict response token ``k`` of sample ``b``
    (``prompt_len - 1 + k``); past the response it repeats position 0 (masked later).
    """
    if bool((prompt_len <= 0).any()):
        raise ValueError("every prompt needs at least one token")
    plen, rlen = prompt_len.tolist(), response_len.tolist()
    width, resp_width = max(p + r for p, r in zip(plen, rlen)), max(rlen)
    ids = torch.full((len(plen), width), pad_id, dtype=torch.long)
    attn = torch.zeros((len(plen), width), dtype=torch.long)
    index = torch.zeros((len(plen), max(resp_width, 1)), dtype=torch.long)
    for b, (p, r) in enumerate(zip(plen, rlen)):
        ids[b, :p] = prompt_ids[b, :p]
        ids[b, p:p + r] = response_ids[b, :r]
        attn[b, : p + r] = 1
        index[b, :r] = torch.arange(p - 1, p - 1 + r)
    return ids.to(device), attn.to(device), index.to(device)


def response_mask(responses: list[list[int]], device: torch.device | str = "cpu") -> torch.Tensor:
    """``[B, R]`` float mask: 1 on the real response tokens of each sample."""
    return length_mask(torch.tensor([len(r) for r in responses], dtype=torch.long), device)


def length_mask(lengths: torch.Tensor, device: torch.device | str = "cpu") -> torch.Tensor:
    """``[B, max(1, longest)]`` float mask: 1 on the first ``lengths[b]`` positions of row ``b``."""
    width = max(int(lengths.max()) if lengths.numel() else 1, 1)
    return (torch.arange(width).unsqueeze(0) < lengths.unsqueeze(-1)).float().to(device)


def _padded(rows: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Id lists as ``(ids [B, max(1, longest)] right-padded with 0, lengths [B])``."""
    width = max(max((len(r) for r in rows), default=1), 1)
    ids = torch.zeros((len(rows), width), dtype=torch.long)
    for b, r in enumerate(rows):
        ids[b, : len(r)] = torch.tensor(r, dtype=torch.long)
    return ids, torch.tensor([len(r) for r in rows], dtype=torch.long)


def response_logprobs(model: torch.nn.Module, prompts: list[list[int]], responses: list[list[int]], pad_id: int,
                      temperature: float = 1.0, with_entropy: bool = True
                      ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """:func:`padded_response_logprobs` of id lists."""
    if len(prompts) != len(responses):
        raise ValueError(f"{len(prompts)} prompts but {len(responses)} responses")
    return padded_response_logprobs(model, *_padded(prompts), *_padded(responses), pad_id, temperature,
                                    with_entropy)


def padded_response_logprobs(model: torch.nn.Module, prompt_ids: torch.Tensor, prompt_len: torch.Tensor,
                             response_ids: torch.Tensor, response_len: torch.Tensor, pad_id: int,
                             temperature: float = 1.0, with_entropy: bool = True
                             ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``(logp [B,R], entropy [B,R] or None)`` of each response token under ``model``, from right-padded
    ids and their lengths (:class:`~spear_train.training.train_batch.TrainBatch`'s layout).

    ``logp[b,k] = log softmax(logits / temperature)[response[b][k]]`` at the position predicting it;
    ``entropy`` is the entropy of that full softmax (nats, :func:`entropy_from_log_probs`). Gradients flow
    unless called under ``torch.no_grad()``. Values past each response are 0; ``R = max(1, longest)``.
    """
    device = next(model.parameters()).device
    keys = [tuple(row[:n].tolist()) for row, n in zip(prompt_ids, prompt_len.tolist())]
    sequences = [k + tuple(row[:n].tolist()) for k, row, n in zip(keys, response_ids, response_len.tolist())]
    if (hosts := packed_hosts(sequences)) is not None:  # some sample's sequence is a strict prefix of another's
        picked = _packed_hidden(model, sequences, hosts, prompt_len, response_len, device)
        index = torch.zeros(picked.shape[:2], dtype=torch.long, device=device)
    elif len(set(keys)) < len(keys) and _can_share_prefix(model):
        picked = _shared_prompt_hidden(model, keys, prompt_ids, response_ids, response_len, pad_id, device)
        index = torch.zeros(picked.shape[:2], dtype=torch.long, device=device)
    else:
        ids, attn, index = join_padded(prompt_ids, prompt_len, response_ids, response_len, pad_id, device)
        hidden = model.get_decoder()(input_ids=ids, attention_mask=attn).last_hidden_state  # [B,T,H]
        picked = torch.gather(hidden, 1, index.unsqueeze(-1).expand(-1, -1, hidden.shape[-1]))  # [B,R,H]
    logits = model.get_output_embeddings()(picked).float() / temperature  # [B,R,V]
    logsm = F.log_softmax(logits, dim=-1)
    mask = length_mask(response_len, device)[:, : index.shape[1]]
    width = min(response_ids.shape[1], index.shape[1])
    targets = torch.zeros_like(index)
    targets[:, :width] = response_ids[:, :width].to(device) * mask[:, :width].long()
    logp = torch.gather(logsm, -1, targets.unsqueeze(-1)).squeeze(-1) * mask
    entropy = None
    if with_entropy:
        entropy = entropy_from_log_probs(logsm) * mask
    return logp, entropy


_PACKING = [True]


@contextlib.contextmanager
def packing(enabled: bool):
    """Switch packing on or off inside the block (the reference path of ``benchmarks/laptop_speed.py``
    and the tests that compare both)."""
    previous = _PACKING[0]
    _PACKING[0] = enabled
    try:
        yield
    finally:
        _PACKING[0] = previous


def packed_hosts(sequences: list[tuple[int, ...]]) -> list[int] | None:
    """:func:`pack_hosts` of ``sequences`` when packing is on and some sequence is a strict prefix of
    another (packing saves a forward); ``None`` otherwise."""
    if not _PACKING[0]:
        return None
    hosts = pack_hosts(sequences)
    return hosts if len(set(hosts)) < len(set(sequences)) else None


def packs(sequences: list[tuple[int, ...]]) -> bool:
    """True when :func:`packed_hosts` would pack ``sequences``."""
    return packed_hosts(sequences) is not None


def pack_hosts(sequences: list[tuple[int, ...]]) -> list[int]:
    """For each sequence, the index of its *host*: the longest sequence of the list that starts with it
    (itself when none does). Sequences are taken longest first; a sequence joins the first host taken
    that starts with it, else becomes a host."""
    order = sorted(range(len(sequences)), key=lambda b: -len(sequences[b]))
    hosts: list[int] = []
    host_of = [0] * len(sequences)
    for b in order:
        seq, n = sequences[b], len(sequences[b])
        host_of[b] = next((h for h in hosts if _starts_with(sequences[h], seq, n)), b)
        if host_of[b] == b:
            hosts.append(b)
    return host_of


def _starts_with(host: tuple[int, ...], seq: tuple[int, ...], n: int) -> bool:
    """``host[:n] == seq`` (``n = len(seq) >= 1``), rejecting most non-prefixes on two tokens first."""
    return host[n - 1] == seq[-1] and host[n // 2] == seq[n // 2] and host[:n] == seq


def _packed_hidden(model: torch.nn.Module, sequences: list[tuple[int, ...]], hosts: list[int],
                   prompt_len: torch.Tensor, response_len: torch.Tensor, device) -> torch.Tensor:
    """``[B, R, H]`` decoder states at the positions predicting each response token, from one forward
    per host (:func:`pack_hosts`): sample ``b``'s response token ``k`` is predicted at position
    ``prompt_len[b] - 1 + k`` of its host's sequence, which starts with sample ``b``'s."""
    distinct = list(dict.fromkeys(hosts))
    decoder = model.get_decoder()
    # each host alone: no padding, so attention runs without a mask (the causal kernel, ~2x faster on CPU)
    states, offset = [], {}
    total = 0
    for h in distinct:
        ids = torch.tensor([sequences[h]], dtype=torch.long, device=device)
        states.append(decoder(input_ids=ids).last_hidden_state[0])
        offset[h] = total
        total += len(sequences[h])
    hidden = torch.cat(states, dim=0)  # [sum of host lengths, H]
    resp_width = max(int(response_len.max()), 1)
    steps = torch.arange(resp_width)
    positions = prompt_len[:, None] - 1 + steps[None, :]
    positions = torch.where(steps[None, :] < response_len[:, None], positions, torch.zeros_like(positions))
    flat = torch.tensor([offset[h] for h in hosts])[:, None] + positions  # [B, R]
    return hidden[flat.to(device)]


def _can_share_prefix(model: torch.nn.Module) -> bool:
    """Prefix sharing needs the KV cache, which gradient checkpointing switches off while training."""
    return not (activation_checkpointing_on(model) and model.training)


def _cache_name(decoder: torch.nn.Module) -> str:
    """The decoder's KV-cache argument and output field: ``cache`` (transformers >= 5.2x) or
    ``past_key_values`` (earlier)."""
    return "cache" if "cache" in inspect.signature(decoder.forward).parameters else "past_key_values"


def _shared_prompt_hidden(model: torch.nn.Module, keys: list[tuple[int, ...]], prompt_ids: torch.Tensor,
                          response_ids: torch.Tensor, response_len: torch.Tensor, pad_id: int, device) -> torch.Tensor:
    """``[B, R, H]`` decoder states at the positions predicting each response token, running each
    distinct prompt (``keys``: each sample's prompt ids) through the decoder once (GRPO groups share their prompt).

    The distinct prompts (right-padded) fill a KV cache; its rows are copied to the samples (an indexing
    op, so gradients of every sample flow back into the one prompt pass); then the responses run on top
    with explicit positions ``len(prompt) + k`` and an attention mask that hides the prompt padding. The
    result equals the unshared forward's up to float rounding.
    """
    first = {k: b for b, k in reversed(list(enumerate(keys)))}  # a sample holding each distinct prompt
    slot = {k: i for i, k in enumerate(dict.fromkeys(keys))}
    unique = list(slot)
    which = torch.tensor([slot[k] for k in keys], device=device)
    plen = torch.tensor([len(p) for p in unique], device=device)
    width = int(plen.max())
    p_ids = torch.full((len(unique), width), pad_id, dtype=torch.long)
    p_attn = torch.zeros((len(unique), width), dtype=torch.long)
    for u, p in enumerate(unique):
        p_ids[u, : len(p)] = prompt_ids[first[p], : len(p)]
        p_attn[u, : len(p)] = 1
    p_ids, p_attn = p_ids.to(device), p_attn.to(device)
    decoder = model.get_decoder()
    out = decoder(input_ids=p_ids, attention_mask=p_attn, use_cache=True)
    last = out.last_hidden_state[torch.arange(len(unique), device=device), plen - 1]  # [U,H]
    first = last[which].unsqueeze(1)  # [B,1,H]: predicts response token 0
    steps = max(int(response_len.max()), 1) - 1  # response tokens that are inputs
    if steps == 0:
        return first
    name = _cache_name(decoder)
    cache = getattr(out, name)
    cache.batch_select_indices(which)
    r_ids = torch.full((len(keys), steps), pad_id, dtype=torch.long)
    r_attn = torch.zeros((len(keys), steps), dtype=torch.long)
    for b, n in enumerate(response_len.tolist()):
        n = min(n, steps)
        r_ids[b, :n] = response_ids[b, :n]
        r_attn[b, :n] = 1
    r_ids, r_attn = r_ids.to(device), r_attn.to(device)
    positions = plen[which].unsqueeze(1) + torch.arange(steps, device=device)
    hidden = decoder(input_ids=r_ids, attention_mask=torch.cat([p_attn[which], r_attn], dim=1),
                     position_ids=positions, use_cache=True, **{name: cache}).last_hidden_state
    return torch.cat([first, hidden], dim=1)  # [B,R,H]
