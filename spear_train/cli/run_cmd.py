"""``spear-bench run``: train and evaluate an agent with one of the eight presets.

Each seed writes its own run folder ``<out>/<algo>-<env>-seed<S>/`` (see
:mod:`spear_train.training.run_dir`); several seeds run one after the other and are summarised as
mean ± standard error of the final success rate.
"""

from __future__ import annotations

import argparse

EXAMPLES = """\
examples:
  spear-bench run --algo spear --env alfworld          # CPU defaults, shipped tiny policy, ~20 min
  spear-bench run --algo grpo --env webshop --steps 5 --seed 0 1 2
  spear-bench run --algo drbot-gigpo+spear --env alfworld --scale paper --model PATH --device cuda
  spear-bench run --algo spear --env alfworld --resume  # continue after an interruption
config precedence: preset < env defaults (--scale) < --config FILE.yaml < flags
every config key (group_size, groups_per_step, lr, max_turns, train_turns_per_episode, ppo_epochs,
env_kwargs, eval_env_kwargs, algorithm: {...}, ...) can be set in the YAML file; --print-config shows
the resolved values with their defaults. Defaults (laptop scale): train on the env's train split, evaluate
on its held-out split (ALFWorld: 100 of the 140 in-distribution eval games) before training, every
--eval-every steps and at the end, and print success before/after with standard errors.
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run",
        help="train an agent with a preset (grpo, drbot, gigpo, ... +spear) and evaluate it",
        description="Train a policy on an environment with one of the eight presets, evaluating on the "
        "held-out split before training, every --eval-every steps and at the end.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--algo", default=None, metavar="PRESET",
                   help="grpo, grpo+spear, drbot, drbot+spear, gigpo, gigpo+spear, drbot-gigpo, "
                   "drbot-gigpo+spear, or spear (= drbot+spear). Default: spear")
    p.add_argument("--env", default=None, help="alfworld, webshop or math (or a registered env id). Default: alfworld")
    p.add_argument("--model", default=None, metavar="NAME|PATH",
                   help="built-in model name or model folder (default: the env's shipped tiny policy)")
    p.add_argument("--steps", type=int, default=None, metavar="N", help="training steps")
    p.add_argument("--seed", type=int, nargs="+", default=None, dest="seeds", metavar="S",
                   help="one or more seeds, run one after the other (default: 0)")
    p.add_argument("--config", default=None, metavar="FILE.yaml", help="YAML file of config keys")
    p.add_argument("--out", default=None, metavar="DIR", help="parent folder of the run folders (default: runs)")
    p.add_argument("--device", default=None, choices=["auto", "cpu", "cuda"])
    p.add_argument("--env-workers", type=int, default=None, metavar="N",
                   help="parallel env workers (Ray actors); 0 steps envs in-process")
    p.add_argument("--scale", default=None, choices=["laptop", "paper"],
                   help="env defaults: laptop (CPU budget, default) or paper (the reference's settings)")
    p.add_argument("--decode-backend", default=None, choices=["auto", "fast", "hf"],
                   help="rollout/eval decoding: fast (static-KV-cache decoder for Qwen2 models such as the "
                   "tiny policies), hf (transformers' generate, the reference) or auto (fast where supported; "
                   "default). Both sample the same ids for the same seed")
    p.add_argument("--eval-episodes", type=int, default=None, metavar="N", help="held-out episodes per evaluation")
    p.add_argument("--eval-every", type=int, default=None, metavar="K", help="evaluate every K steps")
    p.add_argument("--resume", action="store_true", help="continue each seed's run from its last good checkpoint")
    p.add_argument("--print-config", action="store_true",
                   help="print the resolved run config (YAML) and exit without training")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--quiet", action="store_true", help="no progress display; print only the summary")
    mode.add_argument("--json-log", action="store_true", help="print one JSON object per step/event to stdout")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from spear_train.cli import CliError
    from spear_train.training.run_config import ConfigError, resolve_run_config

    flags = {"algo": args.algo, "env": args.env, "model": args.model, "steps": args.steps, "seeds": args.seeds,
             "out": args.out, "device": args.device, "env_workers": args.env_workers, "scale": args.scale,
             "eval_episodes": args.eval_episodes, "eval_every": args.eval_every,
             "decode_backend": args.decode_backend,
             "log_mode": "quiet" if args.quiet else "json" if args.json_log else None}
    try:
        cfg = resolve_run_config(flags, args.config)
    except ConfigError as exc:
        raise CliError(str(exc)) from None
    if args.print_config:
        import dataclasses

        import yaml

        from spear_train.training.algo_adapter import algorithm_config

        try:
            algorithm = dataclasses.asdict(algorithm_config(cfg))
        except ConfigError as exc:
            raise CliError(str(exc)) from None
        print(yaml.safe_dump({**dataclasses.asdict(cfg), "algorithm": algorithm}, sort_keys=False), end="")
        return 0

    from spear_train.training.loop import TrainingError, run_seeds

    try:
        run_seeds(cfg, resume=args.resume)
    except (ConfigError, TrainingError) as exc:
        raise CliError(str(exc)) from None
    return 0
