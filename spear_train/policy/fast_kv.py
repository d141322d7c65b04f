"""The forward pass behind :class:`~spear_train.policy.fast_decode.FastGenerator`: a Qwen2 (or Llama)
model's own sub-modules run over a preallocated KV cache.

Cache layout, per layer: keys and values ``[batch, kv_heads, P + N, head_dim]`` with ``P`` the longest
prompt and ``N`` the token budget. Prompts are right-aligned (row ``i`` fills columns ``P - len_i .. P-1``)
so that the ``t``-th new token of every row lands in column ``P + t``; columns left of a row's prompt
are masked out. Positions count from each prompt's first token (what ``generate`` derives from the
attention mask under left padding): prompt token ``j`` is at position ``j``, new token ``t`` at ``len_i + t``.

Across calls (:class:`PrefixStore`): after a batch is decoded, each row's keys and values of the ids it
was fed (its prompt and the sampled tokens fed back before it stopped) can be kept; the next batch's
prefill then copies them for every prompt that *starts with* such a sequence and runs only the rest.
An append-only prompt (the ``chat`` format: turn ``k + 1``'s prompt is turn ``k``'s prompt, reply and
the new observation) thus prefills only the new observation's tokens. A store is valid for one model
and one state of its weights: it is dropped when any parameter is changed in place (an optimiser
step, ``load_state_dict``) or replaced.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from transformers.models.qwen2.modeling_qwen2 import apply_rotary_pos_emb


def weights_fingerprint(model) -> tuple:
    """Changes whenever a parameter of ``model`` is modified in place (its version counter: optimiser
    steps, ``load_state_dict``) or replaced (``.to()``, a new tensor)."""
    return (id(model),) + tuple((p.data_ptr(), p._version, p.dtype) for p in model.parameters())


class PrefixStore:
    """The keys and values of the id sequences one decoded batch was fed, for the next batch's prefill.

    ``entries`` are ``(ids, keys, values)`` with ``keys[layer]`` of shape ``[kv_heads, len(ids), head_dim]``;
    ``fingerprint`` is :func:`weights_fingerprint` of the model they were computed with.
    """

    def __init__(self, fingerprint: tuple, entries: list[tuple[tuple[int, ...], list, list]]):
        self.fingerprint = fingerprint
        self.entries = sorted(entries, key=lambda e: -len(e[0]))  # longest first
        self.tokens = sum(len(e[0]) for e in entries)

    def longest_prefix(self, prompt: tuple[int, ...]) -> tuple[int, tuple | None]:
        """``(length, entry)`` of the longest stored sequence that ``prompt`` starts with, leaving at
        least one prompt token to run (its logits are needed); ``(0, None)`` if none."""
        n = len(prompt)
        for entry in self.entries:
            ids = entry[0]
            m = len(ids)
            if m >= n or ids[-1] != prompt[m - 1] or ids[m // 2] != prompt[m // 2]:
                continue
            if prompt[:m] == ids:
                return m, entry
        return 0, None


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
        valid = (columns[None, :] >= (self.width - self.lengths)[:, None])[:, None, None, :]
        # additive mask for the decode steps: 0 where a row may attend, -inf left of its prompt
        zero = torch.zeros((), dtype=self.dtype, device=self.device)
        self.bias = torch.where(valid, zero, torch.tensor(float("-inf"), dtype=self.dtype, device=self.device))
        self.fed = 0  # new tokens fed so far
        self.rows = list(range(batch))  # the batch row of each cache row (retire() drops finished ones)
        self._entries: dict[tuple[int, ...], tuple[list, list]] = {}

    # ------------------------------------------------------------------ prefill
    def prefill(self, prompts: Sequence[Sequence[int]], store: PrefixStore | None = None) -> torch.Tensor:
        """Fill the cache for every row's prompt and return the next-token logits ``[batch, vocab]``.

        Each distinct prompt runs once (its copies get its cache rows). Distinct prompts are taken in
        sorted order, and the part a prompt shares with its predecessor (their longest common prefix,
        which in sorted order is the longest it shares with any other prompt of the batch) is not run
        again: keys and values at position ``j`` depend only on tokens ``0..j``, so the predecessor's
        are copied and only the rest of the prompt is run, attending to them. The tokens run are the
        nodes of the batch's prompt trie (the group's copies share their common history this way).
        With a ``store`` (the previous batch's sequences, same weights), a prompt that starts with a
        stored sequence longer than what it shares with its predecessor copies that sequence's keys and
        values instead.
        """
        self.prompt_ids = [tuple(int(t) for t in p) for p in prompts]
        self.prefill_tokens = 0
        rows_of: dict[tuple[int, ...], list[int]] = {}
        for row, p in enumerate(self.prompt_ids):
            rows_of.setdefault(p, []).append(row)
        plan, previous = [], None  # (prompt, rows, shared with its predecessor, stored prefix, entry)
        for prompt in sorted(rows_of):
            rows = torch.tensor(rows_of[prompt], device=self.device)
            shared = _common_prefix(prompt, previous) if previous is not None else 0
            stored, entry = store.longest_prefix(prompt) if store is not None else (0, None)
            plan.append((prompt, rows, shared, stored, entry))
            previous = prompt
        logits = None

        def put(rows, last):
            nonlocal logits
            if logits is None:
                logits = torch.empty((len(prompts), last.shape[-1]), dtype=last.dtype, device=self.device)
            logits[rows] = last

        # prompts that continue a stored sequence depend on nothing else in the batch: one batched run
        hits = [(prompt, rows, stored, entry) for prompt, rows, shared, stored, entry in plan if stored > shared]
        if hits:
            for prompt, rows, stored, entry in hits:
                self._copy_stored(entry, rows, len(prompt))
                self.prefill_tokens += len(prompt) - stored
            last = self._run_suffixes([(prompt, stored, rows) for prompt, rows, stored, _ in hits])
            for (_, rows, _, _), row_logits in zip(hits, last):
                put(rows, row_logits)
        # the rest in sorted order, each sharing its predecessor's prefix (already in the cache)
        previous = None
        for prompt, rows, shared, stored, _ in plan:
            if stored <= shared:
                if shared:
                    self._copy_prefix(rows_of[previous][0], len(previous), rows, len(prompt), shared)
                self.prefill_tokens += len(prompt) - shared
                put(rows, self._run_suffix(prompt, shared, rows))
            previous = prompt
        return logits

    def _copy_prefix(self, source_row: int, source_length: int, rows: torch.Tensor, length: int,
                     shared: int) -> None:
        """Copy the first ``shared`` positions' keys/values of ``source_row`` into ``rows``."""
        src = self.width - source_length
        dst = self.width - length
        for cache in (*self.keys, *self.values):
            cache[rows, :, dst:dst + shared] = cache[source_row, :, src:src + shared]

    def _copy_stored(self, entry: tuple, rows: torch.Tensor, length: int) -> None:
        """Copy a stored sequence's keys/values into the first ``len(ids)`` prompt positions of ``rows``."""
        ids, keys, values = entry
        dst = self.width - length
        for cache, stored in zip((*self.keys, *self.values), (*keys, *values)):
            cache[rows, :, dst:dst + len(ids)] = stored

    def _keep_entry(self, position: int, row: int, new: Sequence[int]) -> None:
        """Remember cache row ``position`` (batch row ``row``): its prompt and the first of its tokens
        ``new`` that were fed back (a row's tokens after its stop token are padding, not kept)."""
        prompt = self.prompt_ids[row]
        fed = min(self.fed, len(new))
        ids = prompt + tuple(int(t) for t in new[:fed])
        if ids in self._entries:
            return
        start, end = self.width - len(prompt), self.width + fed
        self._entries[ids] = ([k[position, :, start:end].clone() for k in self.keys],
                              [v[position, :, start:end].clone() for v in self.values])

    def retire(self, keep: Sequence[int], generated=None) -> None:
        """Keep only the cache rows at positions ``keep`` (rows that finished stop costing a forward).
        With ``generated`` (``generated(row)``: batch row ``row``'s final tokens) the rows dropped are
        remembered for :meth:`store` first."""
        kept = set(keep)
        if generated is not None:
            for position, row in enumerate(self.rows):
                if position not in kept:
                    self._keep_entry(position, row, generated(row))
        index = torch.tensor(list(keep), dtype=torch.long, device=self.device)
        self.keys = [k.index_select(0, index) for k in self.keys]
        self.values = [v.index_select(0, index) for v in self.values]
        self.lengths, self.bias = self.lengths[index], self.bias[index]
        self.rows = [self.rows[p] for p in keep]

    def store(self, generated: Sequence[Sequence[int]]) -> PrefixStore:
        """The sequences this batch was fed, by batch row (``generated[row]``: its final tokens): the rows
        still in the cache and those :meth:`retire` remembered."""
        for position, row in enumerate(self.rows):
            self._keep_entry(position, row, generated[row])
        entries = self._entries
        return PrefixStore(weights_fingerprint(self.model), [(ids, k, v) for ids, (k, v) in entries.items()])

    def _run_suffixes(self, items: list[tuple[tuple[int, ...], int, torch.Tensor]]) -> torch.Tensor:
        """Run the suffixes ``prompt[shared:]`` of several prompts in one batched forward, each over its
        own cached prefix (already in its rows); returns the logits at each prompt's last position
        ``[len(items), vocab]``.

        Prompts are right-aligned in the cache, so every suffix ends at column ``width - 1``: the
        suffixes are left-padded to the longest, ``S``, and query ``j`` of every row sits at column
        ``width - S + j``. A row's padding queries fall on its own prefix columns: their keys and values
        are not written (the cached prefix stays) and their outputs are not used.
        """
        width, count = self.width, len(items)
        reps = torch.tensor([int(rows[0]) for _, _, rows in items], device=self.device)
        suffix = torch.tensor([len(p) - shared for p, shared, _ in items], device=self.device)
        lengths = torch.tensor([len(p) for p, _, _ in items], device=self.device)
        span = int(suffix.max())
        ids = torch.zeros((count, span), dtype=torch.long, device=self.device)
        for b, (prompt, shared, _) in enumerate(items):
            ids[b, span - (len(prompt) - shared):] = torch.tensor(prompt[shared:], dtype=torch.long)
        steps = torch.arange(span, device=self.device)
        positions = (lengths[:, None] - span + steps[None, :]).clamp(min=0)
        real = steps[None, :] >= (span - suffix)[:, None]  # [count, S]: queries of suffix tokens
        first = int((width - lengths).min())  # leftmost column any row attends to
        columns = torch.arange(first, width, device=self.device)
        query_column = width - span + steps
        mask = (columns[None, None, :] >= (width - lengths)[:, None, None]) & \
            (columns[None, None, :] <= query_column[None, :, None])
        mask = mask | (~real[:, :, None] & (columns[None, None, :] == query_column[None, :, None]))
        mask = mask[:, None]  # [count, 1, S, columns]
        keep = real[:, None, :, None]

        def attend(layer, q, k, v):
            for cache, new in ((self.keys[layer], k), (self.values[layer], v)):
                cache[reps, :, width - span:width] = torch.where(keep, new, cache[reps, :, width - span:width])
            scale, gqa = self.inner.layers[layer].self_attn.scaling, self.heads != self.kv_heads
            return F.scaled_dot_product_attention(q, self.keys[layer][reps, :, first:width],
                                                  self.values[layer][reps, :, first:width],
                                                  attn_mask=mask, scale=scale, enable_gqa=gqa)

        hidden = self._forward(ids, positions, attend)
        for (prompt, _, rows) in items:  # copies of a prompt get its row's keys and values
            if len(rows) > 1:
                start = width - len(prompt)
                for cache in (*self.keys, *self.values):
                    cache[rows[1:], :, start:width] = cache[rows[0], :, start:width]
        return self.model.lm_head(self.inner.norm(hidden[:, -1]))

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
        """Feed one token per cache row (``[rows]``, in :attr:`rows` order) and return the next-token
        logits ``[rows, vocab]``."""
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
