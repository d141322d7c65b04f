"""A tiny policy for the test envs of tests/rollout/toy.py, built once per session (seconds)."""

from __future__ import annotations

import pytest

import tests.rollout.toy as toy  # noqa: F401  (registers the test envs and prompt builders)
from spear_train.models.tiny_model import TinyModelShape, build_tiny_model
from spear_train.models.tokenizer import save_tokenizer, train_tokenizer

TOY_TEXTS = [
    "Task: guess the secret fruit. Now: A fruit is hidden. Commands: guess apple, guess banana, guess cherry, "
    "guess damson. Answer in <action></action>. Wrong. Correct! Nothing happens.",
    "<think>maybe</think><action>guess apple</action> <action>guess banana</action> <action>guess cherry</action>",
    "Problem: what is 6 * 7? result: 12 chars. the answer is 42. \\boxed{42}",
] * 20

TINY_SHAPE = TinyModelShape(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1,
                            intermediate_size=64, max_position_embeddings=512)


@pytest.fixture(scope="session")
def tiny_policy_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny-policy")
    tokenizer = train_tokenizer(TOY_TEXTS, vocab_size=300)
    model = build_tiny_model(tokenizer, TINY_SHAPE, seed=0)
    model.save_pretrained(folder)
    save_tokenizer(tokenizer, folder)
    return folder
