"""Laptop training speed: the fast decoder vs the reference ``generate`` path, paired call by call.

For each env (laptop defaults, shipped tiny policy, ``spear`` preset) one trainer runs ``--steps``
training steps and one ``--eval-episodes`` held-out evaluation with a *paired* generator: every
generation call (one batch of env turns) runs on both backends back to back, ``hf`` (``transformers``'
``generate``, the reference) and ``fast`` (:mod:`spear_train.policy.fast_decode`), in alternating
order, with the same seed. Their sampled ids are compared row by row (the reference's output drives
the envs), and each backend's seconds are summed. Everything else in a step (env steps, prompt
encoding, old log-probs, the update) is the same work for both paths, so it is measured once::

    shared   = step seconds - hf generation - fast generation
    step(b)  = shared + generation seconds of b        (the same for an evaluation)

``--prompt-format chat`` (ALFWorld; with a policy trained on it, ``--model``) also pairs the update:
each step's update runs twice from the same state, first on the reference path (packing off: every
sample's prompt and response forwarded on their own, samples in plain random order), then, after the
model, optimiser and RNG are restored, on the new path (packing: each trajectory's turns share one
forward, :mod:`spear_train.training.logprobs`). The trained result is the new path's. Then::

    shared   = step seconds - both generations - both updates
    step(b)  = shared + generation seconds of b + update seconds of b

Pairing each call makes the ratios robust to the machine's load changing during the run (the
issue-18 measurements were taken with the 2 cores shared by several jobs). Printed per env: seconds per
training step and per 100-episode evaluation (``--eval-episodes`` played, scaled) for both paths and
their ratio, generated tokens per second of generation, and how many sampled rows differed.

Env caches are warmed first (ALFWorld's generated games, WebShop's catalog), so no path pays for
building them. ``--profile`` adds a cProfile breakdown of one more (paired) training step: each phase as
a fraction of what the step would take on each path (prompt encoding, prefill, per-token decoding,
trie mask, env, old log-probs, update).

Then, for the envs whose env work changed (ALFWorld: each game parsed once per process; math: a turn's
tool calls side by side), the env-side speed-ups off vs on with the fast decoder, same seeds, identical
episodes asserted (``benchmarks/env_speedups.py``): a 100-episode evaluation, ``--steps`` training steps
and a second evaluation per setting, wall, CPU and env seconds each. ``--part paired`` or ``--part env``
runs one of the two comparisons.

Usage (from the repository root)::

    python benchmarks/laptop_speed.py [--envs alfworld webshop math] [--steps 2] [--eval-episodes 32]
        [--threads 1] [--seed 0] [--profile] [--part both|paired|env] [--env-eval-episodes 100]
        [--prompt-format window|chat] [--model NAME|PATH]

Figures depend on the machine and its load; compare the ratios.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
import time
from pathlib import Path

import torch

ENVS = ("alfworld", "webshop", "math")
BACKENDS = ("hf", "fast")

#: cProfile buckets shared by both paths: (label, function, file suffix).
SHARED_PHASES = (
    ("prompt encoding (chat template)", "prompt_ids", "policy/loading.py"),
    ("env reset + step", "reset", "rollout/workers.py"),
    ("env reset + step", "step", "rollout/workers.py"),
    ("old log-probs", "recompute_logprobs", "training/update.py"),
    ("update (optimiser passes)", "optimise", "training/update.py"),
)
#: Per-backend buckets: backend -> (label, function, file suffix).
BACKEND_PHASES = {
    "hf": (("generation (all)", "generate", "policy/generation.py"),
           ("  prefill", "_prefill", "generation/utils.py"),
           ("  trie mask", "__call__", "policy/constrained.py")),
    "fast": (("generation (all)", "generate", "policy/fast_decode.py"),
             ("  prefill", "prefill", "policy/fast_kv.py"),
             ("  trie mask", "_mask", "policy/fast_decode.py")),
}


class PairedGenerator:
    """Runs each ``generate`` call on both backends (alternating which goes first), returns the
    reference's batch, and keeps per-backend seconds, generated tokens and differing rows."""

    def __init__(self, model, tokenizer):
        from spear_train.policy.fast_decode import FastGenerator
        from spear_train.policy.generation import HFGenerator

        self.backends = {"hf": HFGenerator(model, tokenizer), "fast": FastGenerator(model, tokenizer)}
        self.stop_ids = self.backends["hf"].stop_ids
        self.reset()

    def reset(self) -> None:
        self.seconds = {b: 0.0 for b in BACKENDS}
        self.calls = self.rows = self.mismatched = self.tokens = 0
        self.max_logprob_diff = 0.0

    def update_weights(self, model) -> None:
        for gen in self.backends.values():
            gen.update_weights(model)

    def generate(self, prompts, sampling, tries=None, seed=None):
        if seed is None:
            raise ValueError("the paired generator needs a seed (both backends must draw the same numbers)")
        order = BACKENDS if self.calls % 2 == 0 else BACKENDS[::-1]
        out = {}
        for b in order:
            start = time.perf_counter()
            out[b] = self.backends[b].generate(prompts, sampling, tries, seed)
            self.seconds[b] += time.perf_counter() - start
        self.calls += 1
        for ref, new in zip(out["hf"].generations, out["fast"].generations):
            self.rows += 1
            self.tokens += len(ref.token_ids)
            if ref.token_ids != new.token_ids:
                self.mismatched += 1
            else:
                diffs = [abs(a - b) for a, b in zip(ref.logprobs, new.logprobs)]
                self.max_logprob_diff = max([self.max_logprob_diff, *diffs])
        return out["hf"]


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--envs", nargs="+", default=list(ENVS), choices=ENVS, help="envs to measure")
    p.add_argument("--steps", type=int, default=2, help="training steps per env (each generation call runs on both paths)")
    p.add_argument("--eval-episodes", type=int, default=32, help="held-out episodes per evaluation (scaled to 100)")
    p.add_argument("--threads", type=int, default=1, help="torch threads")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--profile", action="store_true", help="also profile one more training step (phase fractions per path)")
    p.add_argument("--part", choices=("both", "paired", "env"), default="both",
                   help="paired: hf vs fast decoder; env: env-side speed-ups off vs on (ALFWorld, math); both")
    p.add_argument("--env-eval-episodes", type=int, default=100,
                   help="episodes per evaluation in the env-side comparison (100: more ALFWorld games than the "
                        "previous cache held)")
    p.add_argument("--prompt-format", choices=("window", "chat"), default=None,
                   help="prompt format of the runs (default: each env's own; chat: ALFWorld only, pairs the update too)")
    p.add_argument("--model", default=None, metavar="NAME|PATH",
                   help="start policy (default: each env's shipped tiny policy); use one trained on --prompt-format")
    args = p.parse_args(argv)
    if args.steps < 1 or args.eval_episodes < 0 or args.threads < 1 or args.env_eval_episodes < 1:
        p.error("--steps, --threads and --env-eval-episodes must be >= 1, --eval-episodes >= 0")
    return args


def make_trainer(env: str, seed: int, out: Path, prompt_format: str | None = None, model: str | None = None):
    from spear_train.training.loop import Trainer
    from spear_train.training.progress import Progress
    from spear_train.training.run_config import resolve_run_config
    from spear_train.training.run_dir import RunDir

    cfg = resolve_run_config(dict(algo="spear", env=env, out=str(out), log_mode="quiet", device="cpu",
                                  prompt_format=prompt_format, model=model))
    run_dir = RunDir(out / env, resume=False, tensorboard=False)
    return Trainer(cfg, seed, run_dir, Progress("quiet", cfg.steps), resume=False)


def warm_caches(trainer, steps: int, eval_episodes: int) -> None:
    """Reset the envs on every task the run will play, so on-disk caches are built before timing."""
    from spear_train.rollout.workers import make_env_pool
    from spear_train.training.rollout_runner import env_spec
    from spear_train.training.loop import derive_seed

    cfg, pool = trainer.cfg, trainer.rollouts.pool
    for t in range(1, steps + 1):
        seeds = [derive_seed(derive_seed(trainer.seed, t), g) for g in range(cfg.groups_per_step)]
        pool.reset([s for s in seeds for _ in range(cfg.group_size)])
    if eval_episodes:
        held_out = make_env_pool(env_spec(cfg, held_out=True), eval_episodes, 0)
        held_out.reset(list(range(eval_episodes)))
        held_out.close()


def split(total: float, paired: PairedGenerator, updates: dict[str, float] | None = None) -> dict[str, float]:
    """Seconds each path would take: the shared part plus its own generation (and update) seconds."""
    updates = updates or {b: 0.0 for b in BACKENDS}
    shared = total - sum(paired.seconds.values()) - sum(updates.values())
    return {"shared": shared, **{b: shared + paired.seconds[b] + updates[b] for b in BACKENDS},
            **{f"gen_{b}": paired.seconds[b] for b in BACKENDS}, **{f"update_{b}": updates[b] for b in BACKENDS}}


def pair_updates(trainer, seconds: dict[str, float]) -> None:
    """Make ``trainer.update`` run on the reference path (packing off) and then, from the restored model,
    optimiser and RNG, on the new path; their seconds are added to ``seconds['hf']`` / ``seconds['fast']``."""
    import copy

    from spear_train.training.logprobs import packing

    update = trainer.update

    def paired(batch, replay, c_t, row):
        model, optimizer = trainer.policy.model, trainer.optimizer
        saved = (copy.deepcopy(model.state_dict()), copy.deepcopy(optimizer.state_dict()),
                 trainer.rng.get_state(), batch.tokens)
        with packing(False):
            start = time.perf_counter()
            update(batch, replay, c_t, dict(row))
            seconds["hf"] += time.perf_counter() - start
        model.load_state_dict(saved[0])
        optimizer.load_state_dict(saved[1])
        trainer.rng.set_state(saved[2])
        batch.tokens = saved[3]
        start = time.perf_counter()
        out = update(batch, replay, c_t, row)
        seconds["fast"] += time.perf_counter() - start
        return out

    trainer.update = paired


def profile_fractions(prof: cProfile.Profile, total: float, paired: PairedGenerator,
                      updates: dict[str, float]) -> dict[str, dict[str, float]]:
    """Per path: each phase's cumulative seconds as a fraction of that path's step seconds."""
    stats = pstats.Stats(prof).stats

    def seconds(name: str, suffix: str) -> float:
        # max, not sum: a pool's step calls its host's step of the same name (nested, not separate time)
        return max((v[3] for (file, _, fn), v in stats.items() if fn == name and file.endswith(suffix)),
                   default=0.0)

    out = {}
    for b in BACKENDS:
        other = "fast" if b == "hf" else "hf"
        step = total - paired.seconds[other] - updates.get(other, 0.0)
        phases: dict[str, float] = {}
        for label, name, suffix in BACKEND_PHASES[b]:
            phases[label] = seconds(name, suffix)
        phases["  per-token decoding (rest)"] = phases["generation (all)"] - phases["  prefill"] - phases["  trie mask"]
        paired_update = updates.get(other, 0.0) > 0  # both paths' updates ran: cProfile cannot tell them apart
        for label, name, suffix in SHARED_PHASES:
            if paired_update and name in ("recompute_logprobs", "optimise"):
                continue
            phases[label] = phases.get(label, 0.0) + seconds(name, suffix)
        if paired_update:
            phases["update with old log-probs (this path's, timed)"] = updates[b]
        out[b] = {"step seconds": step, **{k: v / step for k, v in phases.items()}}
    return out


def measure_env(env: str, args, out: Path) -> dict:
    from spear_train.training.evaluation import evaluate
    from spear_train.training.loop import derive_seed

    trainer = make_trainer(env, args.seed, out, args.prompt_format, args.model)
    paired = PairedGenerator(trainer.policy.model, trainer.policy.tokenizer)
    trainer.rollouts.generator = paired
    updates = {b: 0.0 for b in BACKENDS}
    chat = trainer.cfg.prompt_format == "chat"
    if chat:
        pair_updates(trainer, updates)
    warm_caches(trainer, args.steps + (1 if args.profile else 0), args.eval_episodes)
    result: dict = {"steps": [], "mismatched": 0, "rows": 0, "tokens": {b: 0 for b in BACKENDS},
                    "gen_s": {b: 0.0 for b in BACKENDS}, "max_logprob_diff": 0.0}

    def account(paired):
        result["mismatched"] += paired.mismatched
        result["rows"] += paired.rows
        result["max_logprob_diff"] = max(result["max_logprob_diff"], paired.max_logprob_diff)
        for b in BACKENDS:
            result["tokens"][b] += paired.tokens
            result["gen_s"][b] += paired.seconds[b]

    for t in range(1, args.steps + 1):
        paired.reset()
        for b in BACKENDS:
            updates[b] = 0.0
        row = trainer.train_step(t)
        times = split(row["time_step"], paired, updates if chat else None)
        times["update"] = row["time_update"] if not chat else updates["fast"]
        result["steps"].append(times)
        account(paired)
        print(f"  [{env}] step {t}: hf {times['hf']:.1f} s, fast {times['fast']:.1f} s", file=sys.stderr, flush=True)
    if args.eval_episodes:
        paired.reset()
        start = time.perf_counter()
        ev = evaluate(trainer.cfg, "model", trainer.policy, episodes=args.eval_episodes,
                      seed=derive_seed(trainer.seed, 2**20), generator=paired)
        result["eval"] = {k: v * 100 / args.eval_episodes
                          for k, v in split(time.perf_counter() - start, paired).items()}
        result["eval_success"] = ev.success
        account(paired)
    if args.profile:
        paired.reset()
        for b in BACKENDS:
            updates[b] = 0.0
        prof = cProfile.Profile()
        start = time.perf_counter()
        prof.enable()
        trainer.train_step(args.steps + 1)
        prof.disable()
        result["profile"] = profile_fractions(prof, time.perf_counter() - start, paired, updates)
    trainer.rollouts.close()
    return result


def report(env: str, r: dict, args) -> None:
    def mean(key):
        return sum(step[key] for step in r["steps"]) / len(r["steps"])

    fmt = f", {args.prompt_format} prompts" if args.prompt_format else ""
    model = f", model {args.model}" if args.model else ""
    print(f"\n== {env}: {args.steps} training step(s), laptop defaults{fmt}{model}, spear preset, seed {args.seed}, "
          f"{args.threads} thread(s)")
    print(f"{'seconds':<34}{'hf (reference)':>16}{'fast':>10}{'hf / fast':>11}")
    hf, fast = mean("hf"), mean("fast")
    print(f"{'training step':<34}{hf:>16.2f}{fast:>10.2f}{hf / fast:>10.2f}x")
    hf, fast = mean("gen_hf"), mean("gen_fast")
    print(f"{'  generation in the step':<34}{hf:>16.2f}{fast:>10.2f}{hf / fast:>10.2f}x")
    if mean("update_hf") > 0:
        hf, fast = mean("update_hf"), mean("update_fast")
        print(f"{'  update (packing off / on)':<34}{hf:>16.2f}{fast:>10.2f}{hf / fast:>10.2f}x")
        print(f"{'  shared (env, prompts)':<34}{mean('shared'):>16.2f}{mean('shared'):>10.2f}")
    else:
        print(f"{'  shared (env, prompts, update)':<34}{mean('shared'):>16.2f}{mean('shared'):>10.2f}"
              f"   (update {mean('update'):.2f})")
    if "eval" in r:
        e = r["eval"]
        print(f"{'100-episode evaluation':<34}{e['hf']:>16.1f}{e['fast']:>10.1f}{e['hf'] / e['fast']:>10.2f}x"
              f"   ({args.eval_episodes} episodes played, scaled; success {r['eval_success']:.3f})")
        print(f"{'  generation in the evaluation':<34}{e['gen_hf']:>16.1f}{e['gen_fast']:>10.1f}"
              f"{e['gen_hf'] / e['gen_fast']:>10.2f}x")
    tps = {b: r["tokens"][b] / r["gen_s"][b] for b in BACKENDS}
    print(f"{'generated tokens/s (generation)':<34}{tps['hf']:>16.0f}{tps['fast']:>10.0f}"
          f"{tps['fast'] / tps['hf']:>10.2f}x")
    print(f"sampled rows with different ids: {r['mismatched']} / {r['rows']} "
          f"(max |log-prob difference| on equal rows: {r['max_logprob_diff']:.1e})")
    if "profile" in r:
        p = r["profile"]
        print("profile of one more step (fraction of each path's step; cProfile adds overhead):")
        print(f"  {'phase':<36}{'hf':>8}{'fast':>8}")
        for label in p["hf"]:
            if label != "step seconds":
                print(f"  {label:<36}" + "".join(f"{p[b][label]:>8.0%}" for b in BACKENDS))
        print(f"  {'step seconds (profiled)':<36}" + "".join(f"{p[b]['step seconds']:>8.1f}" for b in BACKENDS))


def measure_env_speedups(env: str, args, out: Path) -> None:
    """The env-side comparison of ``env`` (on-disk caches built first), printed."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from env_speedups import compare_env_speedups, report_env_speedups, warm_sandbox

    trainer = make_trainer(env, args.seed, out / f"{env}-warm")
    warm_caches(trainer, args.steps, args.env_eval_episodes)
    trainer.rollouts.close()
    del trainer
    if env == "math":
        warm_sandbox()
    result = compare_env_speedups(env, make_trainer, args.seed, args.steps, args.env_eval_episodes, out)
    report_env_speedups(env, result, args.steps, args.env_eval_episodes)


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        for env in args.envs:
            if args.part in ("both", "paired"):
                print(f"measuring {env} ...", file=sys.stderr, flush=True)
                report(env, measure_env(env, args, Path(tmp)), args)
            if args.part in ("both", "env") and env in ("alfworld", "math"):
                print(f"measuring {env}'s env-side speed-ups ...", file=sys.stderr, flush=True)
                measure_env_speedups(env, args, Path(tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
