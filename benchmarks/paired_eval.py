"""Before/after of a run measured with less noise than its own 100-task evaluation: both policies play every
task ``--samples`` times at the run's evaluation temperature with one shared sampling seed, and the gain is
paired over the tasks' sample means (``mean(d_i) ± std(d_i)/sqrt(n)``, ``d_i`` = after - before on task i).

Why: a 100-task evaluation at T=0.4 moves by several points with its draws alone, which the run's paired SE
does not cover once the policy changed (docs/training.md, 'The default run's wall time'). This made the
figure there (ALFWorld seed 0, 140 games x 4 samples: 12.3% -> 15.2%, +2.9 ± 1.8)::

    python benchmarks/paired_eval.py --env alfworld --tasks 140 --samples 4 --seed 12345 \\
        --before spear-tiny-alfworld --after runs/spear-alfworld-seed0/checkpoints/step_000020/policy

(that session ran the two evaluations as two 1-thread processes side by side, ~10 min each beside a third job).
"""

from __future__ import annotations

import argparse
import math
import time


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--env", default="alfworld", help="alfworld, webshop or math (the laptop held-out split)")
    p.add_argument("--before", required=True, metavar="MODEL", help="policy name or folder before training")
    p.add_argument("--after", required=True, metavar="MODEL", help="policy name or folder after training")
    p.add_argument("--tasks", type=int, default=100, help="held-out tasks 0..N-1 (default 100)")
    p.add_argument("--samples", type=int, default=4, help="episodes per task (default 4)")
    p.add_argument("--seed", type=int, default=0, help="the shared sampling seed (default 0)")
    p.add_argument("--temperature", type=float, default=None,
                   help="sampling temperature (default: the run's eval_temperature, 0.4; 0 = greedy decoding)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = p.parse_args(argv)
    if args.temperature is not None and args.temperature < 0:
        p.error(f"--temperature must be >= 0, got {args.temperature}")
    for name in ("tasks", "samples", "threads"):
        if getattr(args, name) < 1:
            p.error(f"--{name} must be >= 1, got {getattr(args, name)}")
    return args


def task_means(cfg, model: str, args) -> tuple[float, dict[int, float]]:
    """Success rate and per-task mean success of ``model`` over ``args.tasks`` x ``args.samples`` episodes."""
    from spear_train.policy import load_policy
    from spear_train.training.evaluation import evaluate

    result = evaluate(cfg, "model", load_policy(model, device="cpu"), episodes=args.tasks, seed=args.seed,
                      group_size=args.samples, record=False, progress=model, temperature=args.temperature)
    per: dict[int, list[float]] = {}
    for e in result.summaries:
        if not e.failed:
            per.setdefault(e.seed, []).append(float(e.won))
    return result.success, {task: sum(v) / len(v) for task, v in per.items()}


def main(argv=None) -> None:
    args = parse_args(argv)
    import torch

    from spear_train.training.run_config import resolve_run_config

    torch.set_num_threads(args.threads)
    cfg = resolve_run_config({"algo": "spear", "env": args.env, "device": "cpu"})
    start = time.perf_counter()
    before, per_before = task_means(cfg, args.before, args)
    after, per_after = task_means(cfg, args.after, args)
    diffs = [per_after[t] - per_before[t] for t in per_before if t in per_after]
    mean = sum(diffs) / len(diffs)
    se = math.sqrt(sum((d - mean) ** 2 for d in diffs) / (len(diffs) - 1) / len(diffs)) if len(diffs) > 1 else float("nan")
    print(f"{args.env}: before {100 * before:.1f}%, after {100 * after:.1f}% over {args.tasks} tasks x {args.samples} "
          f"samples; gain {100 * mean:+.2f} ± {100 * se:.2f} points (paired over {len(diffs)} tasks; "
          f"{time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
