"""The built-in tiny policy's architecture: a ~1M-parameter Qwen2-style causal LM (docs/models.md, 'The tiny policy').

The shape is fixed in code (:class:`TinyModelShape`); only the vocabulary comes from the env's tokenizer.
Initialisation is deterministic: the same shape, vocabulary and seed give bit-identical weights.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from transformers import PreTrainedTokenizerBase, Qwen2Config, Qwen2ForCausalLM


@dataclass(frozen=True)
class TinyModelShape:
    """Architecture of the tiny policy. Defaults: the measured 1M model (128/4/4/2/512, tied embeddings)."""

    hidden_size: int = 128
    num_hidden_layers: int = 4
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    intermediate_size: int = 512
    max_position_embeddings: int = 2048
    rope_theta: float = 10_000.0
    tie_word_embeddings: bool = True

    def to_dict(self) -> dict:
        return asdict(self)


def tiny_config(tokenizer: PreTrainedTokenizerBase, shape: TinyModelShape = TinyModelShape()) -> Qwen2Config:
    """A ``Qwen2Config`` for ``shape`` sized to ``tokenizer`` (vocabulary and special-token ids)."""
    return Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=shape.hidden_size,
        num_hidden_layers=shape.num_hidden_layers,
        num_attention_heads=shape.num_attention_heads,
        num_key_value_heads=shape.num_key_value_heads,
        intermediate_size=shape.intermediate_size,
        max_position_embeddings=shape.max_position_embeddings,
        rope_theta=shape.rope_theta,
        tie_word_embeddings=shape.tie_word_embeddings,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        use_cache=True,
    )


def build_tiny_model(
    tokenizer: PreTrainedTokenizerBase, shape: TinyModelShape = TinyModelShape(), seed: int = 0
) -> Qwen2ForCausalLM:
    """A freshly initialised tiny policy (fp32, eval mode) for ``tokenizer``; deterministic in ``seed``.

    The global torch RNG is left as it was.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Qwen2ForCausalLM(tiny_config(tokenizer, shape))
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    return model.eval()


def count_parameters(model: torch.nn.Module) -> int:
    """Number of distinct parameters (tied embeddings counted once)."""
    return sum(p.numel() for p in model.parameters())
