"""Laptop reproduction of the paper's claim: adding SPEAR to a base algorithm improves the agent.

Pairs (base vs base+SPEAR): ``grpo`` and ``drbot`` on every env, ``gigpo`` on ALFWorld and WebShop
(GiGPO presets are refused for math). Every run trains the env's shipped tiny policy with the laptop
defaults of ``spear-bench run`` except for ``--steps`` and ``--eval-episodes``; it evaluates at step 0
and at the end only.

Paired design: a seed's base and +SPEAR runs share the seed's start (same policy, same run seed) and the
same held-out evaluation tasks, so each seed gives one difference ``d_s = after(+SPEAR) - after(base)``;
the report gives ``mean(d_s) ± SE`` over seeds (``SE = std(d_s) / sqrt(#seeds)``) per env and pair. A
seed's "before" evaluation is the same for every preset: it is played once per process and reused.

Budget (defaults): seeds 0-4, 200 held-out tasks per evaluation, 40 training steps. ALFWorld's laptop
held-out split has 140 generated games, so for more episodes the benchmark generates that many
``eval_in_distribution`` small-scene games (the first 140 are the usual ones; ``spear-bench run``'s
defaults are unchanged). Why 40 steps: the laptop SPEAR buffer holds 32 samples, and 40-step ALFWorld
``grpo+spear`` runs drained it every 4-5 steps (steps 3, 8, 11, 20, ... for seed 0), ~9 drains a run, most
past the 10-step replay warm-up, twice the steps of ``spear-bench run``'s default. Cost, measured: ~14 min
per ALFWorld run with 1 thread beside one other such job (835 s for ``grpo`` seed 0: ~17 s a step, a
200-episode evaluation ~1.5 min), so the 20 runs of the grpo and drbot pairs over 5 seeds take ~2.5 h on
two cores (two processes with their own ``--seeds``). Other runs, same conditions: ALFWorld ``gigpo`` 20-45
min (it trains ~127 samples a step against ``drbot``'s ~94), WebShop 7-22 min, math 12-27 min (the long ends
beside a third job). All 16 presets on the 3 envs (80 runs) are a day or more, hence the stop-and-continue
design. (An earlier default of 100 steps assumed a drain every ~6 steps and ~19 s a step: a day and a half.)

Stop and continue: a run whose ``result.json`` exists is kept and skipped; a run folder without one is
resumed from its last checkpoint. Runs go one at a time; before each the script prints how many remain
and an ETA (mean wall time of the finished runs, kept ones included, x runs left).

Accumulate across machines and checkouts: the results JSON is itself a record of finished runs. A planned
run with no folder under ``--out`` whose record is in ``<results-dir>/laptop_reproduction.json`` with the
same config essentials is kept from there, and the records of runs this invocation did not plan stay in
the document, so later invocations with other ``--seeds``, ``--pairs`` or ``--envs`` add to the committed
results instead of replacing them (each invocation is listed under ``invocations``). ``--report-only``
trains nothing: it writes the JSON and PNG from the finished runs (e.g. over the folders of several
processes that share the work, one per core, each with its own ``--seeds``) and names the runs left out. A results file made
with another budget (``--steps``, ``--eval-episodes``, ``--model``, ``--config``) is refused, not mixed.

Usage::

    python benchmarks/laptop_reproduction.py                       # full budget, hours
    python benchmarks/laptop_reproduction.py --envs alfworld --pairs grpo --seeds 0 1 --steps 20
    # smoke on a real env (minutes): 1 seed, 1 step, 10 tasks, results to a scratch folder
    python benchmarks/laptop_reproduction.py --envs alfworld --pairs grpo --seeds 0 --steps 1 \\
        --eval-episodes 10 --out /tmp/repro --results-dir /tmp/repro

Outputs: ``<results-dir>/laptop_reproduction.json`` (every run's before/after, paired gain, config
essentials, replay statistics, wall time; the per-pair differences) and ``laptop_reproduction.png``
(success after training per preset and env, error bars = SE over seeds). Replay statistics per run,
from ``metrics.jsonl``: ``drains`` (steps with a replay batch), ``replayed_samples`` (sum of
``replay_batch``), ``mixed_group_rate`` (mean of ``mixed_groups``: groups with a win and a loss).
Provenance: a run this script finishes gets ``reproduction_provenance.json`` in its folder (the git commit
of the code that finished it, and whether it resumed an earlier process's folder); its record carries it
as ``code`` (``null`` for runs finished before the file existed). ``invocations`` name the commit of each
invocation, which for ``--report-only`` is the reporting checkout, not the one that trained.

Start weights: each record carries ``start_weights_sha256``, the SHA-256 of the weights the run started
from as its ``result.json`` names them (``sha256sum model.safetensors`` of the shipped policy; ``null`` for
runs finished before results named them). Runs of one env that name different start weights are refused,
not mixed: a shipped policy replaced under the same name starts a new results file.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from spear_train.training.evaluation import mean_se
from spear_train.training.loop import run_folder, run_seeds
from spear_train.training.run_config import resolve_run_config

ENVS = ("alfworld", "webshop", "math")
PAIRS = {"alfworld": ("grpo", "drbot", "gigpo"), "webshop": ("grpo", "drbot", "gigpo"), "math": ("grpo", "drbot")}
ALFWORLD_HELDOUT_GAMES = 140  # the laptop held-out split's size (spear_train.task_splits.ENV_SPLITS)
RESULT_NAME = "laptop_reproduction"
PROVENANCE = "reproduction_provenance.json"  # in each run folder this script trained: the code that finished it
#: Run-config keys that select each env (tests point an entry at a toy env; --config cannot, flags win).
ENV_FLAGS: dict[str, dict] = {env: {"env": env} for env in ENVS}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--envs", nargs="+", default=list(ENVS), choices=ENVS, metavar="ENV",
                   help=f"envs to run (default: all of {', '.join(ENVS)})")
    p.add_argument("--pairs", nargs="+", default=["grpo", "drbot", "gigpo"], choices=("grpo", "drbot", "gigpo"),
                   metavar="BASE", help="base presets, each run against BASE+spear (gigpo skipped on math)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4], metavar="S",
                   help="run seeds; each gives one paired difference (default 0 1 2 3 4)")
    p.add_argument("--steps", type=int, default=40, help="training steps per run (default 40, see above)")
    p.add_argument("--eval-episodes", type=int, default=200, metavar="N", help="held-out tasks per evaluation (default 200)")
    p.add_argument("--model", default=None, help="start policy (default: each env's shipped tiny policy)")
    p.add_argument("--config", default=None, metavar="FILE.yaml", help="extra run config keys for every run")
    p.add_argument("--out", default="runs/laptop-reproduction", help="parent folder of the run folders")
    p.add_argument("--results-dir", default="benchmarks/results", help="where the JSON and PNG go")
    p.add_argument("--report-only", action="store_true",
                   help="train nothing: write the JSON and PNG from the finished runs (folders or recorded), "
                        "listing the planned runs left out")
    args = p.parse_args(argv)
    for name in ("steps", "eval_episodes"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    return args


def plan(envs: list[str], bases: list[str]) -> list[tuple[str, str]]:
    """(env, preset) for every run, base before +spear, in env order."""
    return [(env, preset) for env in envs for base in PAIRS[env] if base in bases
            for preset in (base, f"{base}+spear")]


def run_config(args: argparse.Namespace, env: str, preset: str, seed: int):
    """The resolved RunConfig of one run (ALFWorld: a held-out split of >= ``eval_episodes`` games)."""
    flags = dict(algo=preset, **ENV_FLAGS[env], seeds=[seed], steps=args.steps, eval_episodes=args.eval_episodes,
                 eval_every=args.steps, model=args.model, out=args.out, log_mode="quiet")
    sets = {}
    if env == "alfworld" and args.eval_episodes > ALFWORLD_HELDOUT_GAMES:
        sets = {"eval_env_kwargs": {"num_games": args.eval_episodes}}
    return resolve_run_config(flags, args.config, sets=sets, sets_source="laptop_reproduction")


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def replay_stats(rows: list[dict]) -> dict:
    """Replay statistics of a run from its metrics.jsonl rows (training rows only)."""
    train = [r for r in rows if r.get("kind") == "train" and not r.get("skipped")]
    mixed = [r["mixed_groups"] for r in train if "mixed_groups" in r]
    return {"train_steps": len(train), "drains": sum(r.get("replay_batch", 0) > 0 for r in train),
            "replayed_samples": int(sum(r.get("replay_batch", 0) for r in train)),
            "mixed_group_rate": sum(mixed) / len(mixed) if mixed else None}


def run_record(cfg, env: str, preset: str, seed: int, summary: dict) -> dict:
    """One run's entry of the results JSON (``code``: the run folder's provenance, ``None`` for runs finished
    before the script wrote one)."""
    keep = ("before", "before_se", "after", "after_se", "gain", "gain_se", "wall_time_s", "run_dir")
    folder = Path(summary["run_dir"])
    code = read_provenance(folder)
    start = json.loads((folder / "result.json").read_text())["model"].get("weights_sha256")
    return {"env": env, "preset": preset, "seed": seed, **{k: summary[k] for k in keep},
            "config": config_essentials(cfg), "start_weights_sha256": start,
            "replay": replay_stats(read_jsonl(folder / "metrics.jsonl")), "code": code}


def check_one_start(runs: list[dict]) -> None:
    """Exit with a clear error, writing nothing, when runs of one env name different start weights (e.g. the
    shipped policy was replaced under the same name between runs); records without a digest are older."""
    for env in dict.fromkeys(r["env"] for r in runs):
        starts: dict[str, list[str]] = {}
        for r in runs:
            if r["env"] == env and r.get("start_weights_sha256"):
                starts.setdefault(r["start_weights_sha256"], []).append(f"{r['preset']} seed {r['seed']}")
        if len(starts) > 1:
            named = "; ".join(f"{digest[:12]}: {', '.join(who)}" for digest, who in starts.items())
            sys.exit(f"laptop_reproduction: the {env} runs started from different weights ({named}); a paired "
                     f"comparison needs one start. Put the runs of the new weights in another --out and "
                     f"--results-dir.")


def read_provenance(folder: Path) -> dict | None:
    """The provenance ``write_provenance`` left in a run folder (None when there is none). Exits with a clear
    error, touching nothing, when the file is there but is not one this script wrote (e.g. a bad hand edit)."""
    path = folder / PROVENANCE
    if not path.exists():
        return None
    try:
        doc = json.loads(path.read_text())
        if not isinstance(doc, dict) or not {"commit", "resumed"} <= doc.keys():
            raise ValueError("no 'commit' and 'resumed' fields")
    except ValueError as exc:  # json.JSONDecodeError is a ValueError
        sys.exit(f"laptop_reproduction: {path} is not a provenance file of this script ({exc}); restore it, or "
                 f"delete it and that run's record says code: null")
    return doc


def write_provenance(folder: Path, commit: str | None, resumed: bool) -> None:
    """Record in a run folder, once it finished, which code finished it: the commit (``None`` outside a git
    checkout) and whether it resumed a folder an earlier process had started (maybe with other code)."""
    write_json({"commit": commit, "resumed": resumed,
                "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}, folder / PROVENANCE)


def config_essentials(cfg) -> dict:
    """The settings a run record carries; a recorded run is reused only when they are equal (as JSON)."""
    from spear_train.training.run_policy import model_name

    keys = ("steps", "groups_per_step", "group_size", "lr", "eval_episodes", "env_kwargs", "eval_env_kwargs")
    return json.loads(json.dumps({"model": model_name(cfg), **{k: getattr(cfg, k) for k in keys}}, default=str))


def git_commit() -> str | None:
    """The commit of the code that ran (None outside a git checkout)."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent, capture_output=True,
                             text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return (out.stdout.strip() or None) if out.returncode == 0 else None


def check_same_config(folder: Path, cfg) -> None:
    """Exit with a clear error when ``folder`` holds a run started with other settings (e.g. another
    ``--steps``): keeping or resuming it would mix budgets. Nothing in the folder is touched."""
    from spear_train.training.algo_adapter import algorithm_config
    from spear_train.training.resume_guard import ConfigChangedError, check_resumed_config

    try:
        check_resumed_config(folder / "config.yaml", cfg, dataclasses.asdict(algorithm_config(cfg)), False)
    except ConfigChangedError as exc:
        sys.exit(f"laptop_reproduction: {exc}\nUse another --out for a different budget, or the settings that "
                 f"folder was made with.")


def finished_summary(folder: Path) -> dict | None:
    """The summary of a finished run read back from its folder (None when it has no result.json)."""
    from spear_train.training.evaluation import paired_gain
    if not (folder / "result.json").exists():
        return None
    evals = [r for r in read_jsonl(folder / "metrics.jsonl") if r.get("kind") == "eval"]
    before, after = evals[0], evals[-1]
    gain, gain_se, _ = paired_gain(*(read_jsonl(folder / "eval" / f"step_{r['step']:06d}.jsonl") for r in (before, after)))
    result = json.loads((folder / "result.json").read_text())
    return {"run_dir": str(folder), "before": before["success"], "before_se": before["success_se"],
            "after": after["success"], "after_se": after["success_se"], "gain": gain, "gain_se": gain_se,
            "wall_time_s": result.get("wall_time_s", result.get("compute", {}).get("wall_time_s"))}


def pair_differences(runs: list[dict]) -> list[dict]:
    """Per env and pair: SPEAR minus base success after training, mean ± SE over the seeds run by both (SE
    ``None`` for a single seed)."""
    out = []
    for env in dict.fromkeys(r["env"] for r in runs):
        for base in dict.fromkeys(r["preset"] for r in runs if r["env"] == env and "+" not in r["preset"]):
            by = {p: {r["seed"]: r for r in runs if r["env"] == env and r["preset"] == p}
                  for p in (base, f"{base}+spear")}
            seeds = sorted(set(by[base]) & set(by[f"{base}+spear"]))
            if not seeds:
                continue
            diffs = [by[f"{base}+spear"][s]["after"] - by[base][s]["after"] for s in seeds]
            mean, se = mean_se(diffs)
            out.append({"env": env, "pair": f"{base} vs {base}+spear", "seeds": seeds, "spear_minus_base": mean,
                        "se": se if len(seeds) > 1 else None, "per_seed": diffs,  # one seed: no SE
                        "replay": {p: _mean_replay([by[p][s]["replay"] for s in seeds]) for p in by}})
    return out


def _mean_replay(stats: list[dict]) -> dict:
    keys = ("drains", "replayed_samples", "mixed_group_rate")
    means = {k: mean_se([s[k] for s in stats if s[k] is not None])[0] for k in keys}
    return {k: None if v != v else v for k, v in means.items()}  # None, not NaN: the JSON stays standard


def plot(runs: list[dict], path: Path) -> None:
    """Bar chart: success after training (%) per preset (its number of seeds in brackets), grouped by env;
    error bars = SE over seeds; a dashed line at the env's mean success before training (the shipped policy
    on the same tasks, over all the env's runs)."""
    from spear_train.training.plots import pyplot
    plt = pyplot()
    envs = list(dict.fromkeys(r["env"] for r in runs))
    fig, axes = plt.subplots(1, len(envs), figsize=(4.5 * len(envs), 3.6), squeeze=False)
    for ax, env in zip(axes[0], envs):
        presets = list(dict.fromkeys(r["preset"] for r in runs if r["env"] == env))
        stats = [mean_se([r["after"] for r in runs if r["env"] == env and r["preset"] == p]) for p in presets]
        colors = ["tab:orange" if "+spear" in p else "tab:blue" for p in presets]
        ax.bar(range(len(presets)), [100 * m for m, _ in stats], yerr=[100 * s for _, s in stats], color=colors,
               capsize=4)
        before = mean_se([r["before"] for r in runs if r["env"] == env])[0]
        ax.axhline(100 * before, color="gray", linestyle="--", linewidth=1, label=f"before training {100 * before:.1f}")
        ax.legend(loc="lower right", fontsize=8)
        seeds = [sum(r["env"] == env and r["preset"] == p for r in runs) for p in presets]
        ax.set_xticks(range(len(presets)), [f"{p} ({n})" for p, n in zip(presets, seeds)], rotation=30, ha="right")
        ax.set_xlabel("preset (seeds)", fontsize=8)
        top = max(100 * (m + e) for m, e in stats)
        ax.set_ylim(0, max(5.0, 1.2 * top))
        for x, (m, e) in enumerate(stats):
            ax.annotate(f"{100 * m:.1f}", (x, 100 * (m + e)), ha="center", va="bottom", fontsize=8,
                        xytext=(0, 2), textcoords="offset points")
        ax.set_title(env)
        ax.set_ylabel("success after training (%)")
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)


BUDGET_KEYS = ("steps", "eval_episodes", "model", "config")


def recorded_runs(path: Path, args: argparse.Namespace) -> tuple[dict, list[dict]]:
    """Run records and invocations of an existing results JSON made with this budget ({} and [] when none).
    Exits with a clear error, touching nothing, when the file is unreadable or holds another budget."""
    if not path.exists():
        return {}, []
    try:
        doc = json.loads(path.read_text())
        settings, runs = doc["settings"], doc["runs"]
        records = {(r["env"], r["preset"], int(r["seed"])): {"code": None, **r} for r in runs}  # older: no code
    except (ValueError, KeyError, TypeError) as exc:
        sys.exit(f"laptop_reproduction: {path} is not a results file of this script ({exc!r}); move it away "
                 f"or use another --results-dir")
    differ = [f"{k}: {settings.get(k)!r} -> {getattr(args, k)!r}" for k in BUDGET_KEYS
              if settings.get(k) != getattr(args, k)]
    if differ:
        sys.exit(f"laptop_reproduction: {path} holds runs of another budget ({'; '.join(differ)}); use another "
                 f"--results-dir for a different budget, or that file's settings")
    return records, list(doc.get("invocations", []))


def write_json(doc: dict, path: Path) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=2, default=str) + "\n")
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    jobs = [(env, preset, seed) for seed in args.seeds for env, preset in plan(args.envs, args.pairs)]
    if not jobs:
        sys.exit("nothing to run: no pair of --pairs applies to --envs (gigpo is not run on math)")
    results = Path(args.results_dir)
    results_json = results / f"{RESULT_NAME}.json"
    recorded, invocations = recorded_runs(results_json, args)
    commit = git_commit()  # the code this invocation runs: its runs' provenance and its invocations entry
    initial_evals: dict = {}  # (seed, eval settings) -> the step-0 evaluation, played once per process
    runs, durations, start = [], [], time.perf_counter()
    for i, (env, preset, seed) in enumerate(jobs):
        cfg = run_config(args, env, preset, seed)
        folder = run_folder(cfg, seed)
        check_same_config(folder, cfg)
        summary = finished_summary(folder)
        started = folder.exists() and any(folder.iterdir())
        earlier = recorded.get((env, preset, seed))
        if summary is None and not started and earlier is not None and earlier.get("config") == config_essentials(cfg):
            print(f"[{i + 1}/{len(jobs)}] {preset} on {env}, seed {seed}: recorded in {results_json}, kept", flush=True)
            if earlier.get("wall_time_s"):
                durations.append(float(earlier["wall_time_s"]))
            runs.append(earlier)
            continue
        if summary is not None:
            print(f"[{i + 1}/{len(jobs)}] {preset} on {env}, seed {seed}: finished earlier, kept ({folder})", flush=True)
            if summary["wall_time_s"]:
                durations.append(float(summary["wall_time_s"]))
        elif args.report_only:
            print(f"[{i + 1}/{len(jobs)}] {preset} on {env}, seed {seed}: not finished, left out (--report-only)",
                  flush=True)
            continue
        else:
            left = len(jobs) - i
            eta = f"ETA {sum(durations) / len(durations) * left / 60:.0f} min" if durations else "ETA after the first run"
            print(f"[{i + 1}/{len(jobs)}] {preset} on {env}, seed {seed}: {'resuming' if started else 'starting'}; "
                  f"{left} runs left, {eta}", flush=True)
            t0 = time.perf_counter()
            summary = run_seeds(cfg, resume=started, initial_evals=initial_evals)[0]
            durations.append(time.perf_counter() - t0)
            write_provenance(Path(summary["run_dir"]), commit, resumed=started)
        runs.append(run_record(cfg, env, preset, seed, summary))
    planned = {(r["env"], r["preset"], r["seed"]) for r in runs}
    runs += [r for key, r in recorded.items() if key not in planned]  # earlier invocations' other runs stay
    runs.sort(key=lambda r: (ENVS.index(r["env"]), r["seed"], r["preset"]))
    if not runs:
        sys.exit("laptop_reproduction: no finished run to report")
    check_one_start(runs)
    pairs = pair_differences(runs)
    results.mkdir(parents=True, exist_ok=True)
    invocations.append({"argv": list(sys.argv[1:] if argv is None else argv), "commit": commit,
                        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    doc = {"settings": {"envs": sorted({r["env"] for r in runs}, key=ENVS.index),
                        "pairs": sorted({r["preset"] for r in runs if "+" not in r["preset"]}),
                        "seeds": sorted({r["seed"] for r in runs}),
                        **{k: getattr(args, k) for k in BUDGET_KEYS}},
           "pairs": pairs, "runs": runs, "invocations": invocations}
    write_json(doc, results_json)
    plot(runs, results / f"{RESULT_NAME}.png")
    print(f"\nLaptop reproduction: {args.steps} steps, {args.eval_episodes} held-out tasks per evaluation, "
          f"seeds {doc['settings']['seeds']}; SPEAR minus base success after training (mean ± SE over seeds, paired by seed)")
    print("| env | pair | seeds | SPEAR - base (pp) | drains base / +spear | replayed samples | mixed groups base / +spear |")
    print("|---|---|---|---|---|---|---|")
    for p in pairs:
        base, spear = p["replay"].values()
        se = f"{100 * p['se']:.1f}" if len(p["seeds"]) > 1 else "n/a (1 seed)"
        print(f"| {p['env']} | {p['pair']} | {len(p['seeds'])} | {100 * p['spear_minus_base']:+.1f} ± {se} "
              f"| {base['drains'] or 0:.1f} / {spear['drains'] or 0:.1f} | {spear['replayed_samples'] or 0:.0f} "
              f"| {_pct(base['mixed_group_rate'])} / {_pct(spear['mixed_group_rate'])} |")
    print(f"wall time {time.perf_counter() - start:.0f} s -> {results / RESULT_NAME}.json, .png")


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.0f}%"


if __name__ == "__main__":
    main()
