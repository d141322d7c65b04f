"""``spear-bench run``: train and evaluate an agent with one of the eight presets.

Each seed writes its own run folder ``<out>/<algo>-<env>-seed<S>/`` (see
:mod:`spear_train.training.run_dir`); several seeds run one after the other and are summarised as
mean ± standard error of the final success rate.
"""

from __future__ import annotations

import argparse

EXAMPLES = """\
examples:
  spear-bench run --algo spear --env alfworld          # CPU defaults, shipped tiny policy, 5-10 min on 2 cores
  spear-bench run --algo grpo --env webshop --steps 5 --seed 0 1 2
  spear-bench run --algo gigpo --env alfworld --lr 3e-5 --group-size 8 --set algorithm.clip_ratio_high=0.3
  spear-bench run --algo drbot-gigpo+spear --env alfworld --scale paper --model PATH --device cuda
  spear-bench run --algo spear --env alfworld --resume  # continue after an interruption
  spear-bench run --algo grpo --env alfworld --nproc 2  # data-parallel learner on 2 processes
  torchrun --nnodes 2 --nproc-per-node 8 ... -m spear_train.cli run ...   # several machines: docs/rollouts.md
  spear-bench compare runs/grpo-alfworld-seed* runs/spear-alfworld-seed*   # before/after table, curves
config precedence: preset < env defaults (--scale) < --config FILE.yaml < --set KEY=VALUE < flags
every config key (group_size, groups_per_step, lr, max_turns, train_turns_per_episode, ppo_epochs,
env_kwargs, eval_env_kwargs, algorithm: {...}, ...) can be set in the YAML file or with --set (dotted
keys reach into algorithm, env_kwargs and eval_env_kwargs); --print-config shows every resolved value,
the ones not set anywhere at their defaults. Defaults (laptop scale): train on the env's train split,
evaluate on its held-out split (ALFWorld: 100 of the 140 in-distribution eval games) before training,
every --eval-every steps and at the end, and print success before/after with standard errors.
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
    env_default = "(default: the env defaults of --scale; --print-config shows it)"
    p.add_argument("--algo", default=None, metavar="PRESET",
                   help="grpo, grpo+spear, drbot, drbot+spear, gigpo, gigpo+spear, drbot-gigpo, "
                   "drbot-gigpo+spear, or spear (= drbot+spear). Default: spear")
    p.add_argument("--env", default=None, help="alfworld, webshop or math (or a registered env id). Default: alfworld")
    p.add_argument("--model", default=None, metavar="NAME|PATH",
                   help="built-in model name or model folder (default: the env's shipped tiny policy)")
    p.add_argument("--steps", type=int, default=None, metavar="N", help=f"training steps {env_default}")
    p.add_argument("--seed", type=int, nargs="+", default=None, dest="seeds", metavar="S",
                   help="one or more seeds, run one after the other (default: 0)")
    p.add_argument("--config", default=None, metavar="FILE.yaml", help="YAML file of config keys (default: none)")
    p.add_argument("--set", action="append", default=[], dest="sets", metavar="KEY=VALUE",
                   help="set one config key, value read as YAML (e.g. lr=3e-4, algorithm.clip_ratio_high=0.3, "
                   "env_kwargs.split=eval); repeatable; wins over --config, loses to the dedicated flags "
                   "(default: none)")
    p.add_argument("--lr", type=float, default=None, metavar="LR", help=f"AdamW learning rate {env_default}")
    p.add_argument("--group-size", type=int, default=None, metavar="N",
                   help=f"rollouts per task instance (the group of GRPO/GiGPO) {env_default}")
    p.add_argument("--out", default=None, metavar="DIR", help="parent folder of the run folders (default: runs)")
    p.add_argument("--device", default=None, choices=["auto", "cpu", "cuda"],
                   help="where the policy runs (default: auto, cuda when available)")
    p.add_argument("--env-workers", type=int, default=None, metavar="N",
                   help="parallel env workers (Ray actors); 0 steps envs in-process (default: 0)")
    p.add_argument("--ray-address", default=None, metavar="ADDR",
                   help="join the Ray cluster at ADDR (host:port of its head) for the --env-workers "
                   "(default: start Ray locally)")
    p.add_argument("--nproc", type=int, default=None, metavar="N",
                   help="data-parallel learner on N local processes (torchrun; gloo on CPU, NCCL on GPU); "
                   "across machines run torchrun yourself, see docs/rollouts.md (default: 1, no torchrun)")
    p.add_argument("--scale", default=None, choices=["laptop", "paper"],
                   help="env defaults: laptop (CPU budget, default) or paper (the reference's settings)")
    p.add_argument("--decode-backend", default=None, choices=["auto", "fast", "hf"],
                   help="rollout/eval decoding: fast (static-KV-cache decoder for Qwen2 models such as the "
                   "tiny policies), hf (transformers' generate, the reference) or auto (fast where supported; "
                   "default). Both sample the same ids for the same seed")
    p.add_argument("--prompt-format", default=None, choices=["window", "chat"],
                   help="agent-env prompts: window (the paper's: every turn re-renders the task, a history "
                   "window and the admissible commands) or chat (ALFWorld: one growing conversation, each turn "
                   "extends the last, so decoding and the update reuse it; needs a policy trained on it, see "
                   "docs/rollouts.md, 'Prompt formats'). Default: the env's own")
    p.add_argument("--eval-episodes", type=int, default=None, metavar="N",
                   help="held-out episodes per evaluation, at least 1: a run always evaluates before and after "
                   f"training {env_default}")
    p.add_argument("--eval-every", type=int, default=None, metavar="K",
                   help=f"evaluate every K steps (also at step 0 and the last step) {env_default}")
    p.add_argument("--resume", action="store_true",
                   help="continue each seed's run from its last good checkpoint (the config must be the one "
                   "the run was started with)")
    p.add_argument("--allow-config-change", action="store_true",
                   help="with --resume: continue even though the config changed; the differing keys are "
                   "recorded in metrics.jsonl")
    p.add_argument("--print-config", action="store_true",
                   help="print the resolved run config (YAML: every key, the preset's algorithm config included) "
                   "and exit without training")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--quiet", action="store_true", help="no progress display; print only the summary")
    mode.add_argument("--json-log", action="store_true", help="print one JSON object per step/event to stdout")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from spear_train.cli import CliError
    from spear_train.training.config_check import check_run_config
    from spear_train.config_error import ConfigError
    from spear_train.training.run_config import resolve_run_config
    from spear_train.training.set_overrides import parse_set_items

    flags = {"algo": args.algo, "env": args.env, "model": args.model, "steps": args.steps, "seeds": args.seeds,
             "out": args.out, "device": args.device, "env_workers": args.env_workers, "scale": args.scale,
             "ray_address": args.ray_address, "lr": args.lr, "group_size": args.group_size,
             "eval_episodes": args.eval_episodes, "eval_every": args.eval_every,
             "decode_backend": args.decode_backend, "prompt_format": args.prompt_format,
             "log_mode": "quiet" if args.quiet else "json" if args.json_log else None}
    try:
        cfg = check_run_config(resolve_run_config(flags, args.config, parse_set_items(args.sets)))
    except ConfigError as exc:
        raise CliError(str(exc)) from None
    if args.print_config:
        import dataclasses

        import yaml

        from spear_train.training.algo_adapter import algorithm_config

        algorithm = dataclasses.asdict(algorithm_config(cfg))  # checked above
        print(yaml.safe_dump({**dataclasses.asdict(cfg), "algorithm": algorithm}, sort_keys=False), end="")
        return 0

    from spear_train.training import launch
    from spear_train.training.checkpoint import CheckpointWriteError
    from spear_train.training.distributed import DistributedError, launched_by_torchrun
    from spear_train.training.loop import TrainingError, run_seeds

    if args.allow_config_change and not args.resume:
        raise CliError("--allow-config-change only applies with --resume")
    try:
        if launched_by_torchrun():
            launch.run_distributed(cfg, resume=args.resume, allow_config_change=args.allow_config_change)
        elif args.nproc is not None and args.nproc != 1:
            return launch.launch_local(cfg, args.nproc, resume=args.resume,
                                       allow_config_change=args.allow_config_change)
        else:
            run_seeds(cfg, resume=args.resume, allow_config_change=args.allow_config_change)
    except (ConfigError, TrainingError, DistributedError, CheckpointWriteError) as exc:
        raise CliError(str(exc)) from None
    return 0
