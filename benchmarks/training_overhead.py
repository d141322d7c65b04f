"""Training overhead and update throughput on the tiny model, measured in one run.

Part 1, SPEAR's overhead: ``drbot`` and ``spear`` (= drbot+spear) train the same policy on ALFWorld with
the laptop defaults, the same seed and the same rollout budget, for ``--steps`` steps each (no evaluation).
Prints seconds per training step (whole step, rollout, update) and the ratio spear / drbot. Target:
SPEAR's overhead at most 5%. Rollouts diverge once the two policies differ, so the update-phase ratio is
the cleaner measure of what SPEAR adds (its replay pass, buffer and baseline upkeep).

Part 2, update throughput vs TRL: one single-turn GRPO update (old log-probs + one AdamW step over
``--prompts`` x ``--generations`` completions of at most ``--completion-tokens`` tokens, all in one
micro-batch, fp32, same threads) on the same model and ALFWorld prompts, ours vs TRL's ``GRPOTrainer``.
TRL's update time is its ``training_step`` time minus its ``_generate_and_score_completions`` time (so
both sides exclude generation); throughput is (prompt + completion tokens) per second of update.
Target: ours at least 1.5x. TRL runs in its own virtual environment (``trl`` is not a dependency of
this project)::

    python3.11 -m venv /tmp/trl-venv
    /tmp/trl-venv/bin/pip install torch==2.13.0
    PIP_CONSTRAINT=/tmp/torch-constraint.txt /tmp/trl-venv/bin/pip install trl
    PIP_CONSTRAINT=/tmp/torch-constraint.txt /tmp/trl-venv/bin/pip install -e .

Usage (from the repository root, in the project's environment)::

    python benchmarks/training_overhead.py [--steps 6] [--trl-python /tmp/trl-venv/bin/python]
        [--model spear-tiny-alfworld] [--config reduced.yaml] [--threads 2] [--skip-overhead] [--skip-trl]

Figures depend on the machine and its load; compare ratios measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from transformers import TrainerCallback


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--model", default="spear-tiny-alfworld", help="built-in name or model folder")
    p.add_argument("--steps", type=int, default=6, help="training steps per preset (part 1)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--config", default=None, metavar="FILE.yaml",
                   help="run-config keys over the laptop defaults for part 1 (e.g. a smaller rollout budget)")
    p.add_argument("--threads", type=int, default=2, help="torch threads on both sides")
    p.add_argument("--prompts", type=int, default=8, help="prompts per GRPO step (part 2)")
    p.add_argument("--generations", type=int, default=4, help="completions per prompt (part 2)")
    p.add_argument("--completion-tokens", type=int, default=24, help="max completion length (part 2)")
    p.add_argument("--repeats", type=int, default=5, help="timed update steps per side (part 2)")
    p.add_argument("--trl-python", default="/tmp/trl-venv/bin/python",
                   help="python of a virtual environment with trl and this project installed")
    p.add_argument("--skip-overhead", action="store_true", help="skip part 1")
    p.add_argument("--skip-trl", action="store_true", help="skip part 2")
    p.add_argument("--trl-worker", default=None, help=argparse.SUPPRESS)  # internal: run TRL's side
    return p.parse_args(argv)


# ----------------------------------------------------------------------------- part 1: SPEAR's overhead
def make_trainer(preset: str, args, out: Path):
    from spear_train.training.loop import Trainer
    from spear_train.training.progress import Progress
    from spear_train.training.run_config import resolve_run_config
    from spear_train.training.run_dir import RunDir

    cfg = resolve_run_config(dict(algo=preset, env="alfworld", model=args.model, steps=args.steps,
                                  out=str(out), log_mode="quiet", device="cpu"), args.config)
    run_dir = RunDir(out / preset, resume=False, tensorboard=False)
    return Trainer(cfg, args.seed, run_dir, Progress("quiet", cfg.steps), resume=False), run_dir


def overhead_table(args) -> None:
    """Steps of the two presets alternate (drbot t, spear t, drbot t+1, ...), so a change in machine
    load between steps hits both alike."""
    rows: dict[str, list[dict]] = {"drbot": [], "spear": []}
    with tempfile.TemporaryDirectory(prefix="spear-overhead-") as tmp:
        trainers = {p: make_trainer(p, args, Path(tmp)) for p in rows}
        try:
            for t in range(1, args.steps + 1):
                for preset, (trainer, _) in trainers.items():
                    row = trainer.train_step(t)
                    rows[preset].append(row)
                    print(f"  {preset} step {t}: {row['time_step']:.1f} s (update {row['time_update']:.1f} s, "
                          f"replay batch {row['replay_batch']})", flush=True)
        finally:
            for trainer, run_dir in trainers.values():
                trainer.rollouts.close()
                run_dir.close()
    times = {p: {k: statistics.fmean(r[f"time_{k}"] for r in rs) for k in ("step", "rollout", "update")}
             | {"samples": statistics.fmean(r.get("trained_samples", 0) for r in rs),
                "replay": sum(r["replay_batch"] for r in rs)} for p, rs in rows.items()}
    d, s = times["drbot"], times["spear"]
    budget = f"laptop defaults{' + ' + args.config if args.config else ''}"
    print(f"\nPart 1: seconds per training step on ALFWorld ({budget}), {args.model}, seed {args.seed}, "
          f"{args.steps} steps each, alternating")
    print("| preset | step (s) | rollout (s) | update (s) | trained samples/step | replayed samples (total) |")
    print("|---|---|---|---|---|---|")
    for name, t in times.items():
        print(f"| {name} | {t['step']:.2f} | {t['rollout']:.2f} | {t['update']:.2f} | {t['samples']:.0f} "
              f"| {t['replay']} |")
    print(f"| spear / drbot | {s['step'] / d['step']:.3f} | {s['rollout'] / d['rollout']:.3f} "
          f"| {s['update'] / d['update']:.3f} | | |")
    print(f"SPEAR overhead per step: {100 * (s['step'] / d['step'] - 1):+.1f}% (update phase: "
          f"{100 * (s['update'] / d['update'] - 1):+.1f}%); target <= +5%")


# ----------------------------------------------------------------------------- part 2: ours vs TRL
def alfworld_prompts(policy, n: int) -> list[str]:
    """Chat-templated prompts of ``n`` ALFWorld training games' first observations."""
    import gymnasium as gym

    import spear_envs  # noqa: F401
    from spear_envs.agent_io import AgentMemory, prompt_builder_for

    env = gym.make("spear/ALFWorld-v0", scene_size="small", num_games=600)
    builder = prompt_builder_for("spear/ALFWorld-v0", history_length=2)
    texts = []
    for i in range(n):
        obs, info = env.reset(seed=i, options={"game_index": i})
        texts.append(policy.prompt_text(builder.messages(AgentMemory.start(obs, info))))
    env.close()
    return texts


def load(args):
    from spear_train.policy.loading import load_policy

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    return load_policy(args.model, device="cpu", dtype=torch.float32)


def our_update_throughput(args, prompts: list[str]) -> dict[str, float]:
    """Our GRPO update (old log-probs, advantages, one AdamW step) on sampled completions."""
    from spear_train.algorithms.grouping import ids_from_keys
    from spear_train.algorithms.grpo_advantage import grpo_advantage
    from spear_train.algorithms.presets import algorithm_preset
    from spear_train.policy.generation import HFGenerator, SamplingConfig
    from spear_train.training.algo_adapter import loss_settings
    from spear_train.training.update import TrainBatch, optimise, recompute_logprobs

    policy = load(args)
    tok = policy.tokenizer
    prompt_ids = [tok.encode(p, add_special_tokens=False) for p in prompts for _ in range(args.generations)]
    gen = HFGenerator(policy.model, tok).generate(
        prompt_ids, SamplingConfig(temperature=1.0, max_new_tokens=args.completion_tokens), seed=args.seed)
    responses = [g.token_ids for g in gen.generations]
    rewards = torch.tensor([float(len(r) % 3) for r in responses], dtype=torch.float64)  # any non-constant reward
    groups = ids_from_keys([i // args.generations for i in range(len(responses))])
    adv = grpo_advantage(rewards, groups, True).tolist()
    algo = algorithm_preset("grpo", "alfworld")
    optimizer = torch.optim.AdamW(policy.model.parameters(), lr=1e-6, weight_decay=0.01)
    pad = tok.pad_token_id
    size = len(responses)
    times = []
    for _ in range(args.repeats + 1):  # the first is a warm-up
        batch = TrainBatch.from_lists(prompt_ids, responses, [[1] * len(r) for r in responses],
                                      [[0.0] * len(r) for r in responses], adv, [True] * size)
        t0 = time.perf_counter()
        batch.old_log_probs = recompute_logprobs(policy.model, batch, pad, size)
        optimise(policy.model, optimizer, batch, loss_settings(algo), pad_id=pad, mini_batch_size=size,
                 micro_batch_size=size, grad_clip=1.0)
        times.append(time.perf_counter() - t0)
    tokens = sum(len(p) + len(r) for p, r in zip(prompt_ids, responses))
    seconds = statistics.median(times[1:])
    return {"seconds": seconds, "tokens": tokens, "tokens_per_s": tokens / seconds, "samples": size}


class StepClock(TrainerCallback):
    """Records each optimiser step's wall time (``on_step_begin`` to ``on_step_end``), plus the generation
    time and token count of each step (filled in by the wrapped ``_generate_and_score_completions``)."""

    def __init__(self):
        self.steps, self.generation, self.tokens, self._t0 = [], [], [], 0.0

    def on_step_begin(self, args, state, control, **kwargs):
        self._t0 = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        self.steps.append(time.perf_counter() - self._t0)


def trl_worker(args) -> None:
    """Runs in the TRL environment: time GRPOTrainer's update on the same model and prompts."""
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    prompts = json.loads(Path(args.trl_worker).read_text())
    policy = load(args)
    model, tok = policy.model, policy.tokenizer
    model.train()
    size = len(prompts) * args.generations
    config = GRPOConfig(
        output_dir=tempfile.mkdtemp(prefix="trl-grpo-"), per_device_train_batch_size=size,
        num_generations=args.generations, max_completion_length=args.completion_tokens,
        max_steps=args.repeats + 1, learning_rate=1e-6, weight_decay=0.01, beta=0.0, temperature=1.0,
        top_k=0, top_p=1.0, max_grad_norm=1.0, use_cpu=True, bf16=False, fp16=False, logging_steps=1000,
        save_strategy="no", report_to=[], seed=args.seed, disable_tqdm=True, gradient_accumulation_steps=1,
        dataloader_num_workers=0, shuffle_dataset=False,
    )
    dataset = Dataset.from_dict({"prompt": prompts * (args.repeats + 2)})

    def reward(completions, **kwargs):
        return [float(len(c) % 3) for c in completions]

    clock = StepClock()
    trainer = GRPOTrainer(model=model, reward_funcs=reward, args=config, train_dataset=dataset,
                          processing_class=tok, callbacks=[clock])
    generate = trainer._generate_and_score_completions

    def timed_generate(*a, **k):
        t0 = time.perf_counter()
        out = generate(*a, **k)
        clock.generation.append(time.perf_counter() - t0)
        clock.tokens.append(int(out["prompt_mask"].sum() + out["completion_mask"].sum()))
        return out

    trainer._generate_and_score_completions = timed_generate
    torch.set_num_threads(args.threads)
    trainer.train()
    # a step (callback begin -> end) = generation + loss/backward + clip + AdamW step; drop generation
    updates = [s - g for s, g in zip(clock.steps[1:], clock.generation[1:])]
    seconds, tokens = statistics.median(updates), statistics.median(clock.tokens[1:])
    print(json.dumps({"seconds": seconds, "tokens": tokens, "tokens_per_s": tokens / seconds, "samples": size,
                      "trl": __import__("trl").__version__}))


def trl_table(args) -> None:
    from spear_train.policy.loading import load_policy

    policy = load_policy(args.model, device="cpu", dtype=torch.float32)
    prompts = alfworld_prompts(policy, args.prompts)
    ours = our_update_throughput(args, prompts)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(prompts, f)
    cmd = [args.trl_python, __file__, "--trl-worker", f.name, *_forwarded(args)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    Path(f.name).unlink()
    if proc.returncode != 0:
        sys.exit(f"the TRL side failed (is trl installed in {args.trl_python}?):\n{proc.stderr[-3000:]}")
    trl = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"\nPart 2: one single-turn GRPO update, {args.model}, {args.prompts} prompts x {args.generations} "
          f"completions (<= {args.completion_tokens} tokens), one micro-batch, fp32, {args.threads} threads; "
          f"median of {args.repeats}")
    print("| trainer | update (s) | tokens per update | update tokens/s |")
    print("|---|---|---|---|")
    print(f"| spear-bench | {ours['seconds']:.3f} | {ours['tokens']} | {ours['tokens_per_s']:.0f} |")
    print(f"| TRL {trl['trl']} GRPOTrainer | {trl['seconds']:.3f} | {trl['tokens']:.0f} | {trl['tokens_per_s']:.0f} |")
    print(f"throughput ratio ours / TRL: {ours['tokens_per_s'] / trl['tokens_per_s']:.2f}x (target >= 1.5x)")


def _forwarded(args) -> list[str]:
    names = ("model", "seed", "threads", "prompts", "generations", "completion_tokens", "repeats")
    return [x for n in names for x in (f"--{n.replace('_', '-')}", str(getattr(args, n)))]


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.trl_worker:
        trl_worker(args)
        return
    torch.set_num_threads(args.threads)
    if not args.skip_overhead:
        overhead_table(args)
    if not args.skip_trl:
        trl_table(args)


if __name__ == "__main__":
    main()
