from __future__ import annotations

import json

import pytest
import torch

from spear_train.models.tokenizer import PROBE_TEXT
from spear_train.policy import Policy, PolicyLoadError, load_policy
from spear_train.policy.loading import activation_checkpointing_on

MESSAGES = [{"role": "user", "content": "Task: press the red button\nNow: The panel is closed."}]


def test_checkpoint_reload_gives_build_time_ids(tiny_policy_dir, game_tokenizer):
    """Tokenizer reload trap (docs/models.md): config.json says qwen2, yet the reloaded ids equal the ones at
    build time."""
    policy = load_policy(tiny_policy_dir, device="cpu")
    assert isinstance(policy, Policy)
    built = game_tokenizer.encode(
        game_tokenizer.apply_chat_template(MESSAGES, tokenize=False, add_generation_prompt=True),
        add_special_tokens=False)
    assert policy.prompt_ids(MESSAGES) == built
    assert policy.tokenizer.encode(PROBE_TEXT, add_special_tokens=False) == game_tokenizer.encode(
        PROBE_TEXT, add_special_tokens=False)
    assert policy.prompt_text(MESSAGES).endswith("<|im_start|>assistant\n")


def test_cpu_policy_is_fp32_eval_left_padded(tiny_policy_dir):
    policy = load_policy(str(tiny_policy_dir), device="cpu")
    assert policy.model.dtype == torch.float32 and not policy.model.training
    assert policy.device == torch.device("cpu") and policy.tokenizer.padding_side == "left"
    assert policy.tokenizer.pad_token_id is not None


def test_dtype_and_gradient_checkpointing(tiny_policy_dir):
    policy = load_policy(tiny_policy_dir, device="cpu", dtype=torch.bfloat16, gradient_checkpointing=True)
    assert policy.model.dtype == torch.bfloat16 and activation_checkpointing_on(policy.model)


def test_missing_path_is_a_clear_error(tmp_path):
    with pytest.raises(PolicyLoadError, match="no model at"):
        load_policy(str(tmp_path / "nowhere" / "model"))


def test_folder_without_config_is_a_clear_error(tmp_path):
    with pytest.raises(PolicyLoadError, match="no config.json"):
        load_policy(tmp_path)


def test_file_is_a_clear_error(tmp_path):
    f = tmp_path / "weights.bin"
    f.write_bytes(b"x")
    with pytest.raises(PolicyLoadError, match="is a file"):
        load_policy(f)


def test_non_causal_lm_is_a_clear_error(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert", "hidden_size": 32,
                                                      "num_attention_heads": 2, "num_hidden_layers": 1,
                                                      "intermediate_size": 64, "is_decoder": False}))
    with pytest.raises(PolicyLoadError):
        load_policy(tmp_path)


def test_not_a_model_config_is_a_clear_error(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "resnet"}))
    with pytest.raises(PolicyLoadError, match="not a causal language model"):
        load_policy(tmp_path)
