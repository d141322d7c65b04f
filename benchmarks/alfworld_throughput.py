"""ALFWorld engine throughput: the stock textworld engine vs ours, on the same generated games, in one run.

Prints, for each engine: steps/s (random admissible commands, no facts, as verl-agent requests), resets/s
of an already-loaded game (what GRPO groups do), the cost of loading + resetting a new game, and the
memory added per env (16 envs in one process, RSS delta), then our/stock ratios. The engines give
byte-identical text (tests/envs/alfworld/test_fast_engine.py); this script only measures.

    python benchmarks/alfworld_throughput.py                  # ALFWorld-sized (large) scenes
    python benchmarks/alfworld_throughput.py --scene-size small --games 6 --steps 100

Targets: ours >= 3x stock steps/s on an ALFWorld-sized scene; reset of a cached game < 100 ms.
"""

from __future__ import annotations

import argparse
import gc
import random
import resource
import time

from spear_envs.alfworld.engine import AlfredEngine
from spear_envs.alfworld.fast_engine import clear_caches
from spear_envs.alfworld.game_generator import TASK_TYPES, GameSpec, load_or_generate


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def measure(games: list[dict], fast: bool, steps: int, resets: int, n_envs: int) -> dict[str, float]:
    clear_caches()
    gc.collect()
    rng = random.Random(0)
    engine = AlfredEngine(fast=fast)
    load_time, reset_time, step_time, n_steps, n_resets = 0.0, 0.0, 0.0, 0, 0
    for game in games:
        t = time.perf_counter()
        engine.load(game)
        state = engine.reset()
        load_time += time.perf_counter() - t
        t = time.perf_counter()
        for _ in range(resets):
            engine.reset()
        reset_time += time.perf_counter() - t
        n_resets += resets
        state = engine.reset()
        t = time.perf_counter()
        for _ in range(steps):
            state = engine.step(rng.choice(state["admissible_commands"]))
            if state["won"]:
                state = engine.reset()
        step_time += time.perf_counter() - t
        n_steps += steps
    # memory per env: n_envs engines in one process, each on its own game, after one reset and a few steps
    gc.collect()
    before = rss_mb()
    envs = []
    for k in range(n_envs):
        e = AlfredEngine(fast=fast)
        e.load(games[k % len(games)])
        s = e.reset()
        for _ in range(3):
            s = e.step(s["admissible_commands"][0])
        envs.append(e)
    gc.collect()
    per_env = (rss_mb() - before) / n_envs
    return {
        "steps/s": n_steps / step_time,
        "resets/s": n_resets / reset_time,
        "reset ms": 1000 * reset_time / n_resets,
        "new game load+reset ms": 1000 * load_time / len(games),
        "MB per env": per_env,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scene-size", default="large", choices=["small", "medium", "large"])
    parser.add_argument("--games", type=int, default=6, help="games (task types cycle)")
    parser.add_argument("--steps", type=int, default=60, help="random steps per game")
    parser.add_argument("--resets", type=int, default=5, help="repeated resets per game")
    parser.add_argument("--envs", type=int, default=16, help="envs held at once for the memory figure")
    args = parser.parse_args()

    games = [load_or_generate(GameSpec("train", args.scene_size, TASK_TYPES[i % 6], i // 6)) for i in range(args.games)]
    receptacles = [g["traj_data"]["scene"]["receptacles"] for g in games]
    print(f"{len(games)} generated {args.scene_size} games, {min(receptacles)}-{max(receptacles)} receptacles; "
          f"{args.steps} random steps and {args.resets} resets per game; memory over {args.envs} envs")
    results = {"stock": measure(games, False, args.steps, args.resets, args.envs)}
    results["ours"] = measure(games, True, args.steps, args.resets, args.envs)
    keys = list(results["stock"])
    print(f"{'':24s}{'stock':>12s}{'ours':>12s}{'ours/stock':>12s}")
    for key in keys:
        a, b = results["stock"][key], results["ours"][key]
        print(f"{key:24s}{a:12.1f}{b:12.1f}{b / a:12.2f}")


if __name__ == "__main__":
    main()
