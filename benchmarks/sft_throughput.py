"""SFT throughput and evaluation cost of the tiny policy vs SmolLM2-135M.

Prints, in one run:

* SFT tokens/s and wall time per epoch for the tiny model on the env's expert data (``--train-tasks``
  expert episodes, ``--steps`` optimizer steps measured after 2 warm-up steps, extrapolated to an epoch);
* the same for SmolLM2-135M (``--smollm2``; slow on CPU) as a ratio against the tiny model;
* evaluation cost (episodes/s and env steps/s, greedy) of the tiny model vs SmolLM2-135M on the same
  held-out tasks. Both are untrained on the task here (the tiny model freshly initialised), so episodes
  run to the step cap: this measures cost per step, not skill.

Usage::

    python benchmarks/sft_throughput.py --env alfworld --threads 2 [--smollm2]

Figures depend on the machine and its load; compare ratios measured in the same run.
"""

from __future__ import annotations

import argparse
import math
import time

import torch


def sft_speed(policy, data, batch_size: int, steps: int, lr: float) -> tuple[float, float]:
    """(tokens/s, seconds per epoch) over ``steps`` measured optimizer steps."""
    from spear_train.sft.trainer import collate, make_batches, response_loss

    batches = make_batches(data, batch_size, seed=0)
    model = policy.model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    tokens, elapsed = 0, 0.0
    for i, batch in enumerate(batches[: steps + 2]):
        ids, attn, target = collate([data[j] for j in batch], policy.tokenizer.pad_token_id)
        t0 = time.perf_counter()
        loss = response_loss(model, ids, attn, target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if i >= 2:
            elapsed += time.perf_counter() - t0
            tokens += int(attn.sum())
    model.eval()
    measured = max(min(steps, len(batches) - 2), 1)
    return tokens / elapsed, elapsed / measured * math.ceil(len(data) / batch_size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="alfworld")
    parser.add_argument("--train-tasks", type=int, default=40)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--eval-tasks", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--smollm2", action="store_true", help="also measure SmolLM2-135M (fetched on first use)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from spear_train.cli.sft_cmd import ENV_ALIASES
    from spear_train.policy import load_policy
    from spear_train.sft.data import expert_examples, tokenize_examples
    from spear_train.sft.evaluate import eval_run_config
    from spear_train.training.evaluation import evaluate
    from spear_train.sft.recipe import default_recipe
    from spear_train.sft.trainer import RunOptions, build_policy, data_cache_file

    env_id = ENV_ALIASES.get(args.env, args.env)
    recipe = default_recipe(env_id)
    recipe = type(recipe)(**{**recipe.__dict__, "train_tasks": args.train_tasks})
    t0 = time.perf_counter()
    examples, summary = expert_examples(env_id, args.train_tasks, recipe.data_seed, recipe.history_length,
                                        False, data_cache_file(recipe))
    print(f"expert data: {summary.examples} examples from {summary.won} won episodes "
          f"({summary.degenerate} degenerate skipped) in {time.perf_counter() - t0:.1f} s")
    policies = {"tiny": build_policy(recipe, examples, RunOptions(out=None))}  # fresh: game-trained tokenizer
    if args.smollm2:
        policies["smollm2-135m"] = load_policy("smollm2-135m", device="cpu")

    speeds = {}
    for name, policy in policies.items():
        data, _ = tokenize_examples(examples, policy.prompt_ids, policy.tokenizer,
                                    recipe.max_prompt_tokens * 4, recipe.max_response_tokens * 4)
        batch = recipe.batch_size if name == "tiny" else 4
        tok_s, epoch_s = sft_speed(policy, data, batch, args.steps if name == "tiny" else 3, recipe.lr)
        speeds[name] = tok_s
        print(f"SFT {name:13s} batch {batch:2d}: {tok_s:9.0f} tokens/s, {epoch_s:8.1f} s per epoch "
              f"of {len(data)} examples ({args.threads} threads)")
    if "smollm2-135m" in speeds:
        print(f"SFT speed ratio tiny / smollm2-135m: {speeds['tiny'] / speeds['smollm2-135m']:.1f}x")

    cfg = eval_run_config(env_id, args.eval_tasks)  # the laptop evaluation every command plays
    rates = {}
    for name, policy in policies.items():
        t0 = time.perf_counter()
        results = evaluate(cfg, "model", policy, temperature=0.0).summaries
        wall = time.perf_counter() - t0
        steps = sum(r.length for r in results)
        rates[name] = len(results) / wall
        print(f"eval {name:13s}: {rates[name]:.3f} episodes/s, {steps / wall:.1f} env steps/s "
              f"({len(results)} greedy episodes, {steps} steps, {wall:.1f} s)")
    if "smollm2-135m" in rates:
        print(f"eval speed ratio tiny / smollm2-135m: {rates['tiny'] / rates['smollm2-135m']:.1f}x")


if __name__ == "__main__":
    main()
