"""Session fixtures for the built-in-models tests: a toy agent env, a game-trained tokenizer, a tiny model."""

from __future__ import annotations

import pytest

from tests.models.toy_agent_env import register_toy


@pytest.fixture(scope="session")
def toy_env_id() -> str:
    register_toy()
    from tests.models.toy_agent_env import ENV_ID

    return ENV_ID


@pytest.fixture(scope="session")
def toy_examples(toy_env_id):
    from spear_train.sft.data import expert_examples

    examples, summary = expert_examples(toy_env_id, n_tasks=12, first_seed=0, progress=False)
    return examples


@pytest.fixture(scope="session")
def game_tokenizer(toy_examples):
    from spear_train.models.tokenizer import train_tokenizer
    from spear_train.sft.data import tokenizer_corpus

    return train_tokenizer(tokenizer_corpus(toy_examples), vocab_size=512)


@pytest.fixture(scope="session")
def tiny_policy_dir(tmp_path_factory, game_tokenizer):
    """A saved (untrained) tiny model folder with its tokenizer, as the trainer writes it."""
    from spear_train.models.tiny_model import build_tiny_model
    from spear_train.models.tokenizer import save_tokenizer

    folder = tmp_path_factory.mktemp("tiny") / "model"
    build_tiny_model(game_tokenizer).save_pretrained(folder)
    save_tokenizer(game_tokenizer, folder)
    return folder
