"""ALFWorld's game cache: the resets of two laptop evaluations, previous cache setting vs the new ones.

An evaluation resets 100 held-out envs (laptop split: small scenes, ``eval_in_distribution``; batches of
32 as ``spear-bench run`` plays them, recorded envs) and a run evaluates at least twice. Per setting,
from empty in-process caches (the game files on disk are built first): the seconds (wall and CPU) of the
first evaluation's resets (every game new to the process) and of the second's (the same games again).

* ``previous``: ``configure_game_cache(64, 256, reuse_rule_parses=False, sas_store_enabled=False)``: 64
  parsed logics, fewer than an evaluation's games, every new game's grammar parsed from scratch and its
  PDDL translated to SAS twice;
* ``memory``: the in-process game cache alone (``GAME_CACHE_SIZE`` games; a new game reuses earlier rule
  parses), every game new to the process still translated (``sas_store_enabled=False``);
* ``store``: the defaults, which also read the translations from the on-disk SAS store
  (``spear_envs/alfworld/sas_store.py``), warm because the first pass that builds the game files filled
  it: what every process after the first on a machine sees.

The first observation and info of every reset must be the same under every setting (checked).

    python benchmarks/alfworld_game_cache.py [--episodes 100] [--batch 32] [--rounds 1]
"""

from __future__ import annotations

import argparse
import sys
import time

from env_speedups import PREVIOUS_GAME_CACHE, cpu_seconds  # run as a script: benchmarks/ is on sys.path


def evaluation_resets(episodes: int, batch: int) -> tuple[float, float, list]:
    """Reset ``episodes`` held-out envs in batches as an evaluation does: (wall s, CPU s, first outputs)."""
    from spear_train.rollout.workers import make_env_pool
    from spear_train.training.rollout_runner import HeldOutEnvSpec
    from spear_train.task_splits import split_env_kwargs

    spec = HeldOutEnvSpec("spear/ALFWorld-v0", {**split_env_kwargs("laptop", "alfworld", held_out=True),
                                                  "max_steps": 30}, record=True)
    start, cpu, outputs = time.perf_counter(), cpu_seconds(), []
    for first in range(0, episodes, batch):
        seeds = list(range(first, min(first + batch, episodes)))
        pool = make_env_pool(spec, len(seeds))
        outputs += [(o.observation, o.info, o.error) for o in pool.reset(seeds)]
        pool.close()
    return time.perf_counter() - start, cpu_seconds() - cpu, outputs


def main(argv=None) -> int:
    from spear_envs.alfworld.fast_engine import configure_game_cache

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--episodes", type=int, default=100, help="held-out episodes per evaluation")
    p.add_argument("--batch", type=int, default=32, help="envs reset side by side (eval_batch)")
    p.add_argument("--rounds", type=int, default=1, help="rounds of (previous, memory, store), alternating the order")
    args = p.parse_args(argv)
    if min(args.episodes, args.batch, args.rounds) < 1:
        p.error("--episodes, --batch and --rounds must be >= 1")
    settings = {"previous": PREVIOUS_GAME_CACHE, "memory": dict(sas_store_enabled=False), "store": {}}
    names = list(settings)
    print("building the game files (and filling the SAS store) ...", file=sys.stderr, flush=True)
    evaluation_resets(args.episodes, args.batch)
    totals = {name: [0.0, 0.0, 0.0, 0.0] for name in settings}
    reference = None
    for r in range(args.rounds):
        for name in (names if r % 2 == 0 else names[::-1]):
            configure_game_cache(**settings[name])
            first = evaluation_resets(args.episodes, args.batch)
            second = evaluation_resets(args.episodes, args.batch)
            reference = reference or first[2]
            if first[2] != reference or second[2] != reference:
                raise AssertionError(f"round {r}, {name}: resets differ between settings or evaluations")
            for i, v in enumerate((first[0], first[1], second[0], second[1])):
                totals[name][i] += v / args.rounds
            print(f"  round {r} {name}: first {first[0]:.1f} s wall / {first[1]:.1f} s CPU, second "
                  f"{second[0]:.1f} s / {second[1]:.1f} s", file=sys.stderr, flush=True)
    configure_game_cache()
    prev = totals["previous"]
    print(f"ALFWorld held-out resets of an evaluation ({args.episodes} envs, batches of {args.batch}), "
          f"mean of {args.rounds} round(s); ratio = previous / setting")
    print(f"{'seconds':<26}" + "".join(f"{n:>10}" for n in names) + f"{'memory':>9}{'store':>9}")
    for label, i in (("first evaluation, wall", 0), ("first evaluation, CPU", 1),
                     ("second evaluation, wall", 2), ("second evaluation, CPU", 3)):
        print(f"{label:<26}" + "".join(f"{totals[n][i]:>10.1f}" for n in names)
              + "".join(f"{prev[i] / totals[n][i]:>8.2f}x" for n in ("memory", "store")))
    print("per reset, CPU (first then second evaluation): " + ", ".join(
        f"{n} {totals[n][1] / args.episodes:.3f} s then {totals[n][3] / args.episodes:.3f} s" for n in names)
        + "; identical resets: yes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
