"""The GPU path in one run: generation and update throughput, MFU, memory, log-prob agreement,
and two ``--scale paper`` training steps. Fits in about 5 minutes on one GPU and downloads nothing: the
1.5B model is a randomly initialised Qwen2.5-1.5B-shaped ``Qwen2ForCausalLM`` built from the config in
:data:`QWEN25_1_5B` (public architecture values), prompts are random token ids, and the paper-scale steps
use the shipped tiny ALFWorld policy.

Sections (each prints one line ``name: figures``):

1. ``generation``: bf16 sampling with the trainer's HF generator, batch 64 (8 envs x 8 copies),
   ``--prompt-tokens`` prompt and ``--new-tokens`` new tokens per row (random weights almost never sample
   a stop token, so rows run to the limit); generated tokens/s.
2. ``update``: one AdamW step of :func:`spear_train.training.update.optimise` over 64 samples
   (micro-batch 8, the paper's), tokens/s and model FLOPs utilisation
   ``MFU = F / (seconds · peak)`` with ``F = 6·(N_body·T + V·d·T_resp + L·d·Σ_i S_i²)``: body matmuls for
   every token, the LM head only where it predicts a response token (as the trainer applies it), causal
   attention ``QKᵀ`` and ``AV`` over each sequence of length ``S_i``.
   ``--peak-tflops`` is the device's dense bf16 peak (default 989, H100/H200 SXM). Target: MFU >= 40%.
3. ``memory``: peak allocated device memory (CUDA) or peak resident memory (CPU).
4. ``logprobs``: max |generation log-prob − trainer's recomputed log-prob| over the generated tokens.
5. ``paper_steps``: ``spear-bench run --scale paper --env alfworld --steps 2`` with the tiny policy and
   free decoding (``constrained_decoding: false``); seconds per step and rollout/update split.

Usage::

    python benchmarks/gpu_check.py --device cuda                # on a GPU (bf16), ~5 min
    python benchmarks/gpu_check.py --device cpu --tiny          # seconds; the test suite runs this

``--tiny`` shrinks everything (a 2-layer model, short prompts, 2x2 groups of 2 turns) to check the
script itself. Figures depend on the machine; GPU figures are recorded in docs/training.md.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import torch

#: Qwen2.5-1.5B's architecture (its public config.json), built here with random weights.
QWEN25_1_5B = dict(vocab_size=151936, hidden_size=1536, intermediate_size=8960, num_hidden_layers=28,
                   num_attention_heads=12, num_key_value_heads=2, max_position_embeddings=32768,
                   rope_theta=1_000_000.0, rms_norm_eps=1e-6, tie_word_embeddings=True, hidden_act="silu")
#: The --tiny stand-in shape (checks the script, not the hardware).
TINY = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
            max_position_embeddings=2048, rope_theta=10_000.0, rms_norm_eps=1e-6, tie_word_embeddings=True,
            hidden_act="silu")


EPILOG = """examples:
  python benchmarks/gpu_check.py --device cuda            # one GPU, bf16, about 5 minutes
  python benchmarks/gpu_check.py --device cpu --tiny      # checks the script on CPU in seconds
sections: generation, logprobs, update (tokens/s, MFU), memory, paper_steps (see the module docstring)"""


def build_model(shape: dict, tokenizer, device: str, dtype: torch.dtype, seed: int = 0):
    """A randomly initialised ``Qwen2ForCausalLM`` of ``shape`` (vocabulary at least the tokenizer's)."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    shape = {**shape, "vocab_size": max(shape.get("vocab_size", 0), len(tokenizer))}
    config = Qwen2Config(**shape, pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                         bos_token_id=tokenizer.bos_token_id, use_cache=True)
    torch.manual_seed(seed)
    with torch.device(device):
        model = Qwen2ForCausalLM(config).to(dtype)
    return model.eval()


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def random_prompts(n: int, length: int, low: int, high: int, seed: int) -> list[list[int]]:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(low, high, (n, length), generator=g).tolist()


def measure_generation(model, tokenizer, prompts, new_tokens: int, device: str):
    """``(generated tokens/s, GenerationBatch)`` of one timed batch after a short warm-up."""
    from spear_train.policy.generation import HFGenerator, SamplingConfig

    gen = HFGenerator(model, tokenizer)
    gen.generate(prompts[:2], SamplingConfig(max_new_tokens=4), seed=0)
    sync(device)
    start = time.perf_counter()
    batch = gen.generate(prompts, SamplingConfig(temperature=1.0, max_new_tokens=new_tokens), seed=1)
    sync(device)
    tokens = sum(len(g.token_ids) for g in batch.generations)
    return tokens / (time.perf_counter() - start), batch


def update_flops(model, prompts: list[list[int]], responses: list[list[int]]) -> float:
    """``6·(N_body·T + V·d·T_resp + L·d·Σ S_i²)`` for one forward+backward (see the module docstring)."""
    cfg = model.config
    embed = cfg.vocab_size * cfg.hidden_size
    body = sum(p.numel() for p in model.parameters()) - embed * (1 if cfg.tie_word_embeddings else 2)
    lengths = [len(p) + len(r) for p, r in zip(prompts, responses)]
    t_all, t_resp = sum(lengths), sum(len(r) for r in responses)
    attention = cfg.num_hidden_layers * cfg.hidden_size * sum(s * s for s in lengths)
    return 6.0 * (body * t_all + embed * t_resp + attention)


def measure_update(model, prompts, responses, pad_id: int, device: str, micro: int):
    """``(tokens/s, FLOPs/s, old log-probs)``: one timed AdamW step over all samples after a warm-up step."""
    from spear_train.training.update import LossSettings, TrainBatch, optimise, recompute_logprobs

    n = len(prompts)
    batch = TrainBatch.from_lists(prompts, responses, [[1] * len(r) for r in responses],
                                  [[0.0] * len(r) for r in responses], [1.0 if i % 2 else -1.0 for i in range(n)],
                                  [True] * n)
    batch.old_log_probs = recompute_logprobs(model, batch, pad_id, micro)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-6)
    settings = LossSettings()
    kwargs = dict(pad_id=pad_id, mini_batch_size=n, micro_batch_size=micro, grad_clip=1.0)
    optimise(model, optimizer, batch, settings, **kwargs)  # warm-up (allocates the AdamW state)
    sync(device)
    start = time.perf_counter()
    optimise(model, optimizer, batch, settings, **kwargs)
    sync(device)
    seconds = time.perf_counter() - start
    tokens = sum(len(p) + len(r) for p, r in zip(prompts, responses))
    return tokens / seconds, update_flops(model, prompts, responses) / seconds


def peak_memory_gib(device: str) -> tuple[float, str]:
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2**30, "allocated on the GPU"
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, "resident (CPU process)"


def logprob_gap(model, batch, prompts, pad_id: int, micro: int) -> float:
    """Max |log-prob at sampling − log-prob recomputed by the trainer| over every generated token."""
    from spear_train.training.update import TrainBatch, recompute_logprobs

    responses = [g.token_ids for g in batch.generations]
    train = TrainBatch.from_lists(prompts, responses, [[1] * len(r) for r in responses],
                                  [[0.0] * len(r) for r in responses], [0.0] * len(responses), [True] * len(responses))
    again = recompute_logprobs(model, train, pad_id, micro)
    return max(abs(a - b) for g, row in zip(batch.generations, again.tolist()) for a, b in zip(g.logprobs, row))


def paper_steps(device: str, tiny: bool, out: Path) -> list[dict]:
    """Two ``--scale paper`` ALFWorld steps with the tiny policy and free decoding; the train metric rows."""
    from spear_train.training.loop import run_folder, run_seeds
    from spear_train.training.run_config import resolve_run_config

    flags = dict(env="alfworld", scale="paper", algo="spear", steps=2, device=device, out=str(out),
                 log_mode="quiet", eval_every=2)
    values = dict(constrained_decoding=False, eval_episodes=32, checkpoint_every=2)
    if tiny:
        values.update(groups_per_step=2, group_size=2, max_turns=2, max_response_tokens=16, eval_episodes=2,
                      eval_batch=2, micro_batch_size=4, env_kwargs=dict(scene_size="small", num_games=8),
                      eval_env_kwargs=dict(num_games=4))
    config = out / "paper.yaml"
    out.mkdir(parents=True, exist_ok=True)
    import yaml

    config.write_text(yaml.safe_dump(values))
    cfg = resolve_run_config(flags, config)
    run_seeds(cfg)
    rows = [json.loads(x) for x in (run_folder(cfg, 0) / "metrics.jsonl").read_text().splitlines()]
    return [r for r in rows if r["kind"] == "train"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    p.add_argument("--tiny", action="store_true", help="a 2-layer model and small batches (checks the script)")
    p.add_argument("--batch", type=int, default=64, help="generation and update batch (8 envs x 8 = 64)")
    p.add_argument("--prompt-tokens", type=int, default=None, help="prompt length (default 1024; tiny 32)")
    p.add_argument("--new-tokens", type=int, default=None, help="generated tokens per row (default 256; tiny 8)")
    p.add_argument("--micro-batch", type=int, default=8, help="update micro-batch (the paper's: 8)")
    p.add_argument("--peak-tflops", type=float, default=989.0, help="the device's dense bf16 peak, for MFU")
    p.add_argument("--skip-paper-steps", action="store_true", help="leave out section 5")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device == "cuda" and not torch.cuda.is_available():
        print("gpu_check: --device cuda, but torch sees no CUDA device (use --device cpu --tiny)", file=sys.stderr)
        return 2
    from spear_train.policy.loading import load_policy

    dtype = torch.bfloat16 if args.device == "cuda" else torch.float32
    tokenizer = load_policy("spear-tiny-alfworld", device="cpu").tokenizer
    shape = TINY if args.tiny else QWEN25_1_5B
    prompt_len = args.prompt_tokens or (32 if args.tiny else 1024)
    new_tokens = args.new_tokens or (8 if args.tiny else 256)
    batch = min(args.batch, 8) if args.tiny else args.batch
    name = "tiny Qwen2" if args.tiny else "Qwen2.5-1.5B-shaped (random weights)"
    start = time.perf_counter()
    model = build_model(shape, tokenizer, args.device, dtype)
    params = sum(q.numel() for q in model.parameters())
    device_name = torch.cuda.get_device_name() if args.device == "cuda" else "CPU"
    print(f"model: {name}, {params / 1e6:,.1f} M parameters, {str(dtype).split('.')[-1]}, on {device_name}")
    prompts = random_prompts(batch, prompt_len, 10, len(tokenizer), seed=0)

    tok_s, generated = measure_generation(model, tokenizer, prompts, new_tokens, args.device)
    print(f"generation: {tok_s:,.0f} tokens/s (batch {batch}, prompt {prompt_len}, up to {new_tokens} new tokens)")
    gap = logprob_gap(model, generated, prompts, int(tokenizer.pad_token_id), args.micro_batch)
    print(f"logprobs: max |generation - trainer| = {gap:.3g} over "
          f"{sum(len(g.token_ids) for g in generated.generations)} tokens")
    responses = [g.token_ids for g in generated.generations]
    up_tok_s, flops_s = measure_update(model, prompts, responses, int(tokenizer.pad_token_id), args.device,
                                       args.micro_batch)
    mfu = flops_s / (args.peak_tflops * 1e12)
    print(f"update: {up_tok_s:,.0f} tokens/s, {flops_s / 1e12:.2f} TFLOP/s, MFU {100 * mfu:.1f}% of "
          f"{args.peak_tflops:g} TFLOP/s (target >= 40% on a GPU)")
    mem, where = peak_memory_gib(args.device)
    print(f"memory: peak {mem:.2f} GiB {where}")
    del model
    if not args.skip_paper_steps:
        with tempfile.TemporaryDirectory(prefix="gpu-check-") as tmp:
            rows = paper_steps(args.device, args.tiny, Path(tmp))
        for r in rows:
            print(f"paper_steps: step {r['step']}: {r['time_step']:.1f} s (rollout {r['time_rollout']:.1f} s, "
                  f"update {r['time_update']:.1f} s), {r['samples']} samples, success {r['success']:.3f}")
    print(f"total: {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
