"""The forward pass behind :class:`~spear_train.policy.fast_decode.FastGenerator`: a Qwen2 (or Llama)
model's own sub-modules run over a preallocated KV cache.

Cache layout, per layer: keys and values ``[batch, kv_heads, P + N, head_dim]`` with ``P`` the longest
prompt and ``N`` the token budget. Prompts are right-aligned (row ``i`` fills columns ``P - len_i .. P-1``)
so that the ``t``-th new token of every row lands in column ``P + t``; columns left of a row's prompt
are masked out. Positions count from each prompt's first token (what ``generate`` derives from the
attention mask under left padding): prompt token ``j`` is at position ``j``, new token ``t`` at ``len_i + t``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from transformers.models.qwen2.modeling_qwen2 import apply_rotary_pos_emb


class KVDecoder:
    """One batch's decoding state: the static cache, the attention mask and the rows' positions.

    Args:
        model: a Qwen2 or Llama causal LM (see :func:`~spear_train.policy.fast_decode.supports`).
        prompt_lengths: tokens per row's prompt.
        max_new_tokens: the most tokens any row will be fed after its prompt.
    """

    def __init__(self, model, prompt_lengths: Sequence[int], max_new_tokens: int):
        self.model, self.inner = model, model.model
        param = next(model.parameters())
        self.device, self.dtype = param.device, param.dtype
        config = model.config
        self.heads = config.num_attention_heads
        self.kv_heads = config.num_key_value_heads
        self.head_dim = getattr(config, "head_dim", None) or config.hidden_size // self.heads
        self.lengths = torch.tensor(list(prompt_lengths), device=self.device)
        self.width = int(self.lengths.max())
        batch, total = len(prompt_lengths), self.width + max_new_tokens
        shape = (batch, self.kv_heads, total, self.head_dim)
        self.keys = [torch.zeros(shape, dtype=self.dtype, device=self.device) for _ in self.inner.layers]
        self.values = [torch.zeros(shape, dtype=self.dtype, device=self.device) for _ in self.inner.layers]
        columns = torch.arange(total, device=self.device)
        self.valid = (columns[None, :] >= (self.width - self.lengths)[:, None])[:, None, None, :]
        # additive form of `valid` for the decode steps: 0 where a row may attend, -inf left of its prompt
        zero = torch.zeros((), dtype=self.dtype, device=self.device)
        self.bias = torch.where(self.valid, zero, torch.tensor(float("-inf"), dtype=self.dtype, device=self.device))
        self.fed = 0  # new tokens fed so far

    # ------------------------------------------------------------------ prefill
    def prefill(self, prompts: Sequence[Sequence[int]]) -> torch.Tensor:
        """Fill the cache for every row's prompt and return the next-token logits ``[batch, vocab]``.

        Each distinct prompt runs once (its copies get its cache rows). Distinct prompts are taken in
        sorted order, and the part a prompt shares with its predecessor (their longest common prefix,
        which in sorted order is the longest it shares with any other prompt of the batch) is not run
        again: keys and values at position ``j`` depend only on tokens ``0..j``, so the predecessor's
        are copied and only the rest of the prompt is run, attending to them. The tokens run are the
        nodes of the batch's prompt trie (the group's copies share their common history this way).
        """
        rows_of: dict[tuple[int, ...], list[int]] = {}
        for row, p in enumerate(prompts):
            rows_of.setdefault(tuple(int(t) for t in p), []).append(row)
        logits, previous = None, None
        for prompt in sorted(rows_of):
            rows = torch.tensor(rows_of[prompt], device=self.device)
            shared = _common_prefix(prompt, previous) if previous is not None else 0
            if shared:
                self._copy_prefix(rows_of[previous][0], len(previous), rows, len(prompt), shared)
            last = self._run_suffix(prompt, shared, rows)
            if logits is None:
                logits = torch.empty((len(prompts), last.shape[-1]), dtype=last.dtype, device=self.device)
            logits[rows] = last
            previous = prompt
        return logits

    def _copy_prefix(self, source_row: int, source_length: int, rows: torch.Tensor, length: int,
                     shared: int) -> None:
        """Copy the first ``shared`` positions' keys/values of ``source_row`` into ``rows``."""
        src = self.width - source_length
        dst = self.width - length
        for cache in (*self.keys, *self.values):
            cache[rows, :, dst:dst + shared] = cache[source_row, :, src:src + shared]

    def _run_suffix(self, prompt: tuple[int, ...], shared: int, rows: torch.Tensor) -> torch.Tensor:
        """Run ``prompt[shared:]`` over the cached prefix (already in ``rows``), store its keys/values in
        ``rows`` and return the logits at the prompt's last position ``[vocab]``."""
        length, row = len(prompt), int(rows[0])
        start = self.width - length
        ids = torch.tensor([prompt[shared:]], dtype=torch.long, device=self.device)
        positions = torch.arange(shared, length, device=self.device)[None, :]
        mask = None
        if shared:
            suffix = length - shared
            mask = torch.ones((suffix, length), dtype=torch.bool, device=self.device)
            mask[:, shared:] = torch.ones((suffix, suffix), dtype=torch.bool, device=self.device).tril()

        def attend(layer, q, k, v):
            keys, values = self.keys[layer], self.values[layer]
            keys[rows, :, start + shared:self.width] = k[0]
            values[rows, :, start + shared:self.width] = v[0]
            scale, gqa = self.inner.layers[layer].self_attn.scaling, self.heads != self.kv_heads
            if mask is None:
                return F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=scale, enable_gqa=gqa)
            end = self.width
            return F.scaled_dot_product_attention(q, keys[row:row + 1, :, start:end], values[row:row + 1, :, start:end],
                                                  attn_mask=mask, scale=scale, enable_gqa=gqa)

        hidden = self._forward(ids, positions, attend)
        return self.model.lm_head(self.inner.norm(hidden[0, -1]))

    # ------------------------------------------------------------------ one token for every row
    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        """Feed one token per row (``[batch]``) and return the next-token logits ``[batch, vocab]``."""
        column = self.width + self.fed
        positions = (self.lengths + self.fed)[:, None]
        bias = self.bias[..., : column + 1]  # [batch, 1, 1, columns]
        batch, group = tokens.shape[0], self.heads // self.kv_heads

        def attend(layer, q, k, v):
            # one query per row: plain matmuls over the cache, each kv head serving its `group` query heads
            # (the grouping of repeat_kv / enable_gqa); sdpa's CPU path is ~10x slower at this shape
            self.keys[layer][:, :, column] = k[:, :, 0]
            self.values[layer][:, :, column] = v[:, :, 0]
            keys, values = self.keys[layer][:, :, : column + 1], self.values[layer][:, :, : column + 1]
            grouped = q.reshape(batch, self.kv_heads, group, self.head_dim)
            scores = torch.matmul(grouped, keys.transpose(-1, -2)) * self.inner.layers[layer].self_attn.scaling
            weights = torch.softmax(scores + bias, dim=-1)
            return torch.matmul(weights, values).reshape(batch, self.heads, 1, self.head_dim)

        hidden = self._forward(tokens[:, None].to(self.device), positions, attend)
        self.fed += 1
        return self.model.lm_head(self.inner.norm(hidden[:, -1]))

    # ------------------------------------------------------------------ the model's layers
    def _forward(self, ids: torch.Tensor, positions: torch.Tensor, attend) -> torch.Tensor:
        """Hidden states after the last decoder layer (before the final norm); ``attend(layer, q, k, v)``
        returns the attention output ``[batch, heads, tokens, head_dim]`` (and keeps the keys/values)."""
        hidden = self.inner.embed_tokens(ids)
        cos, sin = self.inner.rotary_emb(hidden, positions)
        for index, layer in enumerate(self.inner.layers):
            attn = layer.self_attn
            x = layer.input_layernorm(hidden)
            shape = (*x.shape[:-1], -1, self.head_dim)
            q = attn.q_proj(x).view(shape).transpose(1, 2)
            k = attn.k_proj(x).view(shape).transpose(1, 2)
            v = attn.v_proj(x).view(shape).transpose(1, 2)
            q, k = apply_rotary_pos_emb(q, k, cos, sin)
            out = attend(index, q, k, v).transpose(1, 2).reshape(*x.shape[:-1], -1)
            hidden = hidden + attn.o_proj(out)
            hidden = hidden + layer.mlp(layer.post_attention_layernorm(hidden))
        return hidden


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """Length of the longest common prefix of two id sequences."""
    n = min(len(a), len(b))
    for k in range(n):
        if a[k] != b[k]:
            return k
    return n
