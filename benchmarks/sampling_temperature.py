"""How a policy's groups mix at other sampling temperatures: ``eval.json``'s ``sampled`` figure (groups of
``--group-size`` episodes per held-out task, the tasks and harness of ``spear-bench sft --eval-only``)
measured at each ``--temperatures`` value.

Why: a group-relative update learns only from mixed groups (a win and a loss), and the shipped policies aim
at >= 30% mixed groups of 4 at the training temperature (docs/models.md, 'Shipped checkpoints'). Sampling
hotter is the cheapest lever on that rate; this measures whether it pulls. The row at T=1.0 is the
``sampled`` figure of the policy's ``eval.json`` when both play the same tasks. The math figure in
docs/models.md (T=1.2 on 400 tasks: 18.25% success, 27% mixed groups; ~11 min beside two other jobs) was
measured with the library calls this script makes, before the script existed; to measure it again::

    python benchmarks/sampling_temperature.py --env math --tasks 400 --temperatures 1.2
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--env", default="math", help="alfworld, webshop or math (default math)")
    p.add_argument("--model", default=None, metavar="MODEL",
                   help="policy name or model folder (default: the env's shipped spear-tiny-* policy)")
    p.add_argument("--temperatures", type=float, nargs="+", default=[1.0, 1.2],
                   help="sampling temperatures to measure (default 1.0 1.2)")
    p.add_argument("--tasks", type=int, default=100, help="held-out tasks 0..N-1 (default 100)")
    p.add_argument("--group-size", type=int, default=4, help="episodes per task (default 4)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--json", metavar="FILE", default=None, help="also write the figures to FILE as JSON")
    p.add_argument("--no-progress", action="store_true", help="no progress bar over the episodes")
    args = p.parse_args(argv)
    from spear_train.training.run_config import ENV_IDS

    if args.env not in ENV_IDS:
        p.error(f"--env must be one of {', '.join(ENV_IDS)}, got {args.env!r}")
    if any(t < 0 for t in args.temperatures):
        p.error(f"--temperatures must be >= 0, got {args.temperatures}")
    if args.json and not Path(args.json).resolve().parent.is_dir():  # refused before minutes of measuring
        p.error(f"--json: folder {Path(args.json).resolve().parent} does not exist")
    for name in ("tasks", "group_size", "threads"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    return args


def main(argv=None) -> dict[float, dict]:
    """Print one line per temperature and return ``{temperature: sampled figure}``."""
    args = parse_args(argv)
    import torch

    from spear_train.models.builtin import tiny_model_for_env
    from spear_train.policy import load_policy
    from spear_train.sft.evaluate import eval_config_for, sampled_figure
    from spear_train.training.run_config import ENV_IDS

    torch.set_num_threads(args.threads)
    env_id = ENV_IDS[args.env]
    model = args.model or tiny_model_for_env(env_id)
    policy = load_policy(model, device="cpu")
    figures = {}
    for t in args.temperatures:
        start = time.perf_counter()
        cfg = eval_config_for(env_id, args.tasks, temperature=t, group_size=args.group_size)
        f = figures[t] = sampled_figure(policy, env_id, cfg, progress=not args.no_progress)
        print(f"{args.env} {model} T={t:g}: success {100 * f['success']:.2f}% ± {100 * f['success_se']:.2f}, "
              f"pass@{args.group_size} {100 * f['pass_at_k']:.2f}%, mixed groups {100 * f['mixed_group_rate']:.2f}%, "
              f"replies rejected {100 * f['format_invalid_rate']:.2f}% ({args.tasks} tasks x {args.group_size}; "
              f"{time.perf_counter() - start:.0f} s)", flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"env": env_id, "model": model, "tasks": args.tasks, "group_size": args.group_size,
                       "figures": {str(t): f for t, f in figures.items()}}, fh, indent=2, sort_keys=True)
    return figures


if __name__ == "__main__":
    main()
