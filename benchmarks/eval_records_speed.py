"""Evaluation with records: records kept while the episodes play vs the replay path, same process.

A ``spear-bench run`` evaluation (and ``spear-bench eval``) needs the replayable records of its episodes
(the run's result document, the leaderboard's evidence). The replay path plays the evaluation with plain
held-out envs, then replays every episode's actions in a fresh held-out env to record them
(:func:`spear_train.training.evaluation.episode_records`); the recorded path keeps the records while the
evaluation plays (``evaluate(record=True)``: the held-out envs are wrapped in ``EpisodeRecorder``).

For each env (laptop defaults, the env's shipped tiny policy, the run's evaluation sampling seed) both
paths evaluate the same ``--episodes`` held-out tasks ``--rounds`` times, alternating which goes first;
the records of the two paths are compared as JSON. Printed per env: seconds of each path (play and
replay separately), wall and CPU seconds (this process and its children: the envs step in-process, so
CPU seconds are the work itself, little moved by other jobs on a shared machine), their ratios, and
whether the records and episodes are identical. ``--profile`` adds the top functions of a cProfile of
one recorded evaluation (the replay is gone, so where the rest goes).

Usage (from the repository root)::

    python benchmarks/eval_records_speed.py [--envs alfworld webshop math] [--episodes 100] [--rounds 1]
        [--threads 1] [--seed 0] [--profile] [--top 12]

Figures depend on the machine and its load; compare the ratios.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import resource
import sys
import time
from dataclasses import asdict

import torch

ENVS = ("alfworld", "webshop", "math")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--envs", nargs="+", default=list(ENVS), choices=ENVS, help="envs to measure")
    p.add_argument("--episodes", type=int, default=100, help="held-out episodes per evaluation (laptop: 100)")
    p.add_argument("--rounds", type=int, default=1, help="evaluations per path and env (alternating order)")
    p.add_argument("--threads", type=int, default=1, help="torch threads")
    p.add_argument("--seed", type=int, default=0, help="run seed (evaluation sampling seed derived from it)")
    p.add_argument("--profile", action="store_true", help="also cProfile one recorded evaluation per env")
    p.add_argument("--top", type=int, default=12, help="functions listed per profile")
    args = p.parse_args(argv)
    if args.episodes < 1 or args.rounds < 1 or args.threads < 1 or args.top < 1:
        p.error("--episodes, --rounds, --threads and --top must be >= 1")
    return args


def clocks() -> dict[str, float]:
    """Wall seconds and CPU seconds of this process and its finished children (the envs step in-process,
    the math tool's sandboxes are child processes; CPU seconds are what the work costs whatever else
    the machine runs)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"wall": time.perf_counter(), "cpu": time.process_time() + children.ru_utime + children.ru_stime}


def since(start: dict[str, float]) -> dict[str, float]:
    now = clocks()
    return {k: now[k] - start[k] for k in start}


def replay_path(cfg, policy, episodes: int, seed: int):
    """Evaluate with plain envs, then record by replay; returns (result, records, play s, replay s),
    seconds as ``{"wall": ..., "cpu": ...}``."""
    from spear_train.training.evaluation import episode_records, evaluate

    start = clocks()
    ev = evaluate(cfg, "model", policy, episodes=episodes, seed=seed, record=False)
    play = since(start)
    start = clocks()
    records = episode_records(cfg, ev.summaries)
    return ev, records, play, since(start)


def recorded_path(cfg, policy, episodes: int, seed: int):
    """Evaluate with recording envs; returns (result, records, play s, no replay)."""
    from spear_train.training.evaluation import evaluate

    start = clocks()
    ev = evaluate(cfg, "model", policy, episodes=episodes, seed=seed, record=True)
    return ev, ev.records, since(start), {"wall": 0.0, "cpu": 0.0}


PATHS = {"replay": replay_path, "recorded": recorded_path}
CLOCKS = ("wall", "cpu")


def warm_caches(cfg, episodes: int) -> None:
    """Reset a held-out env on every task the evaluations play, so neither path pays for building or
    loading the env's caches (ALFWorld's generated games, WebShop's catalog)."""
    from spear_train.training.rollout_runner import env_spec, import_env_modules

    import_env_modules(cfg)
    env = env_spec(cfg, held_out=True).make()
    try:
        for seed in range(episodes):
            env.reset(seed=seed)
    finally:
        env.close()


def measure_env(env: str, args) -> dict:
    from spear_train.training.evaluation import eval_agent_seed
    from spear_train.training.run_config import resolve_run_config
    from spear_train.training.run_policy import load_run_policy

    cfg = resolve_run_config({"env": env, "eval_episodes": args.episodes, "device": "cpu", "log_mode": "quiet"})
    policy = load_run_policy(cfg)
    seed = eval_agent_seed(args.seed)
    warm_caches(cfg, args.episodes)
    seconds = {c: {p: {"play": 0.0, "replay": 0.0} for p in PATHS} for c in CLOCKS}
    outputs: dict[str, tuple] = {}
    for r in range(args.rounds):
        for p in (PATHS if r % 2 == 0 else list(PATHS)[::-1]):
            ev, records, play_s, replay_s = PATHS[p](cfg, policy, args.episodes, seed)
            for c in CLOCKS:
                seconds[c][p]["play"] += play_s[c] / args.rounds
                seconds[c][p]["replay"] += replay_s[c] / args.rounds
            outputs[p] = ([asdict(e) for e in ev.summaries], [rec.to_json() for rec in records])
            print(f"  [{env}] round {r}, {p}: play {play_s['wall']:.1f} s ({play_s['cpu']:.1f} s CPU), "
                  f"replay {replay_s['wall']:.1f} s ({replay_s['cpu']:.1f} s CPU)", file=sys.stderr, flush=True)
    result = {"seconds": seconds, "episodes_equal": outputs["replay"][0] == outputs["recorded"][0],
              "records_equal": outputs["replay"][1] == outputs["recorded"][1],
              "records": len(outputs["recorded"][1]),
              "actions": sum(len(e["actions"]) for e in outputs["recorded"][0])}
    if args.profile:
        prof = cProfile.Profile()
        prof.enable()
        PATHS["recorded"](cfg, policy, args.episodes, seed)
        prof.disable()
        result["profile"] = top_functions(prof, args.top)
    return result


def top_functions(prof: cProfile.Profile, top: int) -> str:
    """The ``top`` functions by cumulative time, then by own time (pstats text)."""
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out).strip_dirs()
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)
    return "\n".join(line for line in out.getvalue().splitlines() if line.strip())


def report(env: str, r: dict, args) -> None:
    print(f"\n== {env}: {args.episodes}-episode laptop evaluation with records, shipped tiny policy, "
          f"{args.rounds} round(s), {args.threads} thread(s); {r['records']} records, {r['actions']} actions")
    print(f"{'seconds (mean of rounds)':<34}{'replay path':>14}{'recorded':>12}{'replay / recorded':>20}")
    for c in CLOCKS:
        s = r["seconds"][c]
        total = {p: s[p]["play"] + s[p]["replay"] for p in PATHS}
        print(f"{f'  play ({c})':<34}{s['replay']['play']:>14.1f}{s['recorded']['play']:>12.1f}"
              f"{s['replay']['play'] / s['recorded']['play']:>19.2f}x")
        print(f"{f'  replay for records ({c})':<34}{s['replay']['replay']:>14.1f}{s['recorded']['replay']:>12.1f}")
        print(f"{f'evaluation with records ({c})':<34}{total['replay']:>14.1f}{total['recorded']:>12.1f}"
              f"{total['replay'] / total['recorded']:>19.2f}x")
    print(f"episodes identical: {'yes' if r['episodes_equal'] else 'NO'}; "
          f"records identical (JSON): {'yes' if r['records_equal'] else 'NO'}")
    if "profile" in r:
        print(f"cProfile of one recorded evaluation (adds overhead):\n{r['profile']}")


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    for env in args.envs:
        print(f"measuring {env} ...", file=sys.stderr, flush=True)
        report(env, measure_env(env, args), args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
