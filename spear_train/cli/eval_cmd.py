"""``spear-bench eval``: evaluate a checkpoint (or the expert/random agent) on an env's held-out split."""

from __future__ import annotations

import argparse

EXAMPLES = """\
examples:
  spear-bench eval --env alfworld --checkpoint runs/spear-alfworld-seed0/checkpoints/step_000020
  spear-bench eval --env webshop --agent random --seed 0 1 2 --episodes 50
  spear-bench eval --env alfworld --agent expert --scale paper --out expert.json   # paper track
  spear-bench leaderboard verify expert.json --add && spear-bench leaderboard render
--out writes a result document (leaderboard schema) with every episode's action log. The leaderboard
accepts only its registered settings, one per track: --scale paper (the paper track) and --scale laptop
(the laptop track, what `spear-bench run` evaluates), each with its whole evaluation list (reset seeds
0..N-1, N at least the track's minimum, which `spear-bench leaderboard verify` names when it refuses),
every episode played once and finished.
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval",
        help="evaluate a checkpoint, the scripted expert or a random agent on the held-out split",
        description="Play held-out episodes and print success rate and mean score with standard errors. "
        "--checkpoint takes a run's checkpoint folder (checkpoints/step_NNNNNN, e.g. step_000020), its policy/ folder, or any "
        "model folder or built-in name. Several --seed values replay the same tasks with different sampling "
        "seeds and are summarised as mean ± standard error over seeds.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--checkpoint", default=None, metavar="DIR|NAME", help="model to evaluate (--agent model; default: the env's shipped tiny policy)")
    p.add_argument("--env", required=True, help="alfworld, webshop or math (or a registered env id)")
    p.add_argument("--episodes", type=int, default=None, metavar="N",
                   help="held-out episodes per seed, at least 1 (default: eval_episodes of --config or of the "
                   "env defaults, 100 at laptop scale)")
    p.add_argument("--agent", default="model", choices=["model", "expert", "random"],
                   help="who plays: the model of --checkpoint, the env's scripted expert, or a random agent")
    p.add_argument("--scale", default=None, choices=["laptop", "paper"],
                   help="env defaults and held-out split: laptop (default) or paper (the leaderboard's setting)")
    p.add_argument("--config", default=None, metavar="FILE.yaml",
                   help="run config (e.g. the run's config.yaml) for turn limits, temperature and env kwargs "
                   "(default: the env defaults of --scale)")
    p.add_argument("--device", default=None, choices=["auto", "cpu", "cuda"],
                   help="where the model runs (default: auto, cuda when available)")
    p.add_argument("--seed", type=int, nargs="+", default=[0], dest="seeds", metavar="S",
                   help="sampling seed(s) (default: 0); each seed plays the same held-out tasks")
    p.add_argument("--out", default=None, metavar="RESULT.json",
                   help="write the result document (leaderboard schema, with every episode's action log; "
                   "default: none)")
    p.add_argument("--method", default=None, metavar="NAME",
                   help="display name in the result/leaderboard (default: 'expert agent', 'random agent' "
                   "or the model name)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--no-progress", action="store_true", help="no progress bar over the episodes")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json
    import time
    from pathlib import Path

    from spear_train.cli import CliError
    from spear_train.training.run_config import ConfigError, resolve_run_config

    if args.episodes is not None and args.episodes < 1:
        raise CliError(f"--episodes must be at least 1, got {args.episodes}")
    if len(set(args.seeds)) != len(args.seeds):
        raise CliError(f"--seed lists a seed twice: {args.seeds}")
    out = Path(args.out) if args.out else None
    if out is not None and not out.parent.is_dir():
        raise CliError(f"--out {out}: folder {out.parent} does not exist")
    try:
        cfg = resolve_run_config({"env": args.env, "device": args.device, "eval_episodes": args.episodes,
                                  "scale": args.scale}, args.config)
    except ConfigError as exc:
        raise CliError(str(exc)) from None
    policy, name = None, ""
    if args.agent == "model":
        import dataclasses

        from spear_train.training.run_policy import load_run_policy, model_name
        from spear_train.training.loop import TrainingError

        name = args.checkpoint or model_name(cfg)
        if (Path(name) / "policy" / "config.json").is_file():
            name = str(Path(name) / "policy")
        try:
            policy = load_run_policy(dataclasses.replace(cfg, model=name))
        except TrainingError as exc:
            raise CliError(str(exc)) from None
    from spear_train.training.eval_result import evaluate_seeds

    start = time.perf_counter()
    who = f"model {name}" if policy is not None else f"{args.agent} agent"
    evals = evaluate_seeds(cfg, args.agent, policy, args.seeds, progress="" if args.no_progress else f"eval {who}")
    wall_time_s = time.perf_counter() - start
    if args.json:
        summary = {"per_seed": [{"seed": s, "agent": who, **ev.summary()} for s, ev in evals.items()]}
        print(json.dumps(summary if len(evals) > 1 else summary["per_seed"][0]))
    else:
        for seed, ev in evals.items():
            print(f"{who} on {cfg.env_id}, seed {seed}: success {ev.success:.3f} ± {ev.success_se:.3f}, "
                  f"score {ev.score:.3f} ± {ev.score_se:.3f}, invalid actions {ev.invalid_frac:.1%} "
                  f"({ev.episodes} held-out episodes, temperature {cfg.eval_temperature})")
    if len(evals) > 1 and not args.json:
        from spear_train.training.evaluation import mean_se

        success, success_se = mean_se([ev.success for ev in evals.values()])
        score, score_se = mean_se([ev.score for ev in evals.values()])
        print(f"{who} on {cfg.env_id}: success {success:.3f} ± {success_se:.3f}, score {score:.3f} ± "
              f"{score_se:.3f} (mean ± SE over {len(evals)} seeds)")
    if out is not None:
        write_result(args, cfg, evals, policy, name, wall_time_s, out)
    return 0


def write_result(args, cfg, evals, policy, name: str, wall_time_s: float, out) -> None:
    """Build the result document and write it atomically to ``out`` (an existing file is replaced only
    once the new document is complete)."""
    from spear_train.cli import CliError
    from spear_train.training.eval_result import build_eval_result, policy_model_info, scripted_model_info

    model = policy_model_info(name, policy) if policy is not None else scripted_model_info(args.agent)
    method = args.method or (f"{args.agent} agent" if policy is None else model.name)
    try:
        result = build_eval_result(cfg, args.agent, evals, model=model, method=method, wall_time_s=wall_time_s,
                                   checkpoint=args.checkpoint)
    except ValueError as exc:  # includes pydantic's ValidationError (e.g. an over-long --method)
        raise CliError(f"cannot build the result document: {exc}") from None
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(result.to_json(indent=None) + "\n", encoding="utf-8")
    tmp.replace(out)
    episodes = sum(len(r.episodes) for r in result.runs)
    print(f"wrote {out} ({episodes} episode records, {out.stat().st_size / 1e6:.2f} MB); "
          f"check it with: spear-bench leaderboard verify {out}")
