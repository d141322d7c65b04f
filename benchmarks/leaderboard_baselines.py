"""Make the leaderboards' baseline rows: every preset on the laptop track, and the reference agents.

Rows (each a real run or evaluation, replay-verified, then written to ``leaderboards/submissions/``):

* ``run`` rows, laptop track: ``spear-bench run --algo P --env E --seed S`` with the laptop defaults of
  the day, for every preset that applies to the env (all 8 on ALFWorld and WebShop; the 4 without GiGPO
  on MathTool, whose single-turn-per-state tasks give GiGPO no step groups), seeds 0 1 2 by default; the
  per-seed ``result.json`` files are combined into one row per preset;
* ``eval`` rows, both tracks: the shipped policy with no RL (``--agent model``), the scripted expert and
  the random agent (``spear-bench eval --agent A --scale T``).

A row whose episodes come out identical to a published row's (on laptop math, ``grpo+spear`` plays exactly
``grpo``'s: the replay buffer never fills) is written to ``submissions/same-episodes/`` beside it, since
the repository, like the server, publishes each set of episodes once.

Work is resumable: a row whose (env, track, preset) already has a file in the submissions folder (or its
``same-episodes/``) is skipped (so the committed paper-track expert and random rows stay), a seed whose run
folder holds a ``result.json`` is not trained again, and an interrupted run is continued with
``--resume``. Progress lines say which row runs, how many remain and an ETA from the rows finished so far.

Usage (the full set is many hours of CPU: 20 presets x 3 seeds of the ~5-20 minute laptop run)::

    python benchmarks/leaderboard_baselines.py --envs alfworld                 # ALFWorld first
    python benchmarks/leaderboard_baselines.py --envs alfworld --kinds eval    # only the cheap eval rows
    python benchmarks/leaderboard_baselines.py --list                          # what is done, what remains
    spear-bench leaderboard render                                             # then re-render the tables
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from spear_train.algorithms.presets import PRESET_NAMES

ENVS = ("alfworld", "webshop", "math")
EVAL_AGENTS = ("model", "expert", "random")
TRACKS = ("laptop", "paper")
REPO = Path(__file__).resolve().parents[1]


def presets_for(env: str) -> list[str]:
    """The presets that apply to ``env``: all 8, or the 4 without GiGPO on math."""
    return [p for p in PRESET_NAMES if env != "math" or "gigpo" not in p]


@dataclass
class Row:
    """One leaderboard row to make: its tag (also the marker file name) and how."""

    tag: str
    kind: str  # run | eval
    env: str
    seeds: list[int]
    preset: str = ""
    agent: str = ""
    track: str = "laptop"
    extra: list[str] = field(default_factory=list)


def plan(envs: list[str], kinds: list[str], seeds: list[int], episodes: int) -> list[Row]:
    rows = []
    for env in envs:
        if "eval" in kinds:
            for track in TRACKS:
                for agent in EVAL_AGENTS:
                    agent_seeds = [0] if agent == "expert" else seeds
                    rows.append(Row(f"{env}-{track}-eval-{agent}", "eval", env, agent_seeds, agent=agent, track=track,
                                    extra=["--episodes", str(episodes)]))
        if "run" in kinds:
            for preset in presets_for(env):
                rows.append(Row(f"{env}-laptop-run-{preset}", "run", env, seeds, preset=preset))
    return rows


ENV_IDS = {"alfworld": "spear/ALFWorld-v0", "webshop": "spear/WebShop-v0", "math": "spear/MathTool-v0"}


def row_key(row: Row) -> tuple[str, str, str]:
    """(env id, track, preset) of the row's result: one row per key in the tables."""
    return ENV_IDS[row.env], row.track, f"eval-{row.agent}" if row.kind == "eval" else row.preset


def existing_rows(submissions: Path) -> set[tuple[str, str, str]]:
    """The (env id, track, preset) keys of the result files already in ``submissions``."""
    from spear_train.leaderboard.checks import Rejection, find_setting
    from spear_train.leaderboard.render import submission_paths
    from spear_train.leaderboard.schema import Result

    published, same_episodes = submission_paths(submissions)
    keys = set()
    for path in published + same_episodes:
        result = Result.model_validate_json(path.read_bytes())
        try:
            keys.add((result.env.id, find_setting(result).track, result.preset))
        except Rejection:
            continue
    return keys


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "spear_train.cli.main", *args]


def make_row(row: Row, work: Path, threads: int) -> Path:
    """Run what ``row`` needs and return its (unverified) combined result file."""
    work.mkdir(parents=True, exist_ok=True)
    out = work / f"{row.tag}.json"
    if row.kind == "eval":
        if out.exists():  # made by an earlier, interrupted invocation
            return out
        method = {"model": "shipped policy, no RL", "expert": "expert agent", "random": "random agent"}[row.agent]
        _call(cli("eval", "--env", row.env, "--agent", row.agent, "--scale", row.track, "--seed",
                  *map(str, row.seeds), "--method", method, "--out", str(out), *row.extra), threads)
        return out
    from spear_train.leaderboard.combine import combine_results
    from spear_train.leaderboard.schema import Result

    parts = []
    for seed in row.seeds:
        folder = work / "runs" / row.tag
        result = next(folder.glob(f"*seed{seed}/result.json"), None)
        if result is None:
            resume = ["--resume"] if any(folder.glob(f"*seed{seed}/config.yaml")) else []
            _call(cli("run", "--algo", row.preset, "--env", row.env, "--seed", str(seed), "--out", str(folder),
                      "--quiet", *resume), threads)
            result = next(folder.glob(f"*seed{seed}/result.json"))
        parts.append(Result.model_validate_json(result.read_bytes()))
    out.write_text(combine_results(parts).to_json(indent=None) + "\n", encoding="utf-8")
    return out


def _call(argv: list[str], threads: int) -> None:
    env = {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    import os

    print("  $", " ".join(argv[2:]), flush=True)
    subprocess.run(argv, check=True, cwd=REPO, env={**os.environ, **env})


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--envs", nargs="+", default=list(ENVS), choices=ENVS)
    p.add_argument("--kinds", nargs="+", default=["eval", "run"], choices=["eval", "run"])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], metavar="S")
    p.add_argument("--episodes", type=int, default=100, help="episodes per eval row (default 100, every track's list)")
    p.add_argument("--dir", type=Path, default=REPO / "leaderboards", help="leaderboards folder")
    p.add_argument("--work", type=Path, default=REPO / "runs" / "leaderboard-baselines",
                   help="run folders and intermediate files (kept, so a rerun resumes)")
    p.add_argument("--threads", type=int, default=1, help="torch threads per run (default 1)")
    p.add_argument("--only", nargs="+", default=None, metavar="TAG", help="make only these rows (tags as --list shows)")
    p.add_argument("--list", action="store_true", help="print done/remaining rows and exit")
    args = p.parse_args()
    if len(set(args.seeds)) < 3:
        print("warning: leaderboard baselines use at least 3 seeds", file=sys.stderr)

    import spear_envs  # noqa: F401
    from spear_train.leaderboard.render import DuplicateEvidence, add_same_episodes, add_to_repository
    from spear_train.leaderboard.schema import Result
    from spear_train.leaderboard.verify import verify_result

    rows = plan(args.envs, args.kinds, args.seeds, args.episodes)
    present = existing_rows(args.dir / "submissions")
    missing = [r for r in rows if row_key(r) not in present]
    todo = [r for r in missing if args.only is None or r.tag in args.only]
    print(f"{len(rows)} rows planned, {len(rows) - len(missing)} done, {len(todo)} to make now")
    if args.list:
        for r in todo:
            print(f"  remaining: {r.tag} (seeds {r.seeds})")
        return 0
    start = time.monotonic()
    for i, row in enumerate(todo):
        eta = "" if i == 0 else f", ETA {(time.monotonic() - start) / i * (len(todo) - i) / 60:.0f} min"
        print(f"[{i + 1}/{len(todo)}] {row.tag}{eta}", flush=True)
        path = make_row(row, args.work, args.threads)
        result = Result.model_validate_json(path.read_bytes())
        v = verify_result(result)
        try:
            written = f"wrote {add_to_repository(result, args.dir / 'submissions')}"
        except DuplicateEvidence as dup:
            written = (f"played the very episodes of {dup.existing.name}; "
                       f"wrote {add_same_episodes(result, args.dir / 'submissions')} beside it")
        print(f"  verified on the {v.setting.track} track: success {v.metrics.success_mean:.3f}; {written}")
    print("all rows done; now run: spear-bench leaderboard render")
    return 0


if __name__ == "__main__":
    sys.exit(main())
