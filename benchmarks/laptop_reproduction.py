"""Laptop reproduction of the paper's claim: adding SPEAR to GRPO and to Dr.BoT improves the agent.

For each preset pair (``grpo`` vs ``grpo+spear``, ``drbot`` vs ``drbot+spear``) every seed trains the same
shipped tiny policy on ALFWorld with the same budget (the laptop defaults of ``spear-bench run``, or the
flags below), evaluating on the same held-out games before and after. The "before" evaluation of a
seed is the same for every preset (same policy, tasks and sampling seed): it is played once and reused.
Prints, per preset, success before and after as mean ± standard error over seeds, and the gain with its
SE over seeds.

Usage (full budget: 4 presets x 3 seeds x the ~20-minute laptop run, several hours on 2 cores)::

    python benchmarks/laptop_reproduction.py
    python benchmarks/laptop_reproduction.py --steps 4 --eval-episodes 30 --seeds 0 1 2   # reduced
    python benchmarks/laptop_reproduction.py --presets grpo grpo+spear --config my.yaml --out /tmp/repro

Run folders go to ``--out`` (one per preset and seed; see ``spear-bench run``). Numbers depend on the
budget: a reduced run shows the plumbing, not the paper's effect size.
"""

from __future__ import annotations

import argparse
import time

from spear_train.training.evaluation import mean_se
from spear_train.training.loop import run_seeds
from spear_train.training.run_config import resolve_run_config

PRESETS = ("grpo", "grpo+spear", "drbot", "drbot+spear")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--presets", nargs="+", default=list(PRESETS), metavar="PRESET")
    p.add_argument("--env", default="alfworld")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], metavar="S")
    p.add_argument("--steps", type=int, default=None, help="training steps (default: the laptop default)")
    p.add_argument("--eval-episodes", type=int, default=None, metavar="N",
                   help="held-out episodes per evaluation (default: the laptop default, 100)")
    p.add_argument("--model", default=None, help="start policy (default: the env's shipped tiny policy)")
    p.add_argument("--config", default=None, metavar="FILE.yaml", help="extra run config keys for every run")
    p.add_argument("--out", default="runs/laptop-reproduction", help="parent folder of the run folders")
    return p.parse_args()


def fmt(values: list[float]) -> str:
    mean, se = mean_se(values)
    return f"{100 * mean:5.1f} ± {100 * se:4.1f}"


def main() -> None:
    args = parse_args()
    rows = []
    initial_evals: dict = {}  # every preset starts from the same policy: its "before" is played once per seed
    start = time.perf_counter()
    for preset in args.presets:
        flags = dict(algo=preset, env=args.env, seeds=args.seeds, steps=args.steps,
                     eval_episodes=args.eval_episodes, eval_every=args.steps, model=args.model,
                     out=args.out, log_mode="quiet")
        cfg = resolve_run_config(flags, args.config)
        t0 = time.perf_counter()
        summaries = run_seeds(cfg, initial_evals=initial_evals)
        rows.append((preset, cfg, summaries, time.perf_counter() - t0))
    print()
    print(f"ALFWorld laptop reproduction: {rows[0][1].steps} steps, {rows[0][1].eval_episodes} held-out "
          f"episodes per evaluation, seeds {args.seeds}; success in % (mean ± SE over seeds)")
    print("| preset | before | after | gain | wall time per seed (s) |")
    print("|---|---|---|---|---|")
    for preset, cfg, summaries, wall in rows:
        print(f"| {preset} | {fmt([s['before'] for s in summaries])} | {fmt([s['after'] for s in summaries])} "
              f"| {fmt([s['after'] - s['before'] for s in summaries])} | {wall / len(summaries):.0f} |")
    print(f"total wall time {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
