"""A decoding loop for small Qwen2/Llama models that skips ``generate``'s per-token machinery.

:class:`FastGenerator` implements the :class:`~spear_train.policy.generation.Generator` interface and
samples the same way as :class:`~spear_train.policy.generation.HFGenerator` (the reference):

* every step runs one batched forward for all rows over a preallocated (static) KV cache, with the
  model's own sub-modules (embedding, RMSNorms, projections, MLPs, rotary embedding), so the arithmetic
  is the model's; only the attention call and the cache are ours;
* the scores are processed in ``generate``'s order: the admissible-trie mask, then temperature, top-k,
  top-p (``transformers``' own warpers), then ``probs = softmax(scores)`` and **one**
  ``torch.multinomial(probs, 1)`` over the whole batch per step (finished rows included, their token
  replaced by the pad id), inside the same seeded RNG fork. The torch RNG is therefore consumed exactly
  as by the reference, and for the same seed both paths sample the same ids (up to float rounding of
  the logits, ~1e-6, which can flip a draw only when two candidates tie to that precision);
* rows that finished leave the cache: once at most half of the cached rows are still generating,
  :meth:`~spear_train.policy.fast_kv.KVDecoder.retire` keeps only those (one copy of the cache, so at
  most twice the rows ever run), and a finished row's probabilities in the batch's multinomial are a
  certain pad. On CPU a row's draw depends only on its own probabilities (one uniform per row, in row
  order; tested), so the live rows still draw what the reference draws;
* log-probs are ``log_softmax(processed scores)`` at the sampled ids, as in the reference.

What is faster: no ``generate`` bookkeeping per token, no ``DynamicCache`` growth, trie walks advance one
node per token instead of re-walking every prefix, prompts are prefilled without padding (a short prompt
does not pay for the longest one), identical prompts (a group's copies on their first turn) run once,
and a prompt's prefix shared with another prompt of the batch (copies whose histories agree so far, the
common instructions) runs once too: the batch's prefill costs the nodes of its prompt trie
(:meth:`~spear_train.policy.fast_kv.KVDecoder.prefill`). With ``reuse_prefixes`` (the default) the
keys and values of the previous call's rows are kept (:class:`~spear_train.policy.fast_kv.PrefixStore`),
so a prompt that continues one of them (an append-only ``chat`` prompt: the previous turn's prompt and
reply, then the new observation) runs only its new tokens; the store is dropped when the weights change.

Supported models (:func:`supports`): ``transformers`` Qwen2 and Llama causal LMs (the same decoder
layout) without sliding-window attention and with the default rotary embedding, such as the shipped tiny
policies (:mod:`spear_train.models.tiny_model`, Qwen2) and SmolLM2-135M (Llama). Other models use
:class:`HFGenerator`; :func:`make_generator` picks one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from spear_train.policy.constrained import TokenTrie
from spear_train.policy.generation import (
    Generation, GenerationBatch, HFGenerator, ModelGenerator, SamplingConfig, stop_length,
)

BACKENDS = ("auto", "fast", "hf")


#: ``model_type`` values whose decoder layers :mod:`spear_train.policy.fast_kv` runs (same module layout).
SUPPORTED_MODEL_TYPES = ("qwen2", "llama")


def supports(model) -> bool:
    """True when :class:`FastGenerator` can decode ``model`` (a plain Qwen2 or Llama causal LM)."""
    config = getattr(model, "config", None)
    if getattr(config, "model_type", None) not in SUPPORTED_MODEL_TYPES:
        return False
    if getattr(config, "use_sliding_window", False):
        return False
    rope = getattr(config, "rope_parameters", None) or {}
    if rope.get("rope_type", "default") != "default":
        return False
    inner = getattr(model, "model", None)
    return all(hasattr(inner, name) for name in ("embed_tokens", "layers", "norm", "rotary_emb")) \
        and hasattr(model, "lm_head")


def make_generator(model, tokenizer, backend: str = "auto", stop_ids: Sequence[int] | None = None):
    """The generation backend for ``backend``: ``hf`` (the reference ``generate``), ``fast``
    (:class:`FastGenerator`; an error for a model it does not support) or ``auto`` (fast where supported)."""
    if backend not in BACKENDS:
        raise ValueError(f"decode backend must be one of {list(BACKENDS)}, got {backend!r}")
    if backend == "hf" or (backend == "auto" and not supports(model)):
        return HFGenerator(model, tokenizer, stop_ids)
    if not supports(model):
        raise ValueError(f"the fast decoder supports plain Qwen2 and Llama causal LMs; {type(model).__name__} "
                         f"({getattr(model.config, 'model_type', '?')}) needs decode backend 'hf'")
    return FastGenerator(model, tokenizer, stop_ids)


class _TrieCursor:
    """A row's position in its admissible trie, advanced one token at a time."""

    def __init__(self, trie: TokenTrie, fallback_id: int):
        self.node: dict | None = trie.root
        self.fallback_id = fallback_id

    def allowed(self) -> list[int]:
        return list(self.node) if self.node else [self.fallback_id]

    def advance(self, token: int) -> None:
        self.node = self.node.get(token) if self.node is not None else None


class FastGenerator(ModelGenerator):
    """Static-KV-cache batched decoding for Qwen2 and Llama models (see the module docstring).

    Args:
        model: a Qwen2 or Llama causal LM (the trainer's own; decoding runs under ``no_grad`` and
            restores the train/eval mode).
        tokenizer: its tokenizer (pad and stop ids).
        stop_ids: ids that end a response (default :func:`~spear_train.policy.generation.stop_token_ids`).
        reuse_prefixes: keep the previous call's keys and values for prompts that continue its rows.

    ``prefill_tokens`` counts the prompt tokens run through the model so far (the rest were shared or reused).
    """

    def __init__(self, model, tokenizer, stop_ids: Sequence[int] | None = None, reuse_prefixes: bool = True):
        if not supports(model):
            raise ValueError(f"FastGenerator supports plain Qwen2 and Llama causal LMs, not {type(model).__name__}")
        super().__init__(model, tokenizer, stop_ids)
        self.reuse_prefixes = reuse_prefixes
        self._store = None
        self.prefill_tokens = 0

    def update_weights(self, model: torch.nn.Module) -> None:
        super().update_weights(model)
        self._store = None

    @torch.no_grad()
    def generate(self, prompts: Sequence[Sequence[int]], sampling: SamplingConfig,
                 tries: Sequence[TokenTrie | None] | None = None, seed: int | None = None) -> GenerationBatch:
        """Sample one response per prompt (same contract and RNG use as ``HFGenerator.generate``)."""
        constrained = tries is not None and any(t is not None for t in tries)
        if not prompts:
            return GenerationBatch([], sampling.describe(constrained))
        if any(len(p) == 0 for p in prompts):
            raise ValueError("every prompt needs at least one token")
        if tries is not None and len(tries) != len(prompts):
            raise ValueError(f"{len(tries)} tries for {len(prompts)} prompts: pass one per prompt (or None)")
        was_training = self.model.training
        self.model.eval()
        rng = torch.random.fork_rng(devices=[]) if seed is not None else contextlib.nullcontext()
        try:
            with rng:
                if seed is not None:
                    torch.manual_seed(seed)
                ids, logprobs = self._decode(prompts, sampling, tries if constrained else None)
        finally:
            self.model.train(was_training)
        stops = set(self.stop_ids)
        generations = []
        for row_ids, row_lp in zip(ids, logprobs):
            end = stop_length(row_ids, stops)
            finished = end is not None
            end = end if finished else len(row_ids)
            generations.append(Generation(row_ids[:end], row_lp[:end], finished))
        return GenerationBatch(generations, sampling.describe(constrained))

    # ------------------------------------------------------------------ the decoding loop
    def _decode(self, prompts, sampling: SamplingConfig, tries):
        from spear_train.policy.fast_kv import KVDecoder, weights_fingerprint

        batch = len(prompts)
        decoder = KVDecoder(self.model, [len(p) for p in prompts], sampling.max_new_tokens)
        store = self._store
        if store is not None and store.fingerprint != weights_fingerprint(self.model):
            store = self._store = None  # the weights changed since: the stored keys and values are stale
        logits = decoder.prefill(prompts, store)  # (batch, vocab) at each prompt's last position
        self.prefill_tokens += decoder.prefill_tokens
        warpers = _warpers(sampling)
        cursors = [_TrieCursor(t, self.stop_ids[0]) if t is not None else None for t in (tries or [None] * batch)]
        stop_tensor = torch.tensor(self.stop_ids, device=logits.device)
        unfinished = torch.ones(batch, dtype=torch.long, device=logits.device)
        tokens, chosen = [], []
        greedy = sampling.temperature == 0
        for step in range(sampling.max_new_tokens):
            rows = torch.tensor(decoder.rows, device=logits.device)  # the rows still in the cache
            scores = logits.to(copy=True, dtype=torch.float32)
            if tries is not None:
                scores = _mask(scores, [cursors[r] for r in decoder.rows])
            for warp in warpers:
                scores = warp(None, scores)
            if greedy:
                picked = torch.argmax(scores, dim=-1)
            else:
                # one multinomial over the whole batch, as the reference draws it. A row's draw depends on its
                # own probabilities only, so rows that left the cache (finished) take a certain pad.
                probs = torch.zeros((batch, scores.shape[-1]), dtype=scores.dtype, device=scores.device)
                probs[:, self.pad_id] = 1.0
                probs[rows] = F.softmax(scores, dim=-1)
                picked = torch.multinomial(probs, num_samples=1).squeeze(1)[rows]
            nxt = torch.full((batch,), self.pad_id, dtype=torch.long, device=logits.device)
            nxt[rows] = picked
            nxt = nxt * unfinished + self.pad_id * (1 - unfinished)
            lp = torch.zeros(batch, dtype=torch.float32, device=logits.device)
            lp[rows] = torch.log_softmax(scores, dim=-1).gather(-1, picked[:, None]).squeeze(-1)
            tokens.append(nxt)
            chosen.append(lp)
            unfinished = unfinished & ~torch.isin(nxt, stop_tensor)
            if tries is not None:
                for cursor, tok in zip(cursors, nxt.tolist()):
                    if cursor is not None:
                        cursor.advance(tok)
            if not bool(unfinished.any()) or step + 1 == sampling.max_new_tokens:
                break
            live = [p for p, r in enumerate(decoder.rows) if unfinished[r]]
            if len(live) <= len(decoder.rows) // 2:  # halve the rows a forward runs (amortised copies)
                decoder.retire(live, self._final_tokens(tokens) if self.reuse_prefixes else None)
            logits = decoder.step(nxt[torch.tensor(decoder.rows, device=nxt.device)])
        ids = torch.stack(tokens, dim=1).cpu().tolist()
        lps = torch.stack(chosen, dim=1).float().cpu().tolist()
        if self.reuse_prefixes:
            stops = set(self.stop_ids)
            self._store = decoder.store([row[:stop_length(row, stops) or len(row)] for row in ids])
        return ids, lps

    def _final_tokens(self, tokens: list[torch.Tensor]):
        """``row -> its tokens up to its stop token`` for rows that finished (read when they are retired)."""
        stops = set(self.stop_ids)

        def final(row: int) -> list[int]:
            ids = [int(t[row]) for t in tokens]
            return ids[:stop_length(ids, stops) or len(ids)]

        return final


def _mask(scores: torch.Tensor, cursors: list[_TrieCursor | None]) -> torch.Tensor:
    """Scores outside each constrained row's trie set to ``-inf`` (rows without a trie left free)."""
    keep = torch.zeros_like(scores, dtype=torch.bool)
    for row, cursor in enumerate(cursors):
        if cursor is None:
            keep[row] = True
        else:
            keep[row, cursor.allowed()] = True
    return scores.masked_fill(~keep, float("-inf"))


def _warpers(sampling: SamplingConfig) -> list:
    """``generate``'s sampling warpers for ``sampling``, in its order (temperature, top-k, top-p)."""
    from transformers import TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

    if sampling.temperature == 0:
        return []
    warpers = []
    if sampling.temperature != 1.0:
        warpers.append(TemperatureLogitsWarper(sampling.temperature))
    if sampling.top_k:
        warpers.append(TopKLogitsWarper(top_k=sampling.top_k, min_tokens_to_keep=1))
    if sampling.top_p < 1.0:
        warpers.append(TopPLogitsWarper(top_p=sampling.top_p, min_tokens_to_keep=1))
    return warpers
