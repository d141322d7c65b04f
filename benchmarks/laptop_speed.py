"""Laptop training speed: the fast decoder vs the reference ``generate`` path, side by side (issue 18).

For each env (laptop defaults, shipped tiny policy, ``spear`` preset) two trainers start from the same
policy and seed, one decoding with ``decode_backend: hf`` (``transformers``' ``generate``, the reference)
and one with ``decode_backend: fast`` (:mod:`spear_train.policy.fast_decode`). Their training steps
alternate (hf t, fast t, hf t+1, ...), so a change in machine load hits both. Printed per env:

* seconds per training step (whole step, rollout, generation inside the rollout, update) and the
  ratio hf / fast;
* seconds per 100-episode held-out evaluation (``--eval-episodes`` played, scaled to 100) and the ratio;
* generated tokens per second of generation time;
* agreement: the sampled ids of both paths for the same seed (every sample of every step, and the
  actions of every evaluation episode). Identical ids mean identical updates, so the two trainers stay
  in lock-step; a mismatch (a float-rounding tie) is counted, not hidden.

Env caches are warmed first (ALFWorld's generated games, WebShop's catalog), so neither side pays for
building them. ``--profile`` adds a cProfile breakdown of one training step per path (fractions of the
step: prompt encoding, prefill, per-token decoding, trie mask, env, old log-probs, update).

Usage (from the repository root)::

    python benchmarks/laptop_speed.py [--envs alfworld webshop math] [--steps 2] [--eval-episodes 32]
        [--threads 1] [--seed 0] [--profile]

Figures depend on the machine and its load; compare the ratios, measured in the same run.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ENVS = ("alfworld", "webshop", "math")
BACKENDS = ("hf", "fast")

#: cProfile buckets: (label, function name, file suffix); cumulative seconds as a fraction of the step.
PHASES = (
    ("rollout (all)", "collect", "rollout/collector.py"),
    ("  prompt encoding (chat template)", "prompt_ids", "policy/loading.py"),
    ("  generation (all)", "generate", "policy/generation.py"),
    ("  generation (all)", "generate", "policy/fast_decode.py"),
    ("    prefill", "_prefill", "generation/utils.py"),
    ("    prefill", "prefill", "policy/fast_kv.py"),
    ("    trie mask", "__call__", "policy/constrained.py"),
    ("    trie mask", "_mask", "policy/fast_decode.py"),
    ("  env reset + step", "reset", "rollout/workers.py"),
    ("  env reset + step", "step", "rollout/workers.py"),
    ("old log-probs", "recompute_logprobs", "training/update.py"),
    ("update (optimiser passes)", "optimise", "training/update.py"),
)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--envs", nargs="+", default=list(ENVS), choices=ENVS, help="envs to measure")
    p.add_argument("--steps", type=int, default=2, help="training steps per path and env")
    p.add_argument("--eval-episodes", type=int, default=32, help="held-out episodes per evaluation (scaled to 100)")
    p.add_argument("--threads", type=int, default=1, help="torch threads")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--profile", action="store_true", help="also profile one training step per path")
    args = p.parse_args(argv)
    if args.steps < 1 or args.eval_episodes < 0 or args.threads < 1:
        p.error("--steps and --threads must be >= 1, --eval-episodes >= 0")
    return args


def make_trainer(env: str, backend: str, seed: int, out: Path):
    from spear_train.training.loop import Trainer
    from spear_train.training.progress import Progress
    from spear_train.training.run_config import resolve_run_config
    from spear_train.training.run_dir import RunDir

    cfg = resolve_run_config(dict(algo="spear", env=env, out=str(out), log_mode="quiet", device="cpu",
                                  decode_backend=backend))
    run_dir = RunDir(out / f"{env}-{backend}", resume=False, tensorboard=False)
    return Trainer(cfg, seed, run_dir, Progress("quiet", cfg.steps), resume=False), run_dir


def warm_caches(trainer, steps: int, eval_episodes: int) -> None:
    """Reset the envs on every task both paths will play, so on-disk caches are built before timing."""
    from spear_train.rollout.workers import make_env_pool
    from spear_train.training.environment import env_spec
    from spear_train.training.loop import derive_seed

    cfg, pool = trainer.cfg, trainer.rollouts.pool
    for t in range(1, steps + 2):
        seeds = [derive_seed(derive_seed(trainer.seed, t), g) for g in range(cfg.groups_per_step)]
        pool.reset([s for s in seeds for _ in range(cfg.group_size)])
    if eval_episodes:
        held_out = make_env_pool(env_spec(cfg, held_out=True), eval_episodes, 0)
        held_out.reset(list(range(eval_episodes)))
        held_out.close()


def ids_of(rollout_samples) -> list[list[int]]:
    return [list(s.response_ids) for s in rollout_samples]


def timed_step(trainer, t: int) -> tuple[dict, list]:
    """One training step; also returns the sampled ids of its rollout (wrapped collect)."""
    captured = []
    original = trainer.rollouts.collect

    def collect(step, seed):
        rollout = original(step, seed)
        captured.append(rollout)
        return rollout

    trainer.rollouts.collect = collect
    try:
        row = trainer.train_step(t)
    finally:
        trainer.rollouts.collect = original
    rollout = captured[0]
    row["generation_s"] = rollout.generation_seconds
    row["prompt_tokens"] = sum(len(s.prompt_ids) for s in rollout.samples)
    return row, ids_of(rollout.samples)


def profile_step(trainer, t: int) -> dict[str, float]:
    """Fractions of one training step per :data:`PHASES` bucket (cProfile cumulative times)."""
    prof = cProfile.Profile()
    start = time.perf_counter()
    prof.enable()
    trainer.train_step(t)
    prof.disable()
    total = time.perf_counter() - start
    stats = pstats.Stats(prof).stats
    out: dict[str, float] = {"step seconds": total}
    for label, name, suffix in PHASES:
        # max, not sum: a pool's step calls its host's step of the same name (nested, not separate time)
        seconds = max((v[3] for (file, _, fn), v in stats.items() if fn == name and file.endswith(suffix)),
                      default=0.0)
        out[label] = out.get(label, 0.0) + seconds
    decode = out["  generation (all)"] - out["    prefill"] - out["    trie mask"]
    ordered = {}
    for key, value in out.items():
        ordered[key] = value
        if key == "    trie mask":
            ordered["    per-token decoding (rest)"] = decode
    return ordered


def evaluate_timed(trainer, episodes: int):
    from spear_train.training.evaluation import evaluate
    from spear_train.training.loop import derive_seed

    start = time.perf_counter()
    result = evaluate(trainer.cfg, "model", trainer.policy, episodes=episodes, seed=derive_seed(trainer.seed, 2**20))
    return time.perf_counter() - start, result


def measure_env(env: str, args, out: Path) -> dict:
    trainers = {b: make_trainer(env, b, args.seed, out)[0] for b in BACKENDS}
    warm_caches(trainers["hf"], args.steps + (1 if args.profile else 0), args.eval_episodes)
    rows = {b: [] for b in BACKENDS}
    mismatched, compared = 0, 0
    for t in range(1, args.steps + 1):
        ids = {}
        for b in BACKENDS:
            row, ids[b] = timed_step(trainers[b], t)
            rows[b].append(row)
        compared += max(len(ids["hf"]), len(ids["fast"]))
        mismatched += sum(x != y for x, y in zip(ids["hf"], ids["fast"])) + abs(len(ids["hf"]) - len(ids["fast"]))
        print(f"  [{env}] step {t}: hf {rows['hf'][-1]['time_step']:.1f} s, fast {rows['fast'][-1]['time_step']:.1f} s",
              file=sys.stderr, flush=True)
    result = {"rows": rows, "mismatched_samples": mismatched, "compared_samples": compared}
    if args.eval_episodes:
        evals = {b: evaluate_timed(trainers[b], args.eval_episodes) for b in BACKENDS}
        result["eval_s"] = {b: evals[b][0] * 100 / args.eval_episodes for b in BACKENDS}
        acts = {b: [e.actions for e in evals[b][1].summaries] for b in BACKENDS}
        result["eval_mismatched"] = sum(x != y for x, y in zip(acts["hf"], acts["fast"]))
        result["eval_success"] = {b: evals[b][1].success for b in BACKENDS}
    if args.profile:
        result["profile"] = {b: profile_step(trainers[b], args.steps + 1) for b in BACKENDS}
    for trainer in trainers.values():
        trainer.rollouts.close()
    return result


def report(env: str, r: dict, args) -> None:
    def mean(b, key):
        return statistics.fmean(row[key] for row in r["rows"][b])

    print(f"\n== {env}: {args.steps} training step(s) per path, laptop defaults, spear preset, seed {args.seed}")
    print(f"{'seconds per step':<28}{'hf (reference)':>16}{'fast':>10}{'hf / fast':>11}")
    for label, key in (("whole step", "time_step"), ("  rollout", "time_rollout"),
                       ("    generation", "generation_s"), ("  update (+ old log-probs)", "time_update")):
        hf, fast = mean("hf", key), mean("fast", key)
        print(f"{label:<28}{hf:>16.2f}{fast:>10.2f}{hf / max(fast, 1e-9):>10.2f}x")
    tokens = {b: sum(row["generated_tokens"] for row in r["rows"][b]) for b in BACKENDS}
    gen_s = {b: sum(row["generation_s"] for row in r["rows"][b]) for b in BACKENDS}
    print(f"{'generated tokens/s':<28}{tokens['hf'] / gen_s['hf']:>16.0f}{tokens['fast'] / gen_s['fast']:>10.0f}"
          f"{(tokens['fast'] / gen_s['fast']) / (tokens['hf'] / gen_s['hf']):>10.2f}x")
    if "eval_s" in r:
        hf, fast = r["eval_s"]["hf"], r["eval_s"]["fast"]
        print(f"{'s per 100-episode eval':<28}{hf:>16.1f}{fast:>10.1f}{hf / max(fast, 1e-9):>10.2f}x"
              f"   ({args.eval_episodes} episodes played, scaled to 100)")
        print(f"eval success hf {r['eval_success']['hf']:.3f}, fast {r['eval_success']['fast']:.3f}; "
              f"episodes with different actions: {r['eval_mismatched']} / {args.eval_episodes}")
    prompt = statistics.fmean(row["prompt_tokens"] for row in r["rows"]["fast"])
    generated = statistics.fmean(row["generated_tokens"] for row in r["rows"]["fast"])
    print(f"per step: {generated:.0f} generated tokens, {prompt:.0f} prompt tokens run through the model "
          f"(first-turn prompts only for multi-turn envs)")
    print(f"training samples with different sampled ids: {r['mismatched_samples']} / {r['compared_samples']}")
    if "profile" in r:
        print("profile of one step (fraction of the step; cProfile adds overhead to both):")
        labels = [k for k in r["profile"]["hf"] if k != "step seconds"]
        print(f"  {'phase':<36}{'hf':>8}{'fast':>8}")
        for label in labels:
            print(f"  {label:<36}" + "".join(f"{r['profile'][b][label] / r['profile'][b]['step seconds']:>8.0%}"
                                             for b in BACKENDS))
        print(f"  {'step seconds (profiled)':<36}" + "".join(f"{r['profile'][b]['step seconds']:>8.1f}"
                                                            for b in BACKENDS))


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        for env in args.envs:
            print(f"measuring {env} ...", file=sys.stderr, flush=True)
            report(env, measure_env(env, args, Path(tmp)), args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
