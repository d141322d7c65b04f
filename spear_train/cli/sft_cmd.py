"""``spear-bench sft``: supervised fine-tuning on expert episodes, then a held-out evaluation."""

from __future__ import annotations

import argparse
from pathlib import Path

ENV_ALIASES = {"alfworld": "spear/ALFWorld-v0", "webshop": "spear/WebShop-v0", "math": "spear/MathTool-v0"}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sft",
        help="train a policy by SFT on expert episodes (builds the tiny built-in policy by default)",
        description="Play the env's expert on generated training tasks, train a policy on one example per "
        "agent turn (loss on the reply tokens only), checkpoint periodically, and evaluate on the held-out "
        "tasks `spear-bench run`'s laptop evaluation plays, with its harness and decoding (greedy, run's T=0.4, "
        "and groups of 4 at T=1.0 with pass@4 and mixed groups; docs/models.md, 'Evaluation'). Without "
        "--model this builds a game-trained tokenizer and a ~1M-parameter model with the recipe the "
        "shipped spear-tiny-* checkpoints were trained with.",
    )
    p.add_argument("--env", required=True, help="alfworld, webshop, math, or a full env id")
    p.add_argument("--model", default=None, metavar="NAME|PATH",
                   help="fine-tune this model (e.g. smollm2-135m or a folder) instead of the tiny one "
                   "(default: build the tiny one); with --eval-only the model to evaluate (default: the env's "
                   "shipped spear-tiny-* policy)")
    p.add_argument("--minutes", type=float, default=None,
                   help="training time budget (the learning rate anneals within it); default: the recipe's epochs")
    p.add_argument("--out", type=Path, default=None,
                   help="output folder (default: runs/sft-<env>); writes checkpoints/step_NNNNNN/ (as "
                   "run does), model/ and model/eval.json")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its last checkpoint (checkpoints/LATEST)")
    p.add_argument("--train-tasks", type=int, default=None,
                   help="override the recipe's number of training tasks (default: the recipe's)")
    p.add_argument("--epochs", type=float, default=None, help="override the recipe's epochs (default: the recipe's)")
    p.add_argument("--detour-rate", type=float, default=None, metavar="P",
                   help="probability that an expert turn is replaced by a random admissible action, kept as "
                        "context but never a target (docs/models.md, 'Detours in the expert data'; "
                        "default: the recipe's)")
    p.add_argument("--eval-tasks", type=int, default=100,
                   help="held-out tasks to evaluate on, reset seeds 0..N-1 of `spear-bench run`'s laptop "
                   "evaluation (0: skip; default: 100)")
    p.add_argument("--eval-only", action="store_true",
                   help="train nothing: evaluate --model (default: the env's shipped spear-tiny-* policy) on "
                   "--eval-tasks tasks and replace the 'evaluation' of its folder's eval.json (and its "
                   "checksum.sha256); how the shipped eval.json figures are measured")
    p.add_argument("--prompt-format", default="", choices=["window", "chat"],
                   help="the prompts the policy learns (and is evaluated) with: the env's own (default; window for "
                   "ALFWorld and WebShop, the paper's) or "
                   "chat (ALFWorld: one growing conversation, one training example per episode; docs/rollouts.md, "
                   "'Prompt formats'). With --eval-only: the format the model was trained with")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--checkpoint-minutes", type=float, default=2.0, help="minutes between checkpoints")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import dataclasses

    from spear_train.cli import CliError
    from spear_train.sft.recipe import default_recipe

    env_id = ENV_ALIASES.get(args.env, args.env)
    try:
        recipe = default_recipe(env_id, args.prompt_format)
    except KeyError as exc:
        raise CliError(f"{exc.args[0]} (aliases: {', '.join(ENV_ALIASES)})") from None
    overrides = {k: v for k, v in (("train_tasks", args.train_tasks), ("epochs", args.epochs)) if v is not None}
    for key, value in overrides.items():
        if value <= 0:
            raise CliError(f"--{key.replace('_', '-')} must be positive, got {value}")
    if args.detour_rate is not None:
        if not 0.0 <= args.detour_rate < 1.0:
            raise CliError(f"--detour-rate must be in [0, 1), got {args.detour_rate}")
        overrides["detour_rate"] = args.detour_rate
    recipe = dataclasses.replace(recipe, **overrides)
    if args.minutes is not None and args.minutes <= 0:
        raise CliError(f"--minutes must be positive, got {args.minutes}")
    if args.eval_tasks < 0:
        raise CliError(f"--eval-tasks must be >= 0, got {args.eval_tasks}")

    from spear_train.models.builtin import BuiltinModelError
    from spear_train.policy.loading import PolicyLoadError
    from spear_train.sft.data import expert_source
    from spear_train.sft.evaluate import eval_config_for
    from spear_train.sft.trainer import RunOptions, run_sft

    try:
        expert_source(env_id)
    except KeyError as exc:
        raise CliError(exc.args[0]) from None
    if args.eval_only:
        return _eval_only(args, env_id)
    out = args.out or Path("runs") / f"sft-{env_id.split('/')[-1].lower()}"
    opts = RunOptions(out=out, model=args.model, minutes=args.minutes, resume=args.resume,
                      checkpoint_minutes=args.checkpoint_minutes, progress=not args.no_progress,
                      threads=args.threads,
                      eval_config=eval_config_for(env_id, args.eval_tasks, **_format_settings(args))
                      if args.eval_tasks else None)
    try:
        result = run_sft(recipe, opts)
    except (FileExistsError, PolicyLoadError, BuiltinModelError, ValueError) as exc:
        raise CliError(str(exc)) from None
    print("\n".join(summary_lines(result, out)))
    return 0


def _format_settings(args: argparse.Namespace) -> dict:
    """The evaluation's run settings for ``--prompt-format`` (none for the default window format)."""
    return {"run_settings": {"prompt_format": args.prompt_format}} if args.prompt_format else {}


def _eval_only(args: argparse.Namespace, env_id: str) -> int:
    """``--eval-only``: measure a saved model folder again (its eval.json is rewritten in place)."""
    from spear_train.cli import CliError
    from spear_train.models.builtin import BuiltinModelError, resolve_builtin, tiny_model_for_env
    from spear_train.policy.loading import PolicyLoadError
    from spear_train.sft.evaluate import eval_config_for, reevaluate_folder

    if args.eval_tasks < 1:
        raise CliError(f"--eval-only needs --eval-tasks of at least 1, got {args.eval_tasks}")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    name = args.model or tiny_model_for_env(env_id, args.prompt_format)
    try:
        folder = Path(name) if Path(name).is_dir() else resolve_builtin(name)
        evaluation = reevaluate_folder(folder, env_id, eval_config_for(env_id, args.eval_tasks, **_format_settings(args)),
                                       progress=not args.no_progress)
    except (KeyError, PolicyLoadError, BuiltinModelError) as exc:
        raise CliError(f"cannot evaluate {name!r}: {exc}") from None
    print("\n".join(summary_lines({"evaluation": evaluation}, folder, name=name)))
    return 0


def summary_lines(result: dict, out: Path, name: str = "") -> list[str]:
    """A few lines for the terminal from the run's result (the full figures stay in ``eval.json``).

    ``out``: the run folder (the model is in ``out/model``), or with ``name`` (``--eval-only``) the
    evaluated model folder itself."""
    t = result.get("training")
    lines = [] if t is None else [
        f"trained {t.get('steps', '?')} steps ({t.get('epochs', 0):.2f} epochs) in {t.get('train_wall_s', 0):.0f} s "
        f"({t.get('tokens_per_s', 0):.0f} tokens/s, {t.get('parameters', 0):,} parameters)"]
    model_dir = out if name else out / "model"
    who = name or str(model_dir)
    evaluation = result.get("evaluation") or {}
    figures = [(figure, v) for figure, v in evaluation.items() if isinstance(v, dict) and "success" in v]
    for figure, v in figures:
        extra = f", inadmissible actions {v['inadmissible_rate']:.1%}" if "inadmissible_rate" in v else ""
        lines.append(f"{who} held-out {figure.replace('_', ' ')}: success {v['success']:.1%} over "
                     f"{v.get('episodes', '?')} episodes{extra}")
    if figures:
        lines.append(f"every figure: {model_dir / 'eval.json'}")
    if not name:
        lines.append(f"model saved to {model_dir}")
    return lines
