"""benchmarks/gpu_check.py runs end to end on CPU with --tiny (the GPU figures need a GPU)."""

from __future__ import annotations

import re

import pytest

from tests.benchmark_scripts import load_benchmark


@pytest.mark.slow
def test_gpu_check_runs_tiny_on_cpu(capsys):
    gpu_check = load_benchmark("gpu_check")
    assert gpu_check.main(["--device", "cpu", "--tiny", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    for section in ("model", "generation", "logprobs", "update", "memory", "total"):
        assert re.search(rf"^{section}: ", out, re.M), f"no {section} line in:\n{out}"
    gap = float(re.search(r"max \|generation - trainer\| = (\S+)", out).group(1))
    assert gap < 1e-4, f"float32 generation and trainer log-probs differ by {gap}"
    steps = re.findall(r"^paper_steps: step (\d+): ", out, re.M)
    assert steps == ["1", "2"]
    assert float(re.search(r"update: ([\d,]+) tokens/s", out).group(1).replace(",", "")) > 0


def test_update_flops_count_the_lm_head_only_at_response_tokens():
    gpu_check = load_benchmark("gpu_check")
    from transformers import Qwen2Config, Qwen2ForCausalLM

    config = Qwen2Config(vocab_size=100, hidden_size=8, intermediate_size=16, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1, tie_word_embeddings=True)
    model = Qwen2ForCausalLM(config)
    body = sum(p.numel() for p in model.parameters()) - 100 * 8
    flops = gpu_check.update_flops(model, [[1, 2, 3]], [[4, 5]])
    assert flops == 6.0 * (body * 5 + 100 * 8 * 2 + 2 * 8 * 25)
