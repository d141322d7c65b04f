"""MathTool env steps of an evaluation, one after another vs side by side (``EnvHost`` step threads).

Plays ``--episodes`` held-out math problems (laptop split) in batches of ``--batch`` envs, as an
evaluation does, with the scripted solver's turns (a ``code_interpreter`` call running the problem's
solution code, then the boxed answer: the turns the shipped tiny policy was trained to write), once
with ``step_threads=1`` and once with the default (``min(8, batch)``; the shared sandbox pool has
``SHARED_POOL_SIZE`` workers), alternating which goes first over ``--rounds``. Only env resets and
steps are timed (wall and this process's CPU; the sandbox's own CPU is in its workers). Outcomes
(observations, rewards, infos) must be identical between the settings (checked).

    python benchmarks/math_tool_overlap.py [--episodes 100] [--batch 32] [--rounds 2]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time

from env_speedups import cpu_seconds  # run as a script: benchmarks/ is on sys.path


def play(spec, episodes: int, batch: int) -> tuple[float, float, list]:
    """Wall and CPU seconds of the env calls, and every outcome, for one evaluation's episodes."""
    from spear_train.rollout.workers import LocalEnvPool

    wall = cpu = 0.0
    outcomes = []
    for first in range(0, episodes, batch):
        seeds = list(range(first, min(first + batch, episodes)))
        pool = LocalEnvPool(spec, len(seeds))
        try:
            start, c = time.perf_counter(), cpu_seconds()
            out = pool.reset(seeds)
            wall, cpu = wall + time.perf_counter() - start, cpu + cpu_seconds() - c
            live = list(range(len(seeds)))
            while live:
                actions = pool.expert_actions(live)
                start, c = time.perf_counter(), cpu_seconds()
                out = pool.step(actions)
                wall, cpu = wall + time.perf_counter() - start, cpu + cpu_seconds() - c
                outcomes += [(k, o.observation, o.reward, o.terminated, o.truncated, o.info, o.error)
                             for k, o in out.items()]
                live = [k for k, o in out.items() if not (o.terminated or o.truncated or o.error)]
        finally:
            pool.close()
    return wall, cpu, outcomes


def main(argv=None) -> int:
    from spear_envs.math_tool.env import SHARED_POOL_SIZE
    from spear_train.rollout.workers import EnvSpec
    from spear_train.task_splits import split_env_kwargs

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--episodes", type=int, default=100, help="held-out problems per evaluation")
    p.add_argument("--batch", type=int, default=32, help="envs stepped side by side (eval_batch)")
    p.add_argument("--rounds", type=int, default=2, help="rounds of both settings, alternating the order")
    args = p.parse_args(argv)
    if min(args.episodes, args.batch, args.rounds) < 1:
        p.error("--episodes, --batch and --rounds must be >= 1")
    spec = EnvSpec("spear/MathTool-v0", {**split_env_kwargs("laptop", "math", held_out=True), "max_steps": 4})
    settings = {"serial": dataclasses.replace(spec, step_threads=1), "side by side": spec}
    print("starting the sandbox pool ...", file=sys.stderr, flush=True)
    play(spec, min(args.batch, args.episodes), args.batch)  # starts the shared pool's workers
    totals = {name: [0.0, 0.0] for name in settings}
    reference, calls = None, 0
    for r in range(args.rounds):
        for name in (list(settings) if r % 2 == 0 else list(settings)[::-1]):
            wall, cpu, outcomes = play(settings[name], args.episodes, args.batch)
            reference = reference or outcomes
            if outcomes != reference:
                raise AssertionError(f"round {r}, {name}: outcomes differ from the first run's")
            totals[name][0] += wall / args.rounds
            totals[name][1] += cpu / args.rounds
            calls = sum(1 for o in outcomes if o[5]["tool_calls"] and not o[3])
            print(f"  round {r} {name}: {wall:.1f} s wall, {cpu:.1f} s CPU", file=sys.stderr, flush=True)
    serial, overlap = totals["serial"], totals["side by side"]
    print(f"MathTool env resets + steps of a {args.episodes}-episode evaluation (batches of {args.batch}, "
          f"{calls} tool calls, shared sandbox pool of {SHARED_POOL_SIZE}), mean of {args.rounds} round(s)")
    print(f"{'seconds':<18}{'serial':>10}{'side by side':>14}{'ratio':>9}")
    print(f"{'wall':<18}{serial[0]:>10.1f}{overlap[0]:>14.1f}{serial[0] / overlap[0]:>8.2f}x")
    print(f"{'CPU (this process)':<18}{serial[1]:>10.1f}{overlap[1]:>14.1f}")
    print("identical outcomes: yes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
