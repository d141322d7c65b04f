from __future__ import annotations

import torch

from spear_train.models.tiny_model import TinyModelShape, build_tiny_model, count_parameters


def test_init_is_deterministic_and_seeded(game_tokenizer):
    a, b = build_tiny_model(game_tokenizer, seed=0), build_tiny_model(game_tokenizer, seed=0)
    c = build_tiny_model(game_tokenizer, seed=1)
    for (name, pa), pb, pc in zip(a.named_parameters(), b.parameters(), c.parameters()):
        assert torch.equal(pa, pb), name
    assert any(not torch.equal(pa, pc) for pa, pc in zip(a.parameters(), c.parameters()))


def test_init_leaves_global_rng_alone(game_tokenizer):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    build_tiny_model(game_tokenizer)
    assert torch.equal(torch.rand(3), expected)


def test_shape_and_size(game_tokenizer):
    model = build_tiny_model(game_tokenizer)
    cfg = model.config
    shape = TinyModelShape()
    assert (cfg.hidden_size, cfg.num_hidden_layers, cfg.num_attention_heads, cfg.num_key_value_heads,
            cfg.intermediate_size) == (shape.hidden_size, shape.num_hidden_layers, shape.num_attention_heads,
                                       shape.num_key_value_heads, shape.intermediate_size)
    assert cfg.vocab_size == len(game_tokenizer) and cfg.tie_word_embeddings
    assert 0.8e6 < count_parameters(model) < 1.5e6
    assert cfg.eos_token_id == game_tokenizer.eos_token_id
