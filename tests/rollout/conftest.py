"""Fixtures for rollout tests: a tiny policy saved and reloaded through ``load_policy``, and Ray."""

from __future__ import annotations

import os

import pytest
import torch

from spear_train.models.tiny_model import TinyModelShape, build_tiny_model
from spear_train.models.tokenizer import save_tokenizer, train_tokenizer
from spear_train.policy import load_policy
from tests.conftest import REPO_ROOT

from . import toy  # noqa: F401  (registers the toy envs and prompt builders)

TINY_SHAPE = TinyModelShape(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1,
                            intermediate_size=64)
CORPUS = [
    "Task: guess the secret fruit. Now: A fruit is hidden. Commands: guess apple, guess banana, guess cherry, "
    "guess damson. Answer in <action></action>. Wrong. Correct! Nothing happens. Problem: what is 6 * 7? "
    "result: 12 chars <action>guess apple</action> look around the room go to desk 1 put mug in coffeemachine",
] * 20


@pytest.fixture(scope="session")
def tiny_policy(tmp_path_factory):
    """A ~20k-parameter Qwen2 policy with a game-trained BPE, saved to disk and loaded with ``load_policy``."""
    folder = tmp_path_factory.mktemp("tiny-policy")
    tokenizer = train_tokenizer(CORPUS, vocab_size=400)
    save_tokenizer(tokenizer, folder)
    build_tiny_model(tokenizer, TINY_SHAPE, seed=0).save_pretrained(folder)
    torch.set_num_threads(1)
    return load_policy(folder, device="cpu")


def start_ray():
    """Start a small local Ray whose workers can import ``tests`` (for the toy envs)."""
    import ray

    os.environ["RAY_AUTH_MODE"] = "disabled"
    paths = [str(REPO_ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    os.environ["PYTHONPATH"] = os.pathsep.join(paths)
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)  # never join a `ray start` cluster
    return ray
