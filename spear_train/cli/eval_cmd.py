"""``spear-bench eval``: evaluate a checkpoint (or the expert/random agent) on an env's held-out split."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval",
        help="evaluate a checkpoint, the scripted expert or a random agent on the held-out split",
        description="Play held-out episodes and print success rate and mean score with standard errors. "
        "--checkpoint takes a run's checkpoint folder (checkpoints/step_N), its policy/ folder, or any "
        "model folder or built-in name.",
    )
    p.add_argument("--checkpoint", default=None, metavar="DIR|NAME", help="model to evaluate (--agent model)")
    p.add_argument("--env", required=True, help="alfworld, webshop or math (or a registered env id)")
    p.add_argument("--episodes", type=int, default=None, metavar="N", help="held-out episodes (default: 100)")
    p.add_argument("--agent", default="model", choices=["model", "expert", "random"])
    p.add_argument("--config", default=None, metavar="FILE.yaml",
                   help="run config (e.g. the run's config.yaml) for turn limits, temperature and env kwargs")
    p.add_argument("--device", default=None, choices=["auto", "cpu", "cuda"])
    p.add_argument("--seed", type=int, default=0, help="sampling seed")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from spear_train.cli import CliError
    from spear_train.training.run_config import ConfigError, resolve_run_config

    try:
        cfg = resolve_run_config({"env": args.env, "device": args.device, "eval_episodes": args.episodes},
                                 args.config)
    except ConfigError as exc:
        raise CliError(str(exc)) from None
    policy = None
    if args.agent == "model":
        import dataclasses

        from spear_train.training.environment import load_run_policy
        from spear_train.training.loop import TrainingError

        name = args.checkpoint or cfg.model
        if name and (Path(name) / "policy" / "config.json").is_file():
            name = str(Path(name) / "policy")
        try:
            policy = load_run_policy(dataclasses.replace(cfg, model=name))
        except TrainingError as exc:
            raise CliError(str(exc)) from None
    from spear_train.training.evaluation import evaluate

    result = evaluate(cfg, args.agent, policy, seed=args.seed)
    if args.json:
        print(json.dumps(result.summary()))
    else:
        print(f"{args.agent} on {cfg.env_id}: success {result.success:.3f} ± {result.success_se:.3f}, "
              f"score {result.score:.3f} ± {result.score_se:.3f}, invalid actions {result.invalid_frac:.1%} "
              f"({result.episodes} held-out episodes, temperature {cfg.eval_temperature})")
    return 0
